#include <doctest/doctest.h>

#include "protocol/codec.hpp"
#include "protocol/membership.hpp"

using namespace paxoskv;

namespace {

member voter(node_id id, uint64_t incarnation = 0) {
  return member{id, "10.0.0." + std::to_string(id), 7000, role_all, true,
                incarnation};
}

configuration config_of(uint64_t epoch, std::vector<member> members,
                        uint32_t alpha = 8) {
  configuration c;
  c.epoch = epoch;
  c.alpha = alpha;
  c.members = std::move(members);
  return c;
}

} // namespace

TEST_CASE("roles print and parse") {
  CHECK(roles_to_string(role_all) == "acceptor,proposer,learner,elector");
  CHECK(parse_roles("learner,acceptor") == uint8_t{role_learner | role_acceptor});
  CHECK_FALSE(parse_roles("learner,leader"));
  CHECK_FALSE(parse_roles(""));
}

TEST_CASE("a configuration's quorums count its voting acceptors only") {
  auto c = config_of(1, {voter(1), voter(2), voter(3)});
  auto learner = voter(4);
  learner.voter = false;
  c.members.push_back(learner);
  auto elector_only = voter(5);
  elector_only.roles = role_elector;
  c.members.push_back(elector_only);
  CHECK(check(c).empty());
  CHECK(c.voters() == std::vector<node_id>{1, 2, 3});
  CHECK(c.with_role(role_learner) == std::vector<node_id>{1, 2, 3, 4});
  CHECK(c.with_role(role_elector) == std::vector<node_id>{1, 2, 3, 5});
  CHECK_FALSE(c.is_quorum({1, 4, 5}));
  CHECK(c.is_quorum({1, 3}));
  CHECK_FALSE(c.is_voter(4));
}

TEST_CASE("a reply counts only from the member's own data directory") {
  auto c = config_of(2, {voter(1, 11), voter(2), voter(3, 33)});
  CHECK(c.counts(1, 11));
  CHECK_FALSE(c.counts(1, 12)); // node 1 with a wiped disk
  CHECK(c.counts(2, 99));       // not sealed yet: any
  CHECK_FALSE(c.counts(4, 11)); // not a member
}

TEST_CASE("check refuses configurations that cannot work") {
  CHECK_FALSE(check(config_of(0, {voter(1)})).empty());
  CHECK_FALSE(check(config_of(1, {voter(2), voter(1)})).empty());
  CHECK_FALSE(check(config_of(1, {voter(1), voter(1)})).empty());
  auto l = voter(1);
  l.voter = false;
  CHECK_FALSE(check(config_of(1, {l})).empty());
  auto nohost = voter(1);
  nohost.host.clear();
  CHECK_FALSE(check(config_of(1, {nohost})).empty());
  CHECK_FALSE(check(config_of(1, {voter(1)}, 0)).empty());
}

TEST_CASE("a configuration chosen at slot i governs from i + alpha") {
  auto h = bootstrap_history(config_of(1, {voter(1), voter(2), voter(3)}));
  auto next = config_of(2, {voter(1), voter(2), voter(3), voter(4)});
  CHECK(h.on_chosen(100, next));
  CHECK(h.at(0).epoch == 1);
  CHECK(h.at(107).epoch == 1);
  CHECK(h.at(108).epoch == 2);
  CHECK(h.pending(107));
  CHECK_FALSE(h.pending(108));
  CHECK(h.governing(100, 108).size() == 1);
  CHECK(h.governing(100, 109).size() == 2);
  // Learning it again changes nothing; an epoch gap is refused.
  CHECK(h.on_chosen(100, next));
  CHECK(h.entries.size() == 2);
  CHECK_FALSE(h.on_chosen(120, config_of(4, {voter(1)})));
  // Trimming keeps what governs the slots from x on.
  auto copy = h;
  copy.trim(107);
  CHECK(copy.entries.size() == 2);
  copy.trim(108);
  CHECK(copy.entries.size() == 1);
  CHECK(copy.at(0).epoch == 2);
}

TEST_CASE("histories merge what the other knows beyond, and refuse conflicts") {
  auto base = bootstrap_history(config_of(1, {voter(1), voter(2), voter(3)}));
  auto ahead = base;
  ahead.on_chosen(10, config_of(2, {voter(1), voter(2)}));
  ahead.on_chosen(30, config_of(3, {voter(1), voter(2), voter(5)}));
  auto mine = base;
  CHECK(mine.merge(ahead));
  CHECK(mine == ahead);
  auto trimmed = ahead;
  trimmed.trim(100);
  auto other = base;
  // A trimmed history connects only when it continues this one.
  CHECK_FALSE(other.merge(trimmed));
  auto conflict = base;
  conflict.on_chosen(10, config_of(2, {voter(1), voter(3)}));
  CHECK_FALSE(conflict.merge(ahead));
}

TEST_CASE("a history survives its byte encoding, and damage is refused") {
  auto h = bootstrap_history(config_of(1, {voter(1, 5), voter(2), voter(3)}));
  auto l = voter(4, 9);
  l.voter = false;
  l.roles = role_learner;
  h.on_chosen(40, config_of(2, {voter(1, 5), voter(2), voter(3), l}));
  auto bytes = encode_history(h);
  auto back = decode_history(bytes);
  REQUIRE(back);
  CHECK(*back == h);
  for (size_t cut = 0; cut < bytes.size(); ++cut)
    CHECK_FALSE(decode_history(bytes.substr(0, cut)));
  CHECK_FALSE(decode_history(bytes + "x"));
  auto bad = bytes;
  bad[bad.size() - 9] = 7; // the learner's voter byte
  CHECK_FALSE(decode_history(bad));
}

TEST_CASE("the newest configuration listing a node says which data "
          "directory it is") {
  config_history h = bootstrap_history(config_of(1, {voter(1), voter(2)}));
  // Listed without an incarnation: a bootstrapped directory is it, one
  // that joined is not.
  CHECK_FALSE(lists_as_another(h, 1, 5, true));
  CHECK(lists_as_another(h, 1, 5, false));
  CHECK_FALSE(lists_as_another(h, 3, 5, false)); // Not listed at all.
  CHECK(h.on_chosen(10, config_of(2, {voter(1, 5), voter(2, 6)})));
  CHECK_FALSE(lists_as_another(h, 1, 5, true));
  CHECK(lists_as_another(h, 1, 9, true)); // A wiped disk.
  // Removed, then added again with its new directory.
  CHECK(h.on_chosen(20, config_of(3, {voter(2, 6)})));
  CHECK(h.on_chosen(30, config_of(4, {voter(1, 9), voter(2, 6)})));
  CHECK_FALSE(lists_as_another(h, 1, 9, false));
  CHECK(lists_as_another(h, 1, 5, true));
  CHECK_FALSE(lists_as_another(h, 1, 0, false)); // Unknown: tests.
}
