#include <doctest/doctest.h>

#include "protocol/acceptor.hpp"
#include "test/helpers.hpp"

using namespace paxoskv;
using namespace paxoskv::test;

namespace {

acceptor make_acceptor(acceptor_state restored = {}, size_t chunk = 64) {
  acceptor_config cfg;
  cfg.self = 1;
  cfg.promise_entries_max = chunk;
  return acceptor(cfg, std::move(restored));
}

log_value val(const std::string& v) {
  return batch_of(set_cmd(9, 1, "k", v));
}

accept acc(ballot b, slot_t slot, const std::string& v, slot_t fu = 0) {
  return accept{b, slot, val(v), fu, b.node};
}

} // namespace

TEST_CASE("acceptor never accepts below its promise") {
  auto a = make_acceptor();
  a.on_prepare(prepare{ballot{5, 2}, 0, 2}, 0);
  auto step = a.on_accept(acc(ballot{4, 3}, 0, "old"));
  CHECK_FALSE(step.has_write());
  CHECK(a.entries().empty());
  auto replies = of_type<accepted>(step.send_now);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].second.promised == ballot{5, 2});
  CHECK(replies[0].second.promised > replies[0].second.b);
}

TEST_CASE("acceptor refuses a prepare below its promise with a nack") {
  auto a = make_acceptor();
  a.on_prepare(prepare{ballot{5, 2}, 0, 2}, 0);
  auto step = a.on_prepare(prepare{ballot{4, 3}, 0, 3}, 0);
  CHECK_FALSE(step.has_write());
  auto nacks = of_type<nack>(step.send_now);
  REQUIRE(nacks.size() == 1);
  CHECK(nacks[0].first == 3);
  CHECK(nacks[0].second.promised == ballot{5, 2});
  CHECK(a.promised() == ballot{5, 2});
}

TEST_CASE("promise and accepted replies leave only after the durable write") {
  auto a = make_acceptor();
  auto p = a.on_prepare(prepare{ballot{1, 2}, 0, 2}, 0);
  REQUIRE(p.has_write());
  CHECK(p.write->promised == ballot{1, 2});
  CHECK(of_type<promise>(p.send_now).empty());
  CHECK(of_type<promise>(p.after_write).size() == 1);
  auto s = a.on_accept(acc(ballot{1, 2}, 0, "v"));
  REQUIRE(s.has_write());
  REQUIRE(s.write->entries.size() == 1);
  CHECK(s.write->entries[0].accepted_ballot == ballot{1, 2});
  CHECK(of_type<accepted>(s.send_now).empty());
  CHECK(of_type<accepted>(s.after_write).size() == 1);
}

TEST_CASE("promise reports every accepted entry from from_slot on") {
  auto a = make_acceptor();
  a.on_accept(acc(ballot{1, 2}, 0, "a"));
  a.on_accept(acc(ballot{1, 2}, 3, "b"));
  a.on_accept(acc(ballot{1, 2}, 4, "c"));
  auto step = a.on_prepare(prepare{ballot{2, 3}, 3, 3}, 0);
  auto p = of_type<promise>(step.after_write);
  REQUIRE(p.size() == 1);
  REQUIRE(p[0].second.entries.size() == 2);
  CHECK(p[0].second.entries[0].slot == 3);
  CHECK(p[0].second.entries[1].slot == 4);
  CHECK(p[0].second.entries[1].value == val("c"));
  CHECK(p[0].second.no_more_accepted);
}

TEST_CASE("promise comes in bounded chunks, no_more_accepted on the last") {
  auto a = make_acceptor({}, 2);
  for (slot_t s = 0; s < 5; ++s)
    a.on_accept(acc(ballot{1, 2}, s, "v" + std::to_string(s)));
  auto first = of_type<promise>(
    a.on_prepare(prepare{ballot{2, 3}, 0, 3}, 0).after_write);
  REQUIRE(first.size() == 1);
  CHECK(first[0].second.entries.size() == 2);
  CHECK_FALSE(first[0].second.no_more_accepted);
  auto last = of_type<promise>(
    a.on_prepare(prepare{ballot{2, 3}, 4, 3}, 0).after_write);
  REQUIRE(last.size() == 1);
  CHECK(last[0].second.entries.size() == 1);
  CHECK(last[0].second.no_more_accepted);
}

TEST_CASE("chosen marking ignores slots accepted under another ballot") {
  auto a = make_acceptor();
  a.on_accept(acc(ballot{1, 2}, 0, "old-leader"));
  // A newer leader's accept with first_unchosen = 2 says slots 0 and 1 are
  // chosen, but slot 0 here holds a value from another ballot: it may not be
  // the chosen one, so it must stay unchosen.
  a.on_accept(acc(ballot{2, 3}, 1, "new", 2));
  CHECK_FALSE(a.entries().at(0).chosen);
  CHECK(a.first_unchosen() == 0);
}

TEST_CASE("slots below the leader's first_unchosen accepted under its ballot "
          "become chosen") {
  auto a = make_acceptor();
  a.on_accept(acc(ballot{2, 3}, 0, "a"));
  a.on_accept(acc(ballot{2, 3}, 1, "b"));
  auto step = a.on_accept(acc(ballot{2, 3}, 2, "c", 2));
  CHECK(a.entries().at(0).chosen);
  CHECK(a.entries().at(1).chosen);
  CHECK_FALSE(a.entries().at(2).chosen);
  CHECK(a.first_unchosen() == 2);
  auto replies = of_type<accepted>(step.after_write);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].second.first_unchosen == 2);
}

TEST_CASE("success marks slots chosen and reports the new first_unchosen") {
  auto a = make_acceptor();
  a.on_accept(acc(ballot{1, 2}, 0, "stale"));
  auto step = a.on_success(success{{{0, val("x")}, {1, val("y")}}, 3});
  CHECK(a.entries().at(0).chosen);
  CHECK(a.entries().at(0).value == val("x"));
  CHECK(a.first_unchosen() == 2);
  auto acks = of_type<success_ack>(step.after_write);
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].second.first_unchosen == 2);
}

TEST_CASE("a chosen slot never takes another value") {
  auto a = make_acceptor();
  a.on_success(success{{{0, val("chosen")}}, 3});
  auto step = a.on_accept(acc(ballot{9, 2}, 0, "other"));
  CHECK(a.entries().at(0).value == val("chosen"));
  CHECK(of_type<accepted>(step.after_write).empty());
  CHECK(of_type<accepted>(step.send_now).empty());
  CHECK(of_type<success_ack>(step.send_now).size() == 1);
}

TEST_CASE("an acceptor restarted from its durable state keeps its promise "
          "and what it accepted") {
  acceptor_state disk;
  auto a = make_acceptor();
  disk.apply(*a.on_prepare(prepare{ballot{4, 2}, 0, 2}, 0).write);
  disk.apply(*a.on_accept(acc(ballot{4, 2}, 0, "a")).write);
  disk.apply(*a.on_accept(acc(ballot{4, 2}, 1, "b", 1)).write);
  auto b = make_acceptor(disk);
  CHECK(b.promised() == ballot{4, 2});
  CHECK(b.entries().size() == 2);
  CHECK(b.entries().at(0).chosen);
  CHECK(b.first_unchosen() == 1);
  CHECK(of_type<nack>(b.on_prepare(prepare{ballot{3, 3}, 0, 3}, 0).send_now)
          .size()
        == 1);
}

TEST_CASE("a learner gets contiguous chosen values from an acceptor") {
  auto a = make_acceptor();
  a.on_success(success{{{0, val("a")}, {1, val("b")}}, 3});
  a.on_accept(acc(ballot{5, 3}, 2, "not-yet-chosen"));
  a.on_success(success{{{3, val("d")}}, 3});
  auto step = a.on_learn_request(learn_request{2, 0});
  auto c = of_type<chosen>(step.send_now);
  REQUIRE(c.size() == 1);
  CHECK(c[0].first == 2);
  REQUIRE(c[0].second.entries.size() == 2);
  CHECK(c[0].second.entries[1].value == val("b"));
  CHECK(a.on_learn_request(learn_request{2, 2}).send_now.empty());
}

TEST_CASE("a chosen mark writes the mark, not the value again") {
  auto a = make_acceptor();
  acceptor_state disk;
  disk.apply(*a.on_accept(acc(ballot{2, 3}, 0, "a")).write);
  auto step = a.on_accept(acc(ballot{2, 3}, 1, "b", 1));
  REQUIRE(step.has_write());
  // Slot 1's new value, and only a mark for slot 0.
  REQUIRE(step.write->entries.size() == 1);
  CHECK(step.write->entries[0].slot == 1);
  CHECK(step.write->chosen_marks == std::vector<slot_t>{0});
  // A success for a value already held also only marks it.
  auto s = a.on_success(success{{{1, val("b")}}, 3});
  REQUIRE(s.has_write());
  CHECK(s.write->entries.empty());
  CHECK(s.write->chosen_marks == std::vector<slot_t>{1});
  disk.apply(*step.write);
  disk.apply(*s.write);
  CHECK(disk.entries.at(0).chosen);
  CHECK(disk.entries.at(1).chosen);
}

TEST_CASE("a promise reports nothing below the acceptor's first_unchosen") {
  auto a = make_acceptor({}, 2);
  for (slot_t s = 0; s < 100; ++s)
    a.on_accept(acc(ballot{2, 3}, s, "v" + std::to_string(s), s));
  a.on_accept(acc(ballot{2, 3}, 100, "tip", 100));
  REQUIRE(a.first_unchosen() == 100);
  auto step = a.on_prepare(prepare{ballot{3, 2}, 0, 2}, 0);
  auto p = of_type<promise>(step.after_write);
  REQUIRE(p.size() == 1);
  CHECK(p[0].second.first_unchosen == 100);
  REQUIRE(p[0].second.entries.size() == 1);
  CHECK(p[0].second.entries[0].slot == 100);
  CHECK(p[0].second.no_more_accepted);
}

namespace {

/// A bootstrap configuration whose learners are `learners`.
config_history learners_history(std::vector<node_id> learners) {
  return bootstrap_history(configuration_from_lists({1}, learners, {}, {}));
}

/// An acceptor of a cluster with learners 1, 2, 3 holding slots 0..9 chosen.
acceptor compacting_acceptor(uint64_t tail_slots, uint64_t tail_bytes) {
  acceptor_config cfg;
  cfg.self = 1;
  cfg.configs = learners_history({1, 2, 3});
  cfg.tail_slots = tail_slots;
  cfg.tail_bytes = tail_bytes;
  acceptor a(cfg, {});
  std::vector<chosen_entry> all;
  for (slot_t s = 0; s < 10; ++s)
    all.push_back({s, val("v" + std::to_string(s))});
  a.on_success(success{all, 3});
  a.on_accept(acc(ballot{1, 2}, 11, "unchosen"));
  return a;
}

} // namespace

TEST_CASE("the log is compacted below what a majority of learners hold "
          "durably, keeping a tail") {
  auto a = compacting_acceptor(2, 1 << 20);
  // One learner is not a majority.
  CHECK_FALSE(a.on_learn_request(learn_request{2, 8, 8}).has_write());
  // What a learner applied but has not on disk does not count: a crash
  // would lose it.
  CHECK_FALSE(a.on_learn_request(learn_request{1, 100, 0}).has_write());
  CHECK(a.log_start() == 0);
  auto step = a.on_learn_request(learn_request{3, 7, 7});
  REQUIRE(step.has_write());
  // A majority holds 0..6: the log starts 2 slots below that.
  CHECK(step.write->log_start == slot_t{5});
  CHECK(a.log_start() == 5);
  CHECK(a.entries().count(4) == 0);
  CHECK(a.entries().count(5) == 1);
  CHECK(a.entries().count(11) == 1);
  // A learner asking below the log start is told where it starts and who
  // can give it a snapshot (the learner furthest ahead).
  auto c = of_type<chosen>(a.on_learn_request(learn_request{1, 3, 0}).send_now);
  REQUIRE(c.size() == 1);
  CHECK(c[0].second.entries.empty());
  CHECK(c[0].second.serves_from == 5);
  CHECK(c[0].second.snapshot_source == 2);
  CHECK(c[0].second.snapshot_durable == 8);
  // An accept below the log start stores nothing and says how far the log
  // is chosen.
  auto ac = a.on_accept(acc(ballot{1, 2}, 2, "late"));
  CHECK_FALSE(ac.has_write());
  auto acks = of_type<success_ack>(ac.send_now);
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].second.first_unchosen == 10);
  // After a restart the log start holds.
  acceptor_state disk;
  disk.apply(*step.write);
  acceptor_config cfg;
  cfg.self = 1;
  acceptor b(cfg, disk);
  CHECK(b.log_start() == 5);
  CHECK(b.first_unchosen() == 5);
}

TEST_CASE("a tail holding more than tail_bytes is cut shorter") {
  // Each value takes 8 + 24 + 4 + 1 + 4 + 2 = 43 bytes: two fit in 100.
  auto a = compacting_acceptor(8, 100);
  a.on_learn_request(learn_request{2, 10, 10});
  a.on_learn_request(learn_request{3, 10, 10});
  CHECK(a.log_start() == 8);
}

TEST_CASE("a lagging acceptor compacts only what it knows chosen; a jump "
          "from one that compacted brings it up with the configurations") {
  acceptor_config cfg;
  cfg.self = 1;
  cfg.configs = learners_history({1, 2, 3});
  cfg.tail_slots = 0;
  acceptor a(cfg, {});
  a.on_success(success{{{0, val("a")}}, 3});
  a.on_accept(acc(ballot{1, 2}, 3, "maybe-lost"));
  a.on_learn_request(learn_request{2, 6, 6});
  a.on_learn_request(learn_request{3, 6, 6});
  CHECK(a.log_start() == 1);
  CHECK(a.first_unchosen() == 1);
  CHECK(a.entries().count(3) == 1);
  // Another acceptor compacted below 6 and knows the log chosen up to 8,
  // where a second configuration is pending.
  auto ahead = learners_history({1, 2, 3});
  auto grown = configuration_from_lists({1, 4}, {1, 2, 3, 4}, {}, {});
  grown.epoch = 2;
  REQUIRE(ahead.on_chosen(7, grown));
  REQUIRE(ahead.pending(8));
  acceptor_config other_cfg = cfg;
  other_cfg.self = 2;
  acceptor_state other_state;
  other_state.log_start = 6;
  other_state.configs = ahead;
  acceptor other(other_cfg, other_state);
  auto relay = other.on_success_relay(success_relay{1, 1, 5, 3});
  auto jumps = of_type<success>(relay.send_now);
  REQUIRE(jumps.size() == 1);
  CHECK(jumps[0].first == 1);
  CHECK(jumps[0].second.jump_to == 6);
  auto step = a.on_success(jumps[0].second);
  CHECK(a.log_start() == 6);
  CHECK(a.first_unchosen() == 6);
  CHECK(a.entries().empty());
  CHECK(a.configs() == ahead);
  REQUIRE(step.has_write());
  CHECK(step.write->configs == ahead);
  auto acks = of_type<success_ack>(step.after_write);
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].second.configs == ahead);
  // After a restart the configurations come back with the log start.
  acceptor_state disk;
  disk.apply(*step.write);
  acceptor b(cfg, disk);
  CHECK(b.configs() == ahead);
}

TEST_CASE("unknown learners and compaction off never truncate") {
  auto a = compacting_acceptor(0, 1 << 20);
  a.on_learn_request(learn_request{7, 9, 9});
  a.on_learn_request(learn_request{8, 9, 9});
  CHECK(a.log_start() == 0);
  acceptor_config cfg;
  cfg.self = 1;
  cfg.configs = learners_history({1, 2, 3});
  cfg.compaction = false;
  acceptor off(cfg, {});
  off.on_learn_request(learn_request{2, 9, 9});
  off.on_learn_request(learn_request{3, 9, 9});
  CHECK(off.log_start() == 0);
}

TEST_CASE("a truncation merged after a write of a slot below it wins") {
  acceptor_config cfg;
  cfg.self = 1;
  cfg.configs = learners_history({2, 3});
  cfg.tail_slots = 0;
  acceptor a(cfg, {});
  auto w = *a.on_success(success{{{0, val("w")}, {1, val("x")}}, 3}).write;
  a.on_learn_request(learn_request{2, 2, 2});
  w.merge(std::move(*a.on_learn_request(learn_request{3, 2, 2}).write));
  acceptor_state disk;
  disk.apply(w);
  CHECK(disk.entries.count(1) == 0);
  CHECK(disk.log_start == 2);
}

TEST_CASE("an acceptor relays the chosen values it holds to a lagging one") {
  auto a = make_acceptor();
  a.on_success(success{{{0, val("a")}, {1, val("b")}, {2, val("c")}}, 3});
  auto step = a.on_success_relay(success_relay{2, 1, 5, 3});
  auto s = of_type<success>(step.send_now);
  REQUIRE(s.size() == 1);
  CHECK(s[0].first == 2);
  CHECK(s[0].second.proposer == 3);
  REQUIRE(s[0].second.entries.size() == 2);
  CHECK(s[0].second.entries[0].slot == 1);
  CHECK(s[0].second.entries[1].value == val("c"));
  CHECK(a.on_success_relay(success_relay{2, 3, 5, 3}).send_now.empty());
}

namespace {

acceptor leasing_acceptor(clock_ms started = 0, acceptor_state restored = {}) {
  acceptor_config cfg;
  cfg.self = 1;
  cfg.lease_ms = 200;
  cfg.started_ms = started;
  return acceptor(cfg, std::move(restored));
}

/// The acceptor's one answer to a read probe.
read_probe_ack probe(acceptor& a, const read_probe& p, clock_ms now) {
  auto acks = of_type<read_probe_ack>(a.on_read_probe(p, now).send_now);
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].first == p.proposer);
  return acks[0].second;
}

bool answered(const acceptor_step& s) {
  return !of_type<promise>(s.after_write).empty()
         || !of_type<nack>(s.send_now).empty();
}

} // namespace

TEST_CASE("a read probe reports the promise and grants a lease") {
  auto a = leasing_acceptor();
  REQUIRE(answered(a.on_prepare(prepare{ballot{5, 2}, 0, 2}, 500)));
  auto ack = probe(a, read_probe{ballot{5, 2}, 7, 2, 200}, 1000);
  CHECK(ack.probe == 7);
  CHECK(ack.promised == ballot{5, 2});
  CHECK(ack.lease_granted);
  CHECK(a.lease_until() == 1200);
  // An older leader hears of the newer promise and gets no lease.
  auto old = probe(a, read_probe{ballot{4, 3}, 1, 3, 200}, 1001);
  CHECK(old.promised == ballot{5, 2});
  CHECK_FALSE(old.lease_granted);
  CHECK(a.lease_ballot() == ballot{5, 2});
  // A probe writes nothing: the answer reports the promise in memory.
  CHECK_FALSE(a.on_read_probe(read_probe{ballot{5, 2}, 8, 2, 200}, 1002)
                .has_write());
}

TEST_CASE("while a lease runs, newer ballots of other nodes wait") {
  auto a = leasing_acceptor();
  REQUIRE(answered(a.on_prepare(prepare{ballot{5, 2}, 0, 2}, 500)));
  a.on_read_probe(read_probe{ballot{5, 2}, 1, 2, 200}, 1000);
  CHECK_FALSE(answered(a.on_prepare(prepare{ballot{6, 3}, 0, 3}, 1100)));
  CHECK_FALSE(answered(a.on_prepare(prepare{ballot{6, 3}, 0, 3}, 1199)));
  CHECK(a.promised() == ballot{5, 2});
  // The lease holder's own node may move on (it gave the lease up).
  CHECK(answered(a.on_prepare(prepare{ballot{6, 2}, 0, 2}, 1150)));
  // Once the lease ran out, anyone may be promised.
  CHECK(answered(a.on_prepare(prepare{ballot{7, 3}, 0, 3}, 1200)));
  CHECK(a.promised() == ballot{7, 3});
}

TEST_CASE("a lease longer than the acceptor honours is not granted") {
  auto a = leasing_acceptor();
  CHECK_FALSE(
    probe(a, read_probe{ballot{1, 2}, 1, 2, 201}, 500).lease_granted);
  CHECK(answered(a.on_prepare(prepare{ballot{2, 3}, 0, 3}, 501)));
}

TEST_CASE("a restarted acceptor waits out any lease it may have granted") {
  acceptor_state disk;
  disk.promised = ballot{5, 2};
  auto a = leasing_acceptor(1000, disk);
  // Newer ballots wait for a lease's length after the start.
  CHECK_FALSE(answered(a.on_prepare(prepare{ballot{6, 3}, 0, 3}, 1000)));
  CHECK_FALSE(answered(a.on_prepare(prepare{ballot{6, 2}, 0, 2}, 1199)));
  // The promised ballot itself is answered (its leader may be retrying).
  CHECK(answered(a.on_prepare(prepare{ballot{5, 2}, 0, 2}, 1100)));
  CHECK(answered(a.on_prepare(prepare{ballot{6, 3}, 0, 3}, 1200)));
}

TEST_CASE("without leases an acceptor grants none and never waits") {
  auto a = make_acceptor();
  CHECK_FALSE(probe(a, read_probe{ballot{1, 2}, 1, 2, 200}, 0).lease_granted);
  CHECK(answered(a.on_prepare(prepare{ballot{2, 3}, 0, 3}, 1)));
}

TEST_CASE("an acceptor answers only when addressed as its own data "
          "directory, and stamps its replies with it") {
  acceptor_config cfg;
  cfg.self = 1;
  cfg.incarnation = 77;
  SUBCASE("created by a bootstrap: its own incarnation, or none recorded") {
    acceptor a(cfg, {});
    auto s = a.on_prepare(prepare{ballot{1, 2}, 0, 2, 0}, 0);
    auto promises = of_type<promise>(s.after_write);
    REQUIRE(promises.size() == 1);
    CHECK(promises[0].second.incarnation == 77);
    s = a.on_prepare(prepare{ballot{2, 2}, 0, 2, 77}, 0);
    CHECK(of_type<promise>(s.after_write).size() == 1);
    // A wiped disk: the sender knows the member by another directory.
    s = a.on_prepare(prepare{ballot{3, 2}, 0, 2, 76}, 0);
    CHECK(s.send_now.empty());
    CHECK(s.after_write.empty());
    CHECK(a.promised() == ballot{2, 2});
    s = a.on_accept(accept{ballot{3, 2}, 0, val("x"), 0, 2, 76});
    CHECK(s.send_now.empty());
    CHECK(a.entries().empty());
    s = a.on_read_probe(read_probe{ballot{3, 2}, 1, 2, 0, 76}, 0);
    CHECK(s.send_now.empty());
  }
  SUBCASE("created by a join: only when its incarnation is recorded") {
    cfg.bootstrapped = false;
    acceptor a(cfg, {});
    auto s = a.on_prepare(prepare{ballot{1, 2}, 0, 2, 0}, 0);
    CHECK(s.after_write.empty());
    CHECK(s.send_now.empty());
    s = a.on_prepare(prepare{ballot{1, 2}, 0, 2, 77}, 0);
    CHECK(of_type<promise>(s.after_write).size() == 1);
  }
}
