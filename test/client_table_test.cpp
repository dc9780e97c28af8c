#include <doctest/doctest.h>

#include "protocol/client_table.hpp"

using namespace paxoskv;

namespace {

client_table make_table(size_t window = 8) {
  client_table_config cfg;
  cfg.self = 1;
  cfg.resend_ticks = 3;
  cfg.timeout_ticks = 10;
  cfg.window_max = window;
  return client_table(cfg);
}

client_request_in set_req(uint64_t client, uint64_t n, std::string value) {
  return {client, n, op_code::set, {"k", std::move(value)}, read_level::log};
}

client_request_in get_req(uint64_t client, uint64_t n, read_level level) {
  return {client, n, op_code::get, {"k"}, level};
}

command_outcome applied(const command& c, command_result r = {}) {
  return {7, c.client_id, c.sequence, std::move(r), false};
}

command_outcome read_answer(const command& c, slot_t state,
                            std::string value) {
  return {state, c.client_id, c.sequence,
          {result_kind::value, std::move(value), 0}, false, true};
}

} // namespace

TEST_CASE("log commands of a connection are numbered in order and answered "
          "in request order") {
  auto t = make_table();
  auto a = t.on_request(set_req(9, 1, "a"));
  auto b = t.on_request(set_req(9, 2, "b"));
  REQUIRE(a.submit.size() == 1);
  REQUIRE(b.submit.size() == 1);
  CHECK(a.submit[0].cmd.sequence == 1);
  CHECK(b.submit[0].cmd.sequence == 2);
  // The second is applied first (a duplicate outcome, say): its answer
  // waits for the first.
  auto early = t.on_outcomes({applied(b.submit[0].cmd)});
  CHECK(early.answers.empty());
  auto both = t.on_outcomes({applied(a.submit[0].cmd)});
  REQUIRE(both.answers.size() == 2);
  CHECK(both.answers[0].request == 1);
  CHECK(both.answers[1].request == 2);
  CHECK(t.waiting() == 0);
}

TEST_CASE("a command chosen ahead of its predecessor is sent again right "
          "after the predecessor is applied") {
  auto t = make_table();
  auto a = t.on_request(set_req(9, 1, "a")).submit.at(0).cmd;
  auto b = t.on_request(set_req(9, 2, "b")).submit.at(0).cmd;
  command_outcome ahead{3, 9, 2,
                        {result_kind::not_applied, "earlier not applied", 0},
                        false};
  ahead.out_of_order = true;
  CHECK(t.on_outcomes({ahead}).submit.empty());
  auto after = t.on_outcomes({applied(a)});
  REQUIRE(after.submit.size() == 1);
  CHECK(after.submit[0].cmd == b);
  REQUIRE(after.answers.size() == 1); // Only the first is answered yet.
  CHECK(after.answers[0].request == 1);
}

TEST_CASE("an unapplied command is resent until applied, even after its "
          "client heard outcome unknown") {
  auto t = make_table();
  auto a = t.on_request(set_req(9, 1, "a")).submit.at(0).cmd;
  size_t resends = 0;
  std::vector<client_answer> answers;
  for (int i = 0; i < 15; ++i) {
    auto s = t.on_tick();
    resends += s.submit.size();
    for (auto& x : s.answers)
      answers.push_back(x);
  }
  CHECK(resends == 5);
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].result.kind == result_kind::unknown);
  CHECK(t.unapplied() == 1);
  // A later command of the connection can only be applied after it: the
  // table keeps sending it, and forgets it once applied.
  t.on_outcomes({applied(a)});
  CHECK(t.unapplied() == 0);
}

TEST_CASE("a leader read waits for its connection's earlier writes; a write "
          "waits for the connection's earlier reads") {
  auto t = make_table();
  auto w = t.on_request(set_req(9, 1, "a"));
  auto r = t.on_request(get_req(9, 2, read_level::leader));
  CHECK(r.reads.empty()); // The SET is not applied yet.
  auto w2 = t.on_request(set_req(9, 3, "b"));
  CHECK(w2.submit.empty()); // Behind the read.
  auto applied_w = t.on_outcomes({applied(w.submit.at(0).cmd)});
  REQUIRE(applied_w.reads.size() == 1);
  auto read_cmd = applied_w.reads[0].first;
  CHECK((read_cmd.sequence & read_tag) != 0);
  auto served = t.on_outcomes({read_answer(read_cmd, 8, "a")});
  REQUIRE(served.submit.size() == 1);
  CHECK(served.submit[0].cmd.sequence == 2);
  REQUIRE(served.answers.size() == 1);
  CHECK(served.answers[0].request == 2);
}

TEST_CASE("a read answered from an older state than an earlier read of its "
          "connection is served again") {
  auto t = make_table();
  auto r1 = t.on_request(get_req(9, 1, read_level::leader)).reads.at(0).first;
  auto r2 = t.on_request(get_req(9, 2, read_level::lease)).reads.at(0).first;
  // The lease read is served first, from state 5; the leader read later
  // from state 9: the lease read must not answer from the older state.
  CHECK(t.on_outcomes({read_answer(r2, 5, "old")}).answers.empty());
  auto s = t.on_outcomes({read_answer(r1, 9, "new")});
  CHECK(s.answers.size() == 1);
  REQUIRE(s.reads.size() == 1);
  CHECK(s.reads[0].first == r2);
  auto again = t.on_outcomes({read_answer(r2, 9, "new")});
  REQUIRE(again.answers.size() == 1);
  CHECK(again.answers[0].result.text == "new");
}

TEST_CASE("beyond the window a command is refused as not applied, in its "
          "turn") {
  auto t = make_table(2);
  auto a = t.on_request(set_req(9, 1, "a")).submit.at(0).cmd;
  t.on_request(set_req(9, 2, "b"));
  auto refused = t.on_request(set_req(9, 3, "c"));
  CHECK(refused.submit.empty());
  CHECK(refused.answers.empty()); // Answered after requests 1 and 2.
  auto s = t.on_outcomes({applied(a)});
  REQUIRE(s.answers.size() == 1);
  CHECK(t.waiting() == 2);
}

TEST_CASE("a closed connection's session is forgotten and nothing is resent") {
  auto t = make_table();
  t.on_request(set_req(9, 1, "a"));
  t.on_close(9);
  CHECK(t.sessions() == 0);
  CHECK(t.waiting() == 0);
  for (int i = 0; i < 5; ++i)
    CHECK(t.on_tick().submit.empty());
}

TEST_CASE("an idle session is forgotten and numbers on from what the state "
          "machine applied when it comes back") {
  client_table_config cfg;
  cfg.self = 1;
  cfg.session_idle_ticks = 5;
  client_table t(cfg);
  auto a = t.on_request(set_req(9, 1, "a")).submit.at(0).cmd;
  t.on_outcomes({applied(a)});
  for (int i = 0; i < 4; ++i)
    t.on_tick();
  CHECK(t.sessions() == 1);
  t.on_tick();
  CHECK(t.sessions() == 0);
  auto b = t.on_request(set_req(9, 2, "b"), 1).submit.at(0).cmd;
  CHECK(b.sequence == 2);
  // A session with a command not yet applied is never forgotten.
  for (int i = 0; i < 20; ++i)
    t.on_tick();
  CHECK(t.sessions() == 1);
}

TEST_CASE("a command every copy of which was refused is answered not applied "
          "after the grace, and its number is given back") {
  client_table_config cfg;
  cfg.self = 1;
  cfg.resend_ticks = 3;
  cfg.refuse_after_ticks = 5;
  client_table t(cfg);
  auto first = t.on_request(set_req(9, 1, "a")).submit.at(0);
  CHECK(first.attempt == 1);
  t.on_refused({9, 1, 1, "no leader known"});
  std::vector<client_answer> answers;
  std::vector<client_command> sent;
  for (int i = 0; i < 5; ++i) {
    auto s = t.on_tick();
    for (auto& c : s.submit) {
      sent.push_back(c);
      t.on_refused({9, 1, c.attempt, "no leader known"});
    }
    for (auto& a : s.answers)
      answers.push_back(a);
  }
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].result.kind == result_kind::not_applied);
  CHECK(answers[0].result.text == "no leader known");
  CHECK(t.unapplied() == 0);
  // The number is free again: the next command is sequence 1.
  auto next = t.on_request(set_req(9, 2, "b")).submit.at(0);
  CHECK(next.cmd.sequence == 1);
}

TEST_CASE("a command with a copy not refused is never answered not applied") {
  client_table_config cfg;
  cfg.self = 1;
  cfg.resend_ticks = 2;
  cfg.refuse_after_ticks = 1;
  cfg.timeout_ticks = 20;
  client_table t(cfg);
  t.on_request(set_req(9, 1, "a"));
  std::vector<client_answer> answers;
  for (int i = 0; i < 25; ++i) {
    auto s = t.on_tick();
    // Every copy but the first is refused; the first may still be applied.
    for (auto& c : s.submit)
      t.on_refused({9, 1, c.attempt, "no leader known"});
    for (auto& a : s.answers)
      answers.push_back(a);
  }
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].result.kind == result_kind::unknown);
}

TEST_CASE("a caller that never waits for answers is refused beyond the "
          "session's bound, without growing the table") {
  client_table_config cfg;
  cfg.self = 1;
  cfg.session_requests_max = 4;
  client_table t(cfg);
  for (uint64_t n = 1; n <= 4; ++n)
    CHECK(t.on_request(get_req(9, n, read_level::leader)).answers.empty());
  auto refused = t.on_request(get_req(9, 5, read_level::leader));
  REQUIRE(refused.answers.size() == 1);
  CHECK(refused.answers[0].request == 5);
  CHECK(refused.answers[0].result.kind == result_kind::not_applied);
  CHECK(t.waiting() == 4);
}
