// Linearizability under faults: concurrent Redis clients record every
// operation while nodes are SIGKILLed and restarted, and SIGSTOPped and
// resumed; the history must then be linearizable (test/lin/checker).
#include <doctest/doctest.h>

#include <csignal>
#include <random>
#include <thread>

#include "test/e2e/harness.hpp"
#include "test/e2e/load.hpp"
#include "test/e2e/resp_client.hpp"
#include "test/lin/checker.hpp"

using namespace paxoskv;
using namespace paxoskv::e2e;

TEST_CASE("histories under kills, restarts, pauses and resumes are "
          "linearizable") {
  cluster c({{1}, {2}, {3}}, 50, {}, 1500);
  c.start_all();
  REQUIRE(wait_for([&] { return c.leader() != 0; }, ms{15000}, ms{50}));
  const auto run_for = std::chrono::seconds(8);
  std::vector<uint16_t> ports;
  for (auto n : c.nodes())
    ports.push_back(c.client_port(n));
  recorded_load load(ports, 6, 3, 1000);
  // Faults: one node at a time is killed and restarted, or paused and
  // resumed; a majority stays up most of the time.
  std::mt19937_64 rng(77);
  int kills = 0, pauses = 0;
  auto end = clock_type::now() + run_for;
  while (clock_type::now() < end) {
    std::this_thread::sleep_for(ms{300 + rng() % 300});
    auto victim = c.nodes()[rng() % 3];
    if (rng() % 2 == 0) {
      c.kill(victim);
      ++kills;
      std::this_thread::sleep_for(ms{200 + rng() % 400});
      c.start(victim);
    } else {
      c.signal(victim, SIGSTOP);
      ++pauses;
      std::this_thread::sleep_for(ms{200 + rng() % 400});
      c.signal(victim, SIGCONT);
    }
  }
  load.stop();
  // Healed: a final read of every key, after everything else.
  REQUIRE(wait_for([&] { return c.leader() != 0; }, ms{15000}, ms{50}));
  REQUIRE(load.final_reads(c.client_port(1), ms{20000}));
  auto v = lin::check(load.history());
  MESSAGE(load.summary() << ", " << kills << " kills, " << pauses
                         << " pauses; " << v.states << " search states");
  INFO(v.explanation);
  CHECK(v.linearizable);
  CHECK(load.ok() > 100);
}
