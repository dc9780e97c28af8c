#include <doctest/doctest.h>

#include "protocol/proposer.hpp"
#include "test/helpers.hpp"

using namespace paxoskv;
using namespace paxoskv::test;

namespace {

proposer_config config(node_id self = 3) {
  proposer_config cfg;
  cfg.self = self;
  cfg.acceptors = {1, 2, 3};
  cfg.learners = {1, 2, 3};
  cfg.window_slots_max = 2;
  cfg.batch_commands_max = 3;
  return cfg;
}

log_value val(const std::string& v, uint64_t seq = 1) {
  return batch_of(set_cmd(9, seq, "k", v));
}

client_command cmd(uint64_t seq) {
  return client_command{set_cmd(7, seq, "k", "v" + std::to_string(seq)), 1, 0};
}

promise empty_promise(const ballot& b, node_id from) {
  return promise{b, from, 0, {}, true, 0};
}

/// Elects the proposer and completes phase 1 with empty promises from 1, 2.
proposer leading(proposer_config cfg = config()) {
  proposer p(cfg, 0);
  p.on_leader_change(leader_change{cfg.self});
  auto b = p.current_ballot();
  p.on_promise(empty_promise(b, 1));
  p.on_promise(empty_promise(b, 2));
  REQUIRE(p.phase() == proposer_phase::leading);
  return p;
}

} // namespace

TEST_CASE("proposer persists its round before any prepare leaves") {
  proposer p(config(), 4);
  auto step = p.on_leader_change(leader_change{3});
  REQUIRE(step.has_write());
  CHECK(step.write->round == 5);
  CHECK(p.current_ballot() == ballot{5, 3});
  CHECK(of_type<prepare>(step.send_now).empty());
  auto prepares = of_type<prepare>(step.after_write);
  CHECK(prepares.size() == 3);
  for (auto& [to, m] : prepares)
    CHECK(m.b == ballot{5, 3});
}

TEST_CASE("a retransmitted prepare also waits for the round to be durable") {
  proposer p(config(), 0);
  p.on_leader_change(leader_change{3});
  std::vector<std::pair<uint64_t, prepare>> resent;
  for (int i = 0; i < 10 && resent.empty(); ++i) {
    auto step = p.on_tick(0);
    CHECK(of_type<prepare>(step.send_now).empty());
    resent = of_type<prepare>(step.after_write);
  }
  CHECK(resent.size() == 3);
}

TEST_CASE("a restarted proposer never reuses a ballot") {
  proposer first(config(), 0);
  auto round = first.on_leader_change(leader_change{3}).write->round;
  proposer restarted(config(), round);
  restarted.on_leader_change(leader_change{3});
  CHECK(restarted.current_ballot() > first.current_ballot());
}

TEST_CASE("new leader re-proposes the highest accepted value") {
  proposer p(config(), 0);
  p.on_leader_change(leader_change{3});
  auto b = p.current_ballot();
  promise from1{b, 1, 0, {{0, ballot{1, 1}, val("older"), false}}, true, 0};
  promise from2{b, 2, 0, {{0, ballot{2, 2}, val("newer"), false}}, true, 0};
  p.on_promise(from1);
  auto step = p.on_promise(from2);
  CHECK(p.phase() == proposer_phase::leading);
  auto accepts = of_type<accept>(step.send_now);
  REQUIRE(accepts.size() == 3);
  for (auto& [to, a] : accepts) {
    CHECK(a.slot == 0);
    CHECK(a.b == b);
    CHECK(a.value == val("newer"));
  }
}

TEST_CASE("new leader fills the gaps in the log with NOPs") {
  proposer p(config(), 0);
  p.on_leader_change(leader_change{3});
  auto b = p.current_ballot();
  p.on_promise(promise{b, 1, 0, {{2, ballot{1, 1}, val("x"), false}}, true,
                       0});
  auto step = p.on_promise(empty_promise(b, 2));
  std::map<slot_t, log_value> proposed;
  for (auto& [to, a] : of_type<accept>(step.send_now))
    proposed[a.slot] = a.value;
  // The window is 2: slots 0 and 1 first, slot 2 once one is chosen.
  REQUIRE(proposed.size() == 2);
  CHECK(proposed[0].is_nop());
  CHECK(proposed[1].is_nop());
  CHECK(p.next_slot() == 3);
  CHECK(p.in_flight() == 2);
  p.on_accepted(accepted{b, 0, b, 0, 1});
  auto next = p.on_accepted(accepted{b, 0, b, 0, 2});
  proposed.clear();
  for (auto& [to, a] : of_type<accept>(next.send_now))
    proposed[a.slot] = a.value;
  REQUIRE(proposed.size() == 1);
  CHECK(proposed[2] == val("x"));
  CHECK(p.in_flight() == 2);
}

TEST_CASE("values an acceptor reports chosen are learned, not re-proposed") {
  proposer p(config(), 0);
  p.on_leader_change(leader_change{3});
  auto b = p.current_ballot();
  auto step = p.on_promise(
    promise{b, 1, 0, {{0, ballot{1, 1}, val("done"), true}}, true, 0});
  CHECK(p.first_unchosen() == 1);
  CHECK(of_type<chosen>(step.send_now).size() == 3);
  step = p.on_promise(empty_promise(b, 2));
  CHECK(of_type<accept>(step.send_now).empty());
}

TEST_CASE("phase 1 starts at the first slot an acceptor does not know chosen") {
  proposer p(config(), 0);
  p.on_leader_change(leader_change{3});
  auto b = p.current_ballot();
  // Acceptor 1 knows a million slots chosen; its report starts there.
  p.on_promise(promise{b, 1, 0, {{1000000, ballot{1, 1}, val("x"), false}},
                       true, 1000000});
  CHECK(p.first_unchosen() == 1000000);
  auto step = p.on_promise(empty_promise(b, 2));
  REQUIRE(p.phase() == proposer_phase::leading);
  auto accepts = of_type<accept>(step.send_now);
  REQUIRE(accepts.size() == 3);
  for (auto& [to, a] : accepts) {
    CHECK(a.slot == 1000000);
    CHECK(a.value == val("x"));
  }
  CHECK(p.next_slot() == 1000001);
  // Acceptor 2 is far behind, and the leader never had those values: the
  // acceptor that holds them is asked to send them.
  p.on_accepted(accepted{b, 1000000, b, 0, 1});
  p.on_accepted(accepted{b, 1000000, b, 0, 3});
  REQUIRE(p.first_unchosen() == 1000001);
  bool relayed = false;
  for (int t = 0; t < 10; ++t)
    for (auto& [to, r] : of_type<success_relay>(p.on_tick(0).send_now))
      if (to == 1 && r.to == 2 && r.from_slot == 0 && r.proposer == 3)
        relayed = true;
  CHECK(relayed);
}

TEST_CASE("a leader keeps a bounded number of chosen values") {
  auto cfg = config();
  cfg.window_slots_max = 4;
  cfg.batch_commands_max = 1;
  cfg.chosen_kept_max = 5;
  auto p = leading(cfg);
  auto b = p.current_ballot();
  for (uint64_t seq = 1; seq <= 40; ++seq) {
    p.on_client_command(cmd(seq));
    // Acceptors 1 and 3 mark what was chosen before; 2 stays at 0.
    p.on_accepted(accepted{b, seq - 1, b, seq - 1, 1});
    p.on_accepted(accepted{b, seq - 1, b, seq - 1, 3});
  }
  CHECK(p.first_unchosen() == 40);
  // A majority holds slots 0..38 as chosen values: beyond the bound they
  // are dropped; slot 39, which no acceptor knows chosen yet, stays.
  CHECK(p.chosen_values().size() <= 6);
  CHECK(p.chosen_values().count(39) == 1);
  // Without a majority that holds them, nothing is dropped.
  auto q = leading(cfg);
  auto bq = q.current_ballot();
  for (uint64_t seq = 1; seq <= 40; ++seq) {
    q.on_client_command(cmd(seq));
    q.on_accepted(accepted{bq, seq - 1, bq, 0, 1});
    q.on_accepted(accepted{bq, seq - 1, bq, 0, 3});
  }
  CHECK(q.chosen_values().size() == 40);
}

TEST_CASE("a chunked promise makes the proposer ask again from the next slot") {
  proposer p(config(), 0);
  p.on_leader_change(leader_change{3});
  auto b = p.current_ballot();
  auto step = p.on_promise(promise{
    b, 1, 0, {{0, ballot{1, 1}, val("a"), false}, {1, ballot{1, 1}, val("b"),
                                                    false}},
    false, 0});
  auto again = of_type<prepare>(step.send_now);
  REQUIRE(again.size() == 1);
  CHECK(again[0].first == 1);
  CHECK(again[0].second.from_slot == 2);
  // One complete report is not a majority yet.
  p.on_promise(empty_promise(b, 2));
  CHECK(p.phase() == proposer_phase::preparing);
  p.on_promise(promise{b, 1, 2, {}, true, 0});
  CHECK(p.phase() == proposer_phase::leading);
}

TEST_CASE("a stable leader sends no prepare per command") {
  auto p = leading();
  for (uint64_t seq = 1; seq <= 20; ++seq) {
    auto step = p.on_client_command(cmd(seq));
    CHECK(of_type<prepare>(step.send_now).empty());
    CHECK(of_type<prepare>(step.after_write).empty());
    CHECK_FALSE(step.has_write());
    for (auto& [to, a] : of_type<accept>(step.send_now))
      for (node_id acc : {1, 2})
        p.on_accepted(accepted{a.b, a.slot, a.b, 0, acc});
  }
}

TEST_CASE("a value is chosen by a majority and every learner is told") {
  auto p = leading();
  auto step = p.on_client_command(cmd(1));
  auto accepts = of_type<accept>(step.send_now);
  REQUIRE(accepts.size() == 3);
  auto a = accepts[0].second;
  CHECK(of_type<chosen>(p.on_accepted({a.b, a.slot, a.b, 0, 1}).send_now)
          .empty());
  auto done = p.on_accepted({a.b, a.slot, a.b, 0, 2});
  auto told = of_type<chosen>(done.send_now);
  CHECK(told.size() == 3);
  CHECK(p.first_unchosen() == 1);
  // A late or duplicate reply changes nothing.
  CHECK(p.on_accepted({a.b, a.slot, a.b, 0, 3}).send_now.empty());
}

TEST_CASE("pipelining keeps at most a window of batches in flight, bounded "
          "in size") {
  auto p = leading(); // window 2, at most 3 commands per batch
  std::vector<std::pair<uint64_t, accept>> accepts;
  for (uint64_t seq = 1; seq <= 10; ++seq) {
    auto step = p.on_client_command(cmd(seq));
    for (auto& a : of_type<accept>(step.send_now))
      accepts.push_back(a);
  }
  // The first command goes alone. The next ones wait for it until a full
  // batch is queued, which leaves at once (2, 3, 4); the rest waits.
  CHECK(p.in_flight() == 2);
  CHECK(p.queued() == 6);
  REQUIRE(accepts.size() == 2 * 3);
  CHECK(accepts[0].second.value.commands.size() == 1);
  CHECK(accepts[3].second.value.commands.size() == 3);
  // Choosing slot 0 frees a window slot: the queue leaves as a batch of 3.
  auto b = p.current_ballot();
  p.on_accepted({b, 0, b, 0, 1});
  auto step = p.on_accepted({b, 0, b, 0, 2});
  auto next = of_type<accept>(step.send_now);
  REQUIRE(next.size() == 3);
  CHECK(next[0].second.slot == 2);
  CHECK(next[0].second.value.commands.size() == 3);
  CHECK(next[0].second.first_unchosen == 1);
}

TEST_CASE("batches respect the byte limit") {
  auto cfg = config();
  cfg.window_slots_max = 1;
  cfg.batch_commands_max = 100;
  cfg.batch_bytes_max = 200;
  auto p = leading(cfg);
  for (uint64_t seq = 1; seq <= 6; ++seq)
    p.on_client_command(client_command{
      set_cmd(7, seq, "k", std::string(60, 'x')), 1, 0});
  auto b = p.current_ballot();
  p.on_accepted({b, 0, b, 0, 1});
  auto step = p.on_accepted({b, 0, b, 0, 2});
  auto next = of_type<accept>(step.send_now);
  REQUIRE(!next.empty());
  CHECK(next[0].second.value.size_bytes() <= 200);
  CHECK(next[0].second.value.commands.size() == 2);
}

TEST_CASE("a leader that meets a newer ballot steps down, backs off and "
          "retries with a higher round") {
  auto p = leading();
  auto b = p.current_ballot();
  p.on_client_command(cmd(1));
  p.on_accepted(accepted{b, 0, ballot{b.round + 5, 1}, 0, 1});
  CHECK(p.phase() == proposer_phase::backoff);
  proposer_step retry;
  for (int i = 0; i < 20 && p.phase() == proposer_phase::backoff; ++i)
    retry = p.on_tick(0);
  CHECK(p.phase() == proposer_phase::preparing);
  REQUIRE(retry.has_write());
  CHECK(retry.write->round > b.round + 5);
  CHECK(of_type<prepare>(retry.after_write).size() == 3);
}

TEST_CASE("a prepare nack makes the proposer give up that ballot") {
  proposer p(config(), 0);
  p.on_leader_change(leader_change{3});
  auto b = p.current_ballot();
  p.on_nack(nack{b, ballot{7, 2}, 1});
  CHECK(p.phase() == proposer_phase::backoff);
}

TEST_CASE("an idle leader learns from a keepalive that it was superseded") {
  auto p = leading();
  auto b = p.current_ballot();
  std::vector<std::pair<uint64_t, success>> keepalives;
  for (int i = 0; i < 20 && keepalives.empty(); ++i)
    keepalives = of_type<success>(p.on_tick(0).send_now);
  REQUIRE(keepalives.size() == 3);
  p.on_success_ack(success_ack{1, 0, ballot{b.round + 1, 2}});
  CHECK(p.phase() == proposer_phase::backoff);
}

TEST_CASE("a lagging acceptor gets success messages until it catches up") {
  auto cfg = config();
  cfg.success_entries_max = 1;
  auto p = leading(cfg);
  auto b = p.current_ballot();
  for (uint64_t seq = 1; seq <= 2; ++seq) {
    auto step = p.on_client_command(cmd(seq));
    for (auto& [to, a] : of_type<accept>(step.send_now))
      if (to == 1 || to == 2)
        p.on_accepted({b, a.slot, b, a.slot, static_cast<node_id>(to)});
  }
  REQUIRE(p.first_unchosen() == 2);
  // Acceptor 3 never answered. After the retransmission delay it is sent
  // the chosen values one at a time, each answer asking for the next.
  std::vector<std::pair<uint64_t, success>> sent;
  for (int i = 0; i < 10 && sent.empty(); ++i)
    for (auto& s : of_type<success>(p.on_tick(0).send_now))
      if (s.first == 3)
        sent.push_back(s);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].second.entries.at(0).slot == 0);
  auto next = of_type<success>(p.on_success_ack({3, 1, b}).send_now);
  REQUIRE(next.size() == 1);
  CHECK(next[0].second.entries.at(0).slot == 1);
  CHECK(of_type<success>(p.on_success_ack({3, 2, b}).send_now).empty());
}

TEST_CASE("retransmissions to a silent acceptor back off, and resume at the "
          "normal rate once it answers") {
  auto cfg = config();
  cfg.retransmit_ticks = 4;
  cfg.retransmit_backoff_max = 64;
  auto p = leading(cfg);
  auto b = p.current_ballot();
  // Slot 0 is chosen by 1 and 2; acceptor 3 is dead and never answers.
  auto step = p.on_client_command(cmd(1));
  for (auto& [to, a] : of_type<accept>(step.send_now))
    if (to == 1 || to == 2)
      p.on_accepted({b, a.slot, b, a.slot, static_cast<node_id>(to)});
  REQUIRE(p.first_unchosen() == 1);
  // Acceptors 1 and 2 answer every keepalive; 3 never does.
  std::vector<int> to_dead;
  size_t to_live = 0;
  for (int tick = 1; tick <= 400; ++tick)
    for (auto& [to, m] : of_type<success>(p.on_tick(0).send_now)) {
      if (to == 3) {
        to_dead.push_back(tick);
      } else {
        ++to_live;
        p.on_success_ack({static_cast<node_id>(to), 1, b});
      }
    }
  // Without backoff: one every 4 ticks, 100. With it: 4, 8, 16, 32, then
  // every 64 ticks.
  CHECK(to_dead.size() <= 10);
  REQUIRE(to_dead.size() >= 4);
  CHECK(to_dead[to_dead.size() - 1] - to_dead[to_dead.size() - 2] == 64);
  // The live acceptors keep their keepalives (every 8 ticks).
  CHECK(to_live >= 2 * (400 / 8 - 1));
  // Acceptor 3 comes back and answers everything: it catches up and gets
  // its keepalives at the normal rate again (every 8 ticks).
  p.on_success_ack({3, 0, b});
  std::vector<int> after;
  for (int tick = 1; tick <= 40; ++tick)
    for (auto& [to, m] : of_type<success>(p.on_tick(0).send_now)) {
      p.on_success_ack({static_cast<node_id>(to), 1, b});
      if (to == 3)
        after.push_back(tick);
    }
  CHECK(after.size() >= 4);
}

TEST_CASE("a follower forwards client commands to the leader in batches, "
          "boundedly") {
  proposer p(config(1), 0);
  p.on_leader_change(leader_change{3});
  CHECK(p.on_client_command(cmd(1)).send_now.empty());
  CHECK(p.on_client_command(cmd(2)).send_now.empty());
  auto tired = cmd(3);
  tired.hops = 2;
  // Forwarded too often: dropped, and its origin told so.
  auto dropped = p.on_client_command(tired).send_now;
  CHECK(of_type<client_batch>(dropped).empty());
  auto refused = of_type<command_refused>(dropped);
  REQUIRE(refused.size() == 1);
  CHECK(refused[0].first == tired.origin);
  CHECK(refused[0].second.sequence == tired.cmd.sequence);
  CHECK(p.forwards_buffered() == 2);
  auto batches = of_type<client_batch>(p.flush_forwards().send_now);
  REQUIRE(batches.size() == 1);
  CHECK(batches[0].first == 3);
  REQUIRE(batches[0].second.commands.size() == 2);
  CHECK(batches[0].second.commands[0].hops == 1);
  CHECK(batches[0].second.commands[1].cmd.sequence == 2);
  CHECK(p.forwards_buffered() == 0);
  // The leader takes a batch as if each command had come alone.
  auto leader = leading();
  auto step = leader.on_client_batch(batches[0].second);
  // The first command leaves at once; the second waits for it (not a full
  // batch) and forms the next batch once slot 0 is chosen.
  CHECK(of_type<accept>(step.send_now).size() == 3);
  CHECK(leader.in_flight() == 1);
  CHECK(leader.queued() == 1);
  auto b = leader.current_ballot();
  leader.on_accepted({b, 0, b, 0, 1});
  auto next = of_type<accept>(leader.on_accepted({b, 0, b, 0, 2}).send_now);
  REQUIRE(next.size() == 3);
  CHECK(next[0].second.slot == 1);
  CHECK(next[0].second.value.commands.size() == 1);
  CHECK(leader.queued() == 0);
}

namespace {

read_request read_req(uint64_t id, read_level level = read_level::leader,
                      node_id origin = 2) {
  return read_request{id, origin, level, 0};
}

read_probe_ack probe_ack(const read_probe& p, node_id from, bool granted,
                         ballot promised = {}) {
  return read_probe_ack{p.b, p.probe, promised.is_zero() ? p.b : promised,
                        from, granted};
}

proposer_config lease_config() {
  auto cfg = config();
  cfg.lease_ms = 200;
  cfg.lease_margin_ms = 20;
  cfg.lease_renew_ms = 50;
  return cfg;
}

} // namespace

TEST_CASE("a leader read is answered only after a majority confirms a round "
          "sent after it arrived") {
  auto p = leading();
  p.on_client_command(cmd(1)); // Slot 0 in flight: the index covers it.
  auto step = p.on_read_request(read_req(11), 0);
  CHECK(of_type<read_index>(step.send_now).empty());
  auto probes = of_type<read_probe>(step.send_now);
  REQUIRE(probes.size() == 3);
  auto probe = probes[0].second;
  CHECK(probe.b == p.current_ballot());
  // A second read joins the next round, not the one in flight.
  CHECK(of_type<read_probe>(p.on_read_request(read_req(12), 0).send_now)
          .empty());
  CHECK(of_type<read_index>(p.on_read_probe_ack(probe_ack(probe, 1, false), 0)
                              .send_now)
          .empty());
  // Duplicates do not count twice.
  CHECK(of_type<read_index>(p.on_read_probe_ack(probe_ack(probe, 1, false), 0)
                              .send_now)
          .empty());
  auto done = p.on_read_probe_ack(probe_ack(probe, 2, false), 0);
  auto answers = of_type<read_index>(done.send_now);
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].first == 2);
  CHECK(answers[0].second.id == 11);
  CHECK(answers[0].second.index == 1);
  // The waiting read went out in a new round at once.
  auto next = of_type<read_probe>(done.send_now);
  REQUIRE(next.size() == 3);
  CHECK(next[0].second.probe > probe.probe);
  // An answer to the old round does not confirm the new one.
  CHECK(of_type<read_index>(p.on_read_probe_ack(probe_ack(probe, 3, false), 0)
                              .send_now)
          .empty());
}

TEST_CASE("a read round is resent under its own number, so answers slower "
          "than the retransmission period still confirm it") {
  auto cfg = config();
  cfg.retransmit_ticks = 2;
  auto p = leading(cfg);
  auto step = p.on_read_request(read_req(11), 0);
  auto probes = of_type<read_probe>(step.send_now);
  REQUIRE(probes.size() == 3);
  auto probe = probes[0].second;
  // Acceptor 1 answers quickly; 2 and 3 only after several resends.
  CHECK(of_type<read_index>(p.on_read_probe_ack(probe_ack(probe, 1, false), 0)
                              .send_now)
          .empty());
  std::vector<read_probe> resent;
  for (int i = 0; i < 7; ++i)
    for (auto& [to, m] : of_type<read_probe>(p.on_tick(0).send_now)) {
      CHECK(to != 1); // It answered.
      resent.push_back(m);
    }
  REQUIRE(resent.size() >= 4);
  for (auto& m : resent)
    CHECK(m.probe == probe.probe);
  auto done = p.on_read_probe_ack(probe_ack(probe, 2, false), 0);
  auto answers = of_type<read_index>(done.send_now);
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].second.id == 11);
}

TEST_CASE("a read round that meets a newer promise makes the leader step "
          "down without answering") {
  auto p = leading();
  auto probe = of_type<read_probe>(
                 p.on_read_request(read_req(1), 0).send_now)[0]
                 .second;
  p.on_read_probe_ack(probe_ack(probe, 1, false), 0);
  auto step = p.on_read_probe_ack(probe_ack(probe, 2, false, ballot{9, 1}), 0);
  CHECK(of_type<read_index>(step.send_now).empty());
  CHECK(p.phase() == proposer_phase::backoff);
  // Nor does a late confirmation answer it after stepping down.
  CHECK(of_type<read_index>(p.on_read_probe_ack(probe_ack(probe, 3, false), 0)
                              .send_now)
          .empty());
}

TEST_CASE("a follower passes read requests to the leader, boundedly") {
  proposer p(config(), 0);
  p.on_leader_change(leader_change{1});
  auto fwd = of_type<read_request>(p.on_read_request(read_req(5), 0).send_now);
  REQUIRE(fwd.size() == 1);
  CHECK(fwd[0].first == 1);
  CHECK(fwd[0].second.hops == 1);
  auto looped = read_req(5);
  looped.hops = 2;
  // Passed on too often: dropped, and the learner told so.
  auto dropped = p.on_read_request(looped, 0).send_now;
  CHECK(of_type<read_request>(dropped).empty());
  REQUIRE(of_type<read_refused>(dropped).size() == 1);
  CHECK(of_type<read_refused>(dropped)[0].second.id == looped.id);
}

TEST_CASE("a lease read is answered at once only while the lease holds") {
  auto p = leading(lease_config());
  // No lease yet: it waits for a round like a leader read.
  auto step = p.on_read_request(read_req(1, read_level::lease), 1000);
  CHECK(of_type<read_index>(step.send_now).empty());
  auto probe = of_type<read_probe>(step.send_now)[0].second;
  CHECK(probe.lease_ms == 200);
  p.on_read_probe_ack(probe_ack(probe, 1, true), 1030);
  // One grant and one refusal: confirmed, but no lease.
  REQUIRE(of_type<read_index>(
            p.on_read_probe_ack(probe_ack(probe, 2, false), 1040).send_now)
            .size()
          == 1);
  CHECK_FALSE(p.lease_held(1040));
  // A round granted by a majority: the lease counts from when it was sent.
  auto renew = of_type<read_probe>(p.on_tick(1050).send_now);
  REQUIRE(renew.size() == 3);
  auto r = renew[0].second;
  p.on_read_probe_ack(probe_ack(r, 1, true), 1060);
  p.on_read_probe_ack(probe_ack(r, 3, true), 1070);
  CHECK(p.lease_held(1050 + 200 - 20 - 1));
  CHECK_FALSE(p.lease_held(1050 + 200 - 20));
  auto now = of_type<read_index>(
    p.on_read_request(read_req(2, read_level::lease), 1100).send_now);
  REQUIRE(now.size() == 1);
  CHECK(now[0].second.id == 2);
  // A leader read still runs a round under a lease.
  CHECK(of_type<read_index>(p.on_read_request(read_req(3), 1100).send_now)
          .empty());
  // After the lease, a lease read waits for a round again.
  CHECK(of_type<read_index>(
          p.on_read_request(read_req(4, read_level::lease), 1230).send_now)
          .empty());
}

TEST_CASE("losing the lead drops the lease") {
  auto p = leading(lease_config());
  auto probe = of_type<read_probe>(p.on_tick(100).send_now)[0].second;
  p.on_read_probe_ack(probe_ack(probe, 1, true), 100);
  p.on_read_probe_ack(probe_ack(probe, 2, true), 100);
  CHECK(p.lease_held(150));
  p.on_leader_change(leader_change{1});
  CHECK_FALSE(p.lease_held(150));
}
