// Whole-cluster scenarios on the deterministic simulator, in the spirit of
// the MIT 6.824 Paxos lab tests, plus the random seed sweep.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "protocol/acceptor.hpp"
#include "protocol/proposer.hpp"
#include "test/helpers.hpp"
#include "test/sim/cluster.hpp"
#include "test/sim/seed_guard.hpp"

using namespace paxoskv;
using namespace paxoskv::sim;
using namespace paxoskv::test;

namespace {

options opts_for(size_t nodes, uint64_t seed = 42) {
  options o;
  o.nodes = nodes;
  o.seed = seed;
  return o;
}

std::vector<client_op> sets(const std::string& prefix, size_t n) {
  std::vector<client_op> ops;
  for (size_t i = 0; i < n; ++i)
    ops.push_back({op_code::set, prefix + std::to_string(i % 3),
                   prefix + "-" + std::to_string(i)});
  return ops;
}

bool learners_agree(const cluster& c) {
  auto prefix = c.chosen_prefix();
  for (auto n : c.node_ids())
    if (!c.is_up(n) || c.learner_of(n).next_slot() != prefix)
      return false;
  return true;
}

/// True once a leader other than `old` leads with a newer ballot.
bool newer_leader(const cluster& c, node_id old) {
  auto l = c.leader();
  return l != 0 && l != old
         && c.proposer_of(l).current_ballot()
              > c.proposer_of(old).current_ballot();
}

/// Every node but `n`.
std::vector<node_id> all_but(const cluster& c, node_id n) {
  auto ids = c.node_ids();
  ids.erase(std::find(ids.begin(), ids.end(), n));
  return ids;
}

/// The last reply a client got was a GET that read `value`.
void check_last_read(const cluster& c, const std::string& value) {
  auto& last = c.acks().back();
  CHECK(last.cmd.op == op_code::get);
  CHECK(last.result == command_result{result_kind::value, value, 0});
}

/// Runs until clients are done and all learners converged; then the final
/// checks. Fails the test with the violation if there is one.
void finish(cluster& c, uint64_t max_ticks = 3000) {
  bool ok = c.run_until([&] { return c.clients_done() && learners_agree(c); },
                        max_ticks);
  c.check_final();
  INFO(c.violation().value_or(""));
  CHECK_FALSE(c.violation());
  CHECK(ok);
}

} // namespace

TEST_CASE("basic agreement: every learner applies the same commands") {
  for (size_t nodes : {3u, 5u}) {
    CAPTURE(nodes);
    cluster c(opts_for(nodes));
    c.add_client(sets("a", 10));
    c.add_client(sets("b", 10));
    finish(c);
    CHECK(c.acks().size() == 20);
    auto data = data_of(c.learner_of(1));
    for (auto n : c.node_ids())
      CHECK(data_of(c.learner_of(n)) == data);
  }
}

TEST_CASE("deaf minority: a node cut off learns nothing, then catches up") {
  cluster c(opts_for(5));
  c.partition({{1, 2, 3, 4}, {5}});
  c.add_client(sets("a", 15));
  // Clients reach every node; node 5 cannot reach the others.
  bool done = c.run_until([&] { return c.clients_done(); }, 5000);
  REQUIRE_FALSE(c.violation());
  REQUIRE(done);
  // Node 5 took no part: its learner applied nothing and its acceptor
  // accepted nothing.
  CHECK(c.learner_of(5).next_slot() == 0);
  CHECK(c.acceptor_of(5).entries().empty());
  CHECK(c.chosen_prefix() > 0);
  c.heal_network();
  finish(c);
  CHECK(data_of(c.learner_of(5)) == data_of(c.learner_of(1)));
}

TEST_CASE("an old proposer adopts the value chosen before it") {
  // Acceptors 1 and 2 accept "first" at slot 0 under ballot (1,1): it is
  // chosen. Acceptor 3 missed it. Proposer 3 then leads with a newer
  // ballot and hears only from acceptors 2 and 3.
  acceptor_config acfg;
  std::vector<acceptor> acceptors;
  for (node_id n = 1; n <= 3; ++n) {
    acfg.self = n;
    acceptors.emplace_back(acfg, acceptor_state{});
  }
  auto first = batch_of(set_cmd(1, 1, "k", "first"));
  for (int i : {0, 1}) {
    acceptors[i].on_prepare(prepare{ballot{1, 1}, 0, 1}, 0);
    acceptors[i].on_accept(accept{ballot{1, 1}, 0, first, 0, 1});
  }
  proposer_config pcfg;
  pcfg.self = 3;
  pcfg.acceptors = {1, 2, 3};
  pcfg.learners = {1, 2, 3};
  proposer late(pcfg, 0);
  auto start = late.on_leader_change(leader_change{3});
  late.on_client_command(
    client_command{set_cmd(2, 1, "k", "second"), 3, 0});
  std::vector<envelope> accepts;
  for (auto& [to, p] : of_type<prepare>(start.after_write)) {
    if (to == 1)
      continue; // Acceptor 1 is unreachable.
    auto reply = acceptors[to - 1].on_prepare(p, 0);
    for (auto& [_, pr] : of_type<promise>(reply.after_write)) {
      auto step = late.on_promise(pr);
      accepts.insert(accepts.end(), step.send_now.begin(), step.send_now.end());
    }
  }
  REQUIRE(late.phase() == proposer_phase::leading);
  std::map<slot_t, log_value> proposed;
  for (auto& [to, a] : of_type<accept>(accepts))
    proposed[a.slot] = a.value;
  REQUIRE(proposed.count(0) == 1);
  CHECK(proposed[0] == first);
  // The client's command waits for the re-proposal in flight (adaptive
  // batching), and follows once acceptors 2 and 3 accepted it.
  CHECK(proposed.count(1) == 0);
  std::vector<envelope> later;
  for (auto& [to, a] : of_type<accept>(accepts)) {
    if (to == 1)
      continue;
    auto reply = acceptors[to - 1].on_accept(a);
    for (auto& [_, ac] : of_type<accepted>(reply.after_write)) {
      auto step = late.on_accepted(ac);
      later.insert(later.end(), step.send_now.begin(), step.send_now.end());
    }
  }
  for (auto& [to, a] : of_type<accept>(later))
    proposed[a.slot] = a.value;
  REQUIRE(proposed.count(1) == 1);
  CHECK(proposed[1].commands.at(0).args.at(1) == "second");
}

TEST_CASE("an old proposer adopts the chosen value in a whole cluster") {
  cluster c(opts_for(3));
  c.add_client(sets("a", 5));
  REQUIRE(c.run_until([&] { return c.clients_done(); }, 2000));
  auto leader = c.leader();
  REQUIRE(leader != 0);
  auto before = c.chosen_log();
  // Kill the leader; another node leads, re-learns the log through phase
  // 1 and must keep every chosen value.
  c.crash(leader);
  c.add_client(sets("b", 5));
  REQUIRE(c.run_until([&] { return c.clients_done(); }, 3000));
  for (auto& [slot, v] : before)
    CHECK(c.chosen_log().at(slot) == v);
  c.restart(leader);
  finish(c);
}

TEST_CASE("many concurrent commands from many clients") {
  auto o = opts_for(5);
  o.proposer.window_slots_max = 4;
  cluster c(o);
  for (int i = 0; i < 8; ++i)
    c.add_client(random_ops(c.rng(), 40, i + 1));
  finish(c, 10000);
  CHECK(c.acks().size() == 8 * 40);
}

TEST_CASE("an unreliable network loses, duplicates and reorders messages "
          "without breaking agreement") {
  for (uint64_t seed : {1u, 2u, 3u}) {
    CAPTURE(seed);
    cluster c(opts_for(seed % 2 ? 3 : 5, seed));
    c.set_faults({0.25, 0.1, 4, 0.5});
    for (int i = 0; i < 3; ++i)
      c.add_client(random_ops(c.rng(), 20, i + 1));
    c.run_until([&] { return c.clients_done(); }, 20000);
    c.set_faults({});
    finish(c);
  }
}

TEST_CASE("partitions: progress only in the majority, agreement after heal") {
  cluster c(opts_for(5));
  REQUIRE(c.run_until([&] { return c.leader() != 0; }, 500));
  c.partition({{1, 2, 3}, {4, 5}});
  auto minority_before = std::max(c.learner_of(4).next_slot(),
                                  c.learner_of(5).next_slot());
  c.add_client(sets("a", 10));
  REQUIRE(c.run_until([&] { return c.clients_done(); }, 5000));
  // The majority side chose and applied the commands; the minority side
  // learned nothing new (it may have been elected there, but chose nothing).
  CHECK(c.learner_of(1).next_slot() >= 10);
  CHECK(c.learner_of(4).next_slot() == minority_before);
  CHECK(c.learner_of(5).next_slot() == minority_before);
  // Now no side has a majority: nothing completes.
  c.partition({{1, 2}, {3, 4}, {5}});
  auto chosen_before = c.chosen_log().size();
  c.add_client(sets("b", 3));
  auto acks_before = c.acks().size();
  c.run_until([] { return false; }, 300);
  CHECK(c.chosen_log().size() == chosen_before);
  // Nothing succeeds. Commands the leader never proposed (they waited for
  // a batch in flight) may be refused truthfully as not applied.
  for (auto i = acks_before; i < c.acks().size(); ++i) {
    auto& r = c.acks()[i].result;
    INFO(r.text);
    CHECK(r.kind == result_kind::not_applied);
  }
  c.heal_network();
  finish(c);
}

TEST_CASE("long random repartitioning keeps agreement") {
  cluster c(opts_for(5, 7));
  c.set_faults({0.05, 0.02, 2, 0.3});
  for (int i = 0; i < 4; ++i)
    c.add_client(random_ops(c.rng(), 50, i + 1));
  auto ids = c.node_ids();
  for (int round = 0; round < 60 && !c.violation(); ++round) {
    std::vector<std::vector<node_id>> groups(2);
    for (auto n : ids)
      groups[c.rng()() % 2].push_back(n);
    c.partition(groups);
    c.run_until([] { return false; }, 50);
  }
  REQUIRE_FALSE(c.violation());
  c.heal_network();
  c.set_faults({});
  finish(c, 10000);
}

TEST_CASE("crash and restart keep only durable state and lose nothing "
          "acknowledged") {
  cluster c(opts_for(3, 9));
  c.set_faults({0, 0, 1, 0.6});
  c.add_client(random_ops(c.rng(), 60, 1));
  c.add_client(random_ops(c.rng(), 60, 2));
  for (int round = 0; round < 30 && !c.violation(); ++round) {
    auto victim = c.node_ids()[c.rng()() % 3];
    c.crash(victim);
    c.run_until([] { return false; }, 30);
    c.restart(victim);
    c.run_until([] { return false; }, 30);
  }
  REQUIRE_FALSE(c.violation());
  finish(c, 10000);
}

TEST_CASE("a single broken link between the leader and a follower does not "
          "make the cluster flap") {
  cluster c(opts_for(3));
  REQUIRE(c.run_until([&] { return c.leader() == 3; }, 500));
  c.add_client(sets("a", 5));
  REQUIRE(c.run_until([&] { return c.clients_done(); }, 2000));
  auto ballot_before = c.proposer_of(3).current_ballot();
  c.cut_link(3, 2);
  c.reset_counts();
  c.add_client(sets("b", 20));
  REQUIRE(c.run_until([&] { return c.clients_done(); }, 5000));
  c.run_until([] { return false; }, 500);
  CHECK(c.leader() == 3);
  CHECK(c.proposer_of(3).current_ballot() == ballot_before);
  CHECK(c.sent().count("prepare") == 0);
  CHECK(c.elector_of(2).leader() == 3);
  c.cut_link(3, 2, false);
  finish(c);
}

TEST_CASE("a node reachable through one link only does not stall the "
          "cluster") {
  cluster c(opts_for(5, 3));
  for (node_id n : {2, 3, 4})
    c.cut_link(5, n);
  c.add_client(sets("a", 20));
  // Clients' commands reaching node 5 are forwarded through the leader it
  // learns of; the rest of the cluster is fully connected and must finish.
  REQUIRE(c.run_until([&] { return c.clients_done(); }, 5000));
  CHECK(c.leader() == 4);
  CHECK(c.elector_of(5).leader() == 4);
  c.heal_network();
  finish(c);
}

TEST_CASE("an isolated node does not keep starting elections") {
  cluster c(opts_for(3, 5));
  REQUIRE(c.run_until([&] { return c.leader() == 3; }, 500));
  c.partition({{1, 2}, {3}});
  auto round_before = c.proposer_of(3).current_ballot().round;
  c.run_until([] { return false; }, 1000);
  CHECK(c.elector_of(3).leader() == 0);
  CHECK(c.proposer_of(3).phase() == proposer_phase::follower);
  CHECK(c.proposer_of(3).current_ballot().round <= round_before + 1);
  CHECK(c.leader() == 2);
  c.heal_network();
  c.add_client(sets("a", 5));
  finish(c);
}

TEST_CASE("with a stable leader each batch costs one accept and one reply per "
          "acceptor and no prepare") {
  for (size_t nodes : {3u, 5u}) {
    CAPTURE(nodes);
    auto o = opts_for(nodes);
    o.proposer.window_slots_max = 1;
    cluster c(o);
    REQUIRE(c.run_until([&] { return c.leader() != 0; }, 500));
    c.add_client(sets("warm", 1));
    REQUIRE(c.run_until([&] { return c.clients_done(); }, 1000));
    // The first leader's one change, recording the members' incarnations,
    // in force before counting.
    REQUIRE(c.run_until(
      [&] {
        auto& h = c.chosen_configs();
        return h.epoch() >= 2
               && !h.pending(c.proposer_of(c.leader()).first_unchosen());
      },
      2000));
    auto leader = c.leader();
    auto slots_before = c.proposer_of(leader).first_unchosen();
    c.reset_counts();
    // Steady load: six clients keep the leader's queue non-empty.
    for (int i = 0; i < 6; ++i)
      c.add_client(sets("c" + std::to_string(i), 30));
    REQUIRE(c.run_until([&] { return c.clients_done(); }, 5000));
    auto batches = c.proposer_of(leader).first_unchosen() - slots_before;
    CHECK(c.leader() == leader);
    CHECK(batches > 0);
    CHECK(c.sent().count("prepare") == 0);
    CHECK(c.sent().count("promise") == 0);
    CHECK(c.sent().at("accept") == batches * nodes);
    CHECK(c.sent().at("accepted") == batches * nodes);
    // Successes only catch acceptors up after idle moments: rare.
    auto successes = c.sent().count("success") ? c.sent().at("success") : 0;
    CHECK(successes * 4 <= batches * nodes);
    MESSAGE("batches " << batches << ", keepalive/catch-up successes "
                       << (c.sent().count("success") ? c.sent().at("success")
                                                     : 0));
  }
}

TEST_CASE("a leader paused while another is elected serves no stale read "
          "when it wakes up cut off") {
  for (auto level : {read_level::leader, read_level::lease}) {
    CAPTURE(to_string(level));
    auto o = opts_for(3, 7);
    // The node answers late: the read must be answered by the paused node,
    // which waits for a leader rather than failing the read fast.
    o.client_timeout_ticks = 2000;
    o.learner.read_refuse_after_ticks = 2000;
    if (level == read_level::lease)
      enable_leases(o, 300);
    cluster c(o);
    REQUIRE(c.run_until([&] { return c.leader() != 0; }, 1000));
    auto old = c.leader();
    c.add_client({{op_code::set, "k", "v1", read_level::log, old}});
    REQUIRE(c.run_until([&] { return c.clients_done(); }, 1000));
    if (level == read_level::lease) {
      // The old leader holds a lease when it is paused.
      REQUIRE(c.run_until(
        [&] { return c.proposer_of(old).lease_until() > 0; }, 1000));
    }
    c.pause(old, 600);
    REQUIRE(c.run_until([&] { return newer_leader(c, old); }, 590));
    auto next = c.leader();
    c.add_client({{op_code::set, "k", "v2", read_level::log, next}});
    REQUIRE(c.run_until([&] { return c.clients_done(); }, 590));
    REQUIRE(c.is_paused(old));
    // Invoked after v2 was acknowledged, at the paused old leader, which
    // wakes up cut off from the others: it learns nothing new before it
    // handles the read, and its learner still holds v1.
    c.add_client({{op_code::get, "k", {}, level, old}});
    c.partition({{old}, all_but(c, old)});
    REQUIRE(c.run_until([&] { return !c.is_paused(old); }, 600));
    c.run_until([] { return false; }, 100);
    c.heal_network();
    finish(c, 5000);
    check_last_read(c, "v2");
  }
}

TEST_CASE("no new leader writes while an old leader's lease runs") {
  // The old leader holds a long lease, is paused and cut off at once: its
  // clock keeps running, and it wakes up believing its lease holds. The
  // acceptors it leased must refuse a new leader until the lease ran out,
  // or the new leader's write would be acknowledged before the old leader
  // answers a lease read from its old state.
  auto o = opts_for(3, 11);
  // The read at the cut-off old leader waits for a leader, not failing fast.
  o.learner.read_refuse_after_ticks = 2000;
  enable_leases(o, 1000);
  cluster c(o);
  REQUIRE(c.run_until([&] { return c.leader() != 0; }, 1000));
  auto old = c.leader();
  c.add_client({{op_code::set, "k", "v1", read_level::log, old}});
  REQUIRE(c.run_until([&] { return c.clients_done(); }, 1000));
  // Renewed every 8 ticks: at least 82 of its 90 ticks are left.
  REQUIRE(c.run_until([&] { return c.proposer_of(old).lease_until() > 0; },
                      1000));
  c.pause(old, 60);
  c.partition({{old}, all_but(c, old)});
  REQUIRE(c.run_until([&] { return newer_leader(c, old); }, 1000));
  c.add_client({{op_code::set, "k", "v2", read_level::log, c.leader()}});
  REQUIRE(c.run_until([&] { return c.clients_done(); }, 1000));
  c.add_client({{op_code::get, "k", {}, read_level::lease, old}});
  c.run_until([] { return false; }, 200);
  c.heal_network();
  finish(c, 5000);
  check_last_read(c, "v2");
}

TEST_CASE("random seeds keep every invariant") {
  // ctest runs this in shards (PAXOSKV_SIM_FIRST, PAXOSKV_SIM_COUNT).
  uint64_t first = 0, count = 200;
  if (auto* s = std::getenv("PAXOSKV_SIM_FIRST"))
    first = std::strtoull(s, nullptr, 10);
  if (auto* s = std::getenv("PAXOSKV_SIM_COUNT"))
    count = std::strtoull(s, nullptr, 10);
  install_seed_reporter();
  uint64_t failed = 0;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    set_current_seed(seed);
    auto r = run_seed(seed);
    if (!r.ok) {
      ++failed;
      FAIL_CHECK("seed " << seed << ": " << r.violation
                         << "\n  replay: build/test/paxoskv-sim --seed "
                         << seed << " --verbose");
    }
  }
  MESSAGE("seeds " << first << ".." << first + count - 1 << ": "
                   << count - failed << " passed, " << failed << " failed");
}

TEST_CASE("with no leader to be had commands and reads fail fast as not applied, "
          "and the connection carries on in order once a majority is back") {
  auto o = opts_for(3, 5);
  o.client_timeout_ticks = 1500;
  cluster c(o);
  REQUIRE(c.run_until([&] { return c.leader() != 0; }, 1000));
  auto keep = c.leader() == 1 ? 2u : 1u;
  for (auto n : all_but(c, keep))
    c.crash(n);
  // Let the survivor see that it is alone and names no leader.
  c.run_until([] { return false; }, 100);
  std::vector<client_op> ops;
  for (int i = 0; i < 4; ++i)
    ops.push_back({op_code::set, "k", "v" + std::to_string(i),
                   read_level::log, keep});
  ops.push_back({op_code::get, "k", {}, read_level::leader, keep});
  c.add_client(ops, 5);
  auto start = c.now();
  REQUIRE(c.run_until([&] { return c.clients_done(); }, 1000));
  CHECK(c.now() - start < 200); // Well before the 1,500-tick timeout.
  for (auto& a : c.acks()) {
    CHECK(a.result.kind == result_kind::not_applied);
    CHECK(a.result.text == "no leader known");
  }
  for (auto n : all_but(c, keep))
    c.restart(n);
  c.add_client({{op_code::set, "k", "after", read_level::log, keep},
                {op_code::get, "k", {}, read_level::leader, keep}},
               2);
  finish(c, 5000);
  check_last_read(c, "after");
}
