// failover-bench: time from SIGKILL of the leader to the first command
// completed after it, on a 3-process loopback cluster.
//
//   failover-bench [--heartbeat-ms T]... [--runs N] [--history SETS]
//                  [--out FILE]
//
// For each T (default 50 and 200) it runs N times (default 5): start three
// nodes, wait for a leader, write a history of SETS SETs (default 0, over
// 10,000 keys, through redis-cli --pipe to a follower), complete one SET
// through a follower, SIGKILL the leader, then send SETs through that
// follower until one completes; then restart the killed node and time how
// long until it answers GET with the latest value (process start, state
// load and catch-up included). A client
// inside this process talks to the follower's learner over the middleman,
// so no process start-up is counted. Prints a Markdown table (median, min,
// max); --out appends it to FILE.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/type_ids.hpp"
#include "test/e2e/harness.hpp"

using namespace paxoskv;
using namespace paxoskv::e2e;
using clock_type = std::chrono::steady_clock;

namespace {

struct bench_config : caf::actor_system_config {
  bench_config() {
    load<caf::io::middleman>();
    add_message_types<caf::id_block::paxoskv>();
  }
};

/// Sends one SET to `learner`; true if it completed.
bool set_once(caf::scoped_actor& self, const learner_actor& learner,
              uint64_t client, uint64_t seq) {
  bool ok = false;
  self
    ->request(learner, std::chrono::seconds(5),
              client_request{command{client, seq, op_code::set,
                                     {"failover", std::to_string(seq)}}})
    .receive([&](client_reply& r) { ok = r.result.kind == result_kind::ok; },
             [&](caf::error&) {});
  return ok;
}

/// One run: milliseconds from the kill to the first completed SET, and
/// from the killed node's restart to its first answer with the latest
/// value (-1: did not happen).
std::pair<double, double> one_run(caf::actor_system& sys,
                                  uint32_t heartbeat_ms, uint64_t history) {
  const std::pair<double, double> failed{-1, -1};
  cluster c({{1}, {2}, {3}}, heartbeat_ms, {}, 10 * heartbeat_ms);
  c.start_all();
  uint32_t leader = 0;
  if (!wait_for([&] { return (leader = c.leader()) != 0; }, ms{20000}, ms{20}))
    return failed;
  auto follower = leader == 1 ? 2u : 1u;
  if (history > 0) {
    test::temp_dir tmp;
    auto file = tmp.path() + "/history.txt";
    {
      std::ofstream f(file);
      for (uint64_t i = 0; i < history; ++i)
        f << "SET key:" << i % 10000 << " value-" << i << "\r\n";
    }
    auto r = run_program(
      "/bin/sh",
      {"-c", "redis-cli -p " + std::to_string(c.client_port(follower))
               + " --pipe < " + file},
      ms{3600000});
    if (r.out.find("errors: 0") == std::string::npos) {
      std::cerr << "history failed: " << r.out << r.err << "\n";
      return failed;
    }
    if ((leader = c.leader()) == 0)
      return failed;
    follower = leader == 1 ? 2u : 1u;
  }
  auto addr = c.address(follower);
  auto colon = addr.rfind(':');
  auto dir = sys.middleman().remote_actor(
    addr.substr(0, colon), static_cast<uint16_t>(std::stoi(addr.substr(colon + 1))));
  if (!dir)
    return failed;
  caf::scoped_actor self{sys};
  learner_actor learner;
  self->request(*dir, std::chrono::seconds(5), lookup_atom_v, node_id{0})
    .receive([&](role_handles& h) { learner = h.learner; },
             [&](caf::error&) {});
  if (!learner)
    return failed;
  uint64_t client = 1000 + heartbeat_ms, seq = 1;
  if (!set_once(self, learner, client, seq++))
    return failed;
  c.kill(leader);
  auto t0 = clock_type::now();
  auto deadline = t0 + std::chrono::seconds(30);
  double failover = -1;
  while (failover < 0 && clock_type::now() < deadline)
    if (set_once(self, learner, client, seq++))
      failover = std::chrono::duration<double, std::milli>(clock_type::now()
                                                           - t0)
                   .count();
  if (failover < 0)
    return failed;
  // The killed node restarts: how long until it answers with the latest
  // value (a leader read, so it must have caught up).
  auto latest = std::to_string(seq - 1) + "\n";
  auto t1 = clock_type::now();
  c.start(leader);
  auto port = std::to_string(c.client_port(leader));
  bool back = wait_for(
    [&] {
      return run_program("/usr/bin/redis-cli", {"-p", port, "get", "failover"},
                         ms{5000})
               .out
             == latest;
    },
    ms{120000}, ms{10});
  double restart
    = back ? std::chrono::duration<double, std::milli>(clock_type::now() - t1)
               .count()
           : -1;
  return {failover, restart};
}

} // namespace

int main(int argc, char** argv) {
  std::vector<uint32_t> heartbeats;
  int runs = 5;
  uint64_t history = 0;
  std::string out;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--heartbeat-ms" && i + 1 < argc)
      heartbeats.push_back(static_cast<uint32_t>(std::stoul(argv[++i])));
    else if (a == "--runs" && i + 1 < argc)
      runs = std::max(1, std::stoi(argv[++i]));
    else if (a == "--history" && i + 1 < argc)
      history = std::stoull(argv[++i]);
    else if (a == "--out" && i + 1 < argc)
      out = argv[++i];
    else {
      std::cerr << "usage: failover-bench [--heartbeat-ms T]... [--runs N] "
                   "[--history SETS] [--out FILE]\n";
      return 2;
    }
  }
  if (heartbeats.empty())
    heartbeats = {50, 200};
  bench_config cfg;
  caf::actor_system sys{cfg};
  auto now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  std::ostringstream md;
  md << "### failover-bench, " << date << "\n\n"
     << "Conditions: 3 paxoskv-node processes on loopback, "
     << std::thread::hardware_concurrency()
     << " cores, LMDB with fsync, election timeout 2T; time from SIGKILL of "
        "the leader to the first SET completed through a follower; "
     << history << " SETs written before the kill; "
     << runs << " runs per T.\n\n"
     << "| T (ms) | failover median (ms) | min (ms) | max (ms) | runs (ms) "
        "| restart to latest value, runs (ms) |\n"
     << "|---:|---:|---:|---:|---|---|\n";
  for (auto t : heartbeats) {
    std::vector<double> times;
    std::string all, restarts;
    for (int r = 0; r < runs; ++r) {
      auto [x, back] = one_run(sys, t, history);
      all += (all.empty() ? "" : ", ") + std::to_string(static_cast<int>(x));
      restarts += (restarts.empty() ? "" : ", ")
                  + std::to_string(static_cast<int>(back));
      if (x >= 0)
        times.push_back(x);
      std::cerr << "T=" << t << " run " << r + 1 << ": failover " << x
                << " ms, restart " << back << " ms\n";
    }
    std::sort(times.begin(), times.end());
    char row[512];
    if (times.empty())
      std::snprintf(row, sizeof(row), "| %u | failed | | | %s | %s |\n", t,
                    all.c_str(), restarts.c_str());
    else
      std::snprintf(row, sizeof(row), "| %u | %.0f | %.0f | %.0f | %s | %s |\n",
                    t, times[times.size() / 2], times.front(), times.back(),
                    all.c_str(), restarts.c_str());
    md << row;
  }
  md << "\n";
  std::cout << md.str();
  if (!out.empty())
    std::ofstream(out, std::ios::app) << md.str();
  return 0;
}
