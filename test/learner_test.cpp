#include <doctest/doctest.h>

#include "protocol/learner.hpp"
#include "test/helpers.hpp"

using namespace paxoskv;
using namespace paxoskv::test;

namespace {

learner make_learner(size_t buffer = 16) {
  learner_config cfg;
  cfg.self = 2;
  cfg.acceptors = {1, 2, 3};
  cfg.poll_ticks = 4;
  cfg.buffer_slots_max = buffer;
  return learner(cfg);
}

chosen one(slot_t slot, log_value v) {
  return chosen{{chosen_entry{slot, std::move(v)}}};
}

} // namespace

TEST_CASE("learner applies slots strictly in order") {
  auto l = make_learner();
  auto early = l.on_chosen(one(1, batch_of(set_cmd(1, 2, "k", "second"))));
  CHECK(early.applied.empty());
  CHECK(l.data().empty());
  auto both = l.on_chosen(one(0, batch_of(set_cmd(1, 1, "k", "first"))));
  REQUIRE(both.applied.size() == 2);
  CHECK(both.applied[0].slot == 0);
  CHECK(both.applied[1].slot == 1);
  CHECK(l.data().at("k") == "second");
  CHECK(l.next_slot() == 2);
}

TEST_CASE("a duplicate client command applies once and gets the saved reply") {
  auto l = make_learner();
  auto first = l.on_chosen(one(0, batch_of(set_cmd(5, 1, "k", "a"))));
  REQUIRE(first.outcomes.size() == 1);
  CHECK_FALSE(first.outcomes[0].duplicate);
  l.on_chosen(one(1, batch_of(set_cmd(6, 1, "k", "b"))));
  // The same (client, sequence) chosen again, e.g. re-proposed after a
  // leader change: the state must not go back to "a".
  auto again = l.on_chosen(one(2, batch_of(set_cmd(5, 1, "k", "a"))));
  REQUIRE(again.outcomes.size() == 1);
  CHECK(again.outcomes[0].duplicate);
  CHECK(again.outcomes[0].result == first.outcomes[0].result);
  CHECK(l.data().at("k") == "b");
  CHECK(l.saved_reply(5, 1).has_value());
}

TEST_CASE("the state machine implements GET, SET, DEL and NOP") {
  auto l = make_learner();
  log_value v;
  v.commands = {
    command{1, 1, op_code::get, "k", ""},
    command{1, 2, op_code::set, "k", "v"},
    command{1, 3, op_code::get, "k", ""},
    command{1, 4, op_code::del, "k", ""},
    command{1, 5, op_code::del, "k", ""},
    command{1, 6, op_code::nop, "", ""},
  };
  auto step = l.on_chosen(one(0, v));
  REQUIRE(step.outcomes.size() == 6);
  CHECK(step.outcomes[0].result.kind == result_kind::nil);
  CHECK(step.outcomes[1].result.kind == result_kind::ok);
  CHECK(step.outcomes[2].result == command_result{result_kind::value, "v", 0});
  CHECK(step.outcomes[3].result.number == 1);
  CHECK(step.outcomes[4].result.number == 0);
  CHECK(step.outcomes[5].result.kind == result_kind::ok);
  CHECK(l.data().empty());
  // A NOP slot (empty batch) is applied and changes nothing.
  CHECK(l.on_chosen(one(1, nop_value())).applied.size() == 1);
  CHECK(l.next_slot() == 2);
}

TEST_CASE("old retries beyond the saved replies are not applied again") {
  learner_config cfg;
  cfg.self = 2;
  cfg.acceptors = {1};
  cfg.replies_per_client_max = 2;
  learner l(cfg);
  for (uint64_t seq = 1; seq <= 3; ++seq)
    l.on_chosen(one(seq - 1, batch_of(set_cmd(5, seq, "k",
                                               "v" + std::to_string(seq)))));
  auto stale = l.on_chosen(one(3, batch_of(set_cmd(5, 1, "k", "v1"))));
  CHECK(stale.outcomes.empty());
  CHECK(l.data().at("k") == "v3");
}

TEST_CASE("learner asks acceptors in turn for what it misses") {
  auto l = make_learner();
  std::vector<uint64_t> asked;
  for (int i = 0; i < 12; ++i)
    for (auto& [to, r] : of_type<learn_request>(l.on_tick().send_now)) {
      CHECK(r.from_slot == 0);
      asked.push_back(to);
    }
  CHECK(asked == std::vector<uint64_t>{1, 2, 3});
}

TEST_CASE("learner buffers a bounded number of slots ahead") {
  auto l = make_learner(4);
  l.on_chosen(one(10, nop_value()));
  CHECK(l.buffered() == 0);
  l.on_chosen(one(3, nop_value()));
  CHECK(l.buffered() == 1);
}
