// Linearizability under faults: concurrent Redis clients record every
// operation while nodes are SIGKILLed and restarted, and SIGSTOPped and
// resumed; the history must then be linearizable (test/lin/checker).
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <atomic>
#include <csignal>
#include <mutex>
#include <netinet/in.h>
#include <poll.h>
#include <random>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "protocol/resp.hpp"
#include "test/e2e/harness.hpp"
#include "test/e2e/resp_client.hpp"
#include "test/lin/checker.hpp"

using namespace paxoskv;
using namespace paxoskv::e2e;

namespace {

uint64_t now_us() {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::microseconds>(
      clock_type::now().time_since_epoch())
      .count());
}

} // namespace

TEST_CASE("histories under kills, restarts, pauses and resumes are "
          "linearizable") {
  cluster c({{1}, {2}, {3}}, 50, {}, 1500);
  c.start_all();
  REQUIRE(wait_for([&] { return c.leader() != 0; }, ms{15000}, ms{50}));
  std::vector<lin::operation> history;
  std::mutex history_mutex;
  std::atomic<bool> stop{false};
  const int clients = 6;
  const char* levels[] = {"leader", "lease", "log"};
  const auto run_for = std::chrono::seconds(8);
  std::vector<std::thread> threads;
  for (int id = 0; id < clients; ++id)
    threads.emplace_back([&, id] {
      std::mt19937_64 rng(1000 + id);
      resp_client conn;
      auto nodes = c.nodes();
      uint64_t n = 0;
      while (!stop) {
        if (!conn.connected()) {
          if (!conn.connect(c.client_port(nodes[rng() % nodes.size()]))) {
            std::this_thread::sleep_for(ms{20});
            continue;
          }
          // Each client reads at its own level, on every connection.
          std::string head;
          std::optional<std::string> bulk;
          if (!conn.call({"READLEVEL", levels[id % 3]}, head, bulk, ms{5000})
              || head != "+OK") {
            conn.disconnect();
            continue;
          }
        }
        lin::operation op;
        op.client = static_cast<uint32_t>(id);
        op.key = "k" + std::to_string(rng() % 3);
        op.write = rng() % 2 == 0;
        std::vector<std::string> req{op.write ? "SET" : "GET", op.key};
        if (op.write) {
          op.value = "c" + std::to_string(id) + "-" + std::to_string(++n);
          req.push_back(*op.value);
        }
        std::string head;
        std::optional<std::string> bulk;
        op.invoke = now_us();
        bool answered = conn.call(req, head, bulk, ms{5000});
        op.complete = now_us();
        if (!answered) {
          // Lost connection or no answer: the command may still apply.
          op.result = lin::outcome::unknown;
          conn.disconnect();
        } else if (head == "+OK" || head[0] == '$') {
          op.result = lin::outcome::ok;
          if (!op.write)
            op.value = bulk;
        } else if (head.rfind("-TRYAGAIN", 0) == 0) {
          op.result = lin::outcome::failed;
        } else {
          op.result = lin::outcome::unknown; // -TIMEOUT outcome unknown
        }
        std::lock_guard<std::mutex> guard(history_mutex);
        history.push_back(op);
      }
    });
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
  stop = true;
  for (auto& t : threads)
    t.join();
  // Healed: a final read of every key, after everything else.
  REQUIRE(wait_for([&] { return c.leader() != 0; }, ms{15000}, ms{50}));
  resp_client conn;
  for (int k = 0; k < 3; ++k) {
    auto key = "k" + std::to_string(k);
    lin::operation op;
    op.key = key;
    op.client = 99;
    bool done = wait_for(
      [&] {
        std::string head;
        std::optional<std::string> bulk;
        if (!conn.connected() && !conn.connect(c.client_port(1)))
          return false;
        op.invoke = now_us();
        if (!conn.call({"GET", key}, head, bulk, ms{5000})
            || (head[0] != '$')) {
          conn.disconnect();
          return false;
        }
        op.complete = now_us();
        op.value = bulk;
        return true;
      },
      ms{20000}, ms{50});
    REQUIRE(done);
    history.push_back(op);
  }
  size_t ok = 0, unknown = 0, failed = 0;
  for (auto& op : history)
    (op.result == lin::outcome::ok ? ok
     : op.result == lin::outcome::unknown ? unknown
                                          : failed)++;
  auto v = lin::check(history);
  MESSAGE(history.size() << " operations (" << ok << " ok, " << unknown
                         << " unknown, " << failed << " not applied), "
                         << kills << " kills, " << pauses << " pauses; "
                         << v.states << " search states");
  INFO(v.explanation);
  CHECK(v.linearizable);
  CHECK(ok > 100);
}
