#include <doctest/doctest.h>

#include "protocol/elector.hpp"
#include "test/helpers.hpp"

using namespace paxoskv;
using namespace paxoskv::test;

namespace {

elector make_elector(node_id self, std::vector<node_id> nodes = {1, 2, 3}) {
  elector_config cfg;
  cfg.self = self;
  cfg.nodes = std::move(nodes);
  cfg.heartbeat_ticks = 2;
  cfg.election_timeout_ticks = 4;
  return elector(cfg);
}

/// Elector 4 of electors 4 and 5, which live apart from acceptors 1, 2, 3.
elector split_elector() {
  elector_config cfg;
  cfg.self = 4;
  cfg.nodes = {4, 5};
  cfg.acceptors = {1, 2, 3};
  cfg.heartbeat_ticks = 2;
  cfg.election_timeout_ticks = 4;
  return elector(cfg);
}

/// Ticks `e` n times, delivering the heartbeats `from` every tick, each a
/// newer one of its sender (sequence numbers keep growing).
void run(elector& e, int n, const std::vector<heartbeat>& from) {
  static uint64_t seq = 0;
  for (int i = 0; i < n; ++i) {
    e.on_tick();
    ++seq;
    for (auto h : from) {
      h.seq = seq;
      e.on_heartbeat(h);
    }
  }
}

} // namespace

TEST_CASE("no leader is named before one election timeout has passed") {
  auto e = make_elector(1);
  e.on_tick();
  e.on_heartbeat(heartbeat{3, 0, {1, 2}, {3}});
  CHECK(e.leader() == 0);
  run(e, 4, {heartbeat{3, 3, {1, 2}, {3}}});
  CHECK(e.leader() == 3);
}

TEST_CASE("a node that does not claim eligibility is not elected") {
  auto e = make_elector(1);
  run(e, 6, {heartbeat{3, 0, {1}, {}}});
  CHECK(e.leader() == 1);
}

TEST_CASE("the highest id among nodes that hear a majority leads") {
  auto e = make_elector(2);
  run(e, 6, {heartbeat{1, 0, {2, 3}, {1}}, heartbeat{3, 0, {1, 2}, {3}}});
  CHECK(e.leader() == 3);
}

TEST_CASE("when the leader falls silent the next highest takes over within "
          "two heartbeat timeouts") {
  auto e = make_elector(2);
  run(e, 6, {heartbeat{3, 3, {1, 2}, {3, 1, 2}},
             heartbeat{1, 3, {2, 3}, {1, 3, 2}}});
  CHECK(e.leader() == 3);
  // Node 3 dies: node 1 soon stops listing it too.
  int ticks = 0;
  while (e.leader() == 3 && ticks < 20) {
    run(e, 1, {heartbeat{1, 3, {2}, {1, 2}}});
    ++ticks;
  }
  CHECK(e.leader() == 2);
  CHECK(ticks <= 2 * 4 + 1);
}

TEST_CASE("a single broken link to the leader does not change the leader") {
  // Node 2 cannot hear node 3, but node 1 hears 3, and 3 hears a majority.
  auto e = make_elector(2);
  run(e, 20, {heartbeat{1, 3, {2, 3}, {1, 2, 3}}});
  CHECK(e.leader() == 3);
}

TEST_CASE("a node reachable through a single link is never elected") {
  // Five nodes; node 5 hears only node 1. Node 4 hears 1, 2, 3.
  auto e = make_elector(4, {1, 2, 3, 4, 5});
  run(e, 20, {heartbeat{1, 4, {2, 3, 4, 5}, {1, 2, 3, 4}},
              heartbeat{2, 4, {1, 3, 4}, {1, 2, 3, 4}},
              heartbeat{3, 4, {1, 2, 4}, {1, 2, 3, 4}}});
  CHECK(e.leader() == 4);
  auto five = make_elector(5, {1, 2, 3, 4, 5});
  run(five, 20, {heartbeat{1, 4, {2, 3, 4, 5}, {1, 2, 3, 4}}});
  CHECK(five.leader() == 4);
}

TEST_CASE("with roles in separate processes, reaching a majority of the "
          "acceptors makes an elector eligible") {
  // Electors 4 and 5, acceptors 1, 2, 3: node 4 alone hears no other
  // elector but reaches acceptors 1 and 3.
  auto e = split_elector();
  e.set_reachable_acceptors({1});
  run(e, 10, {});
  CHECK(e.leader() == 0);
  e.set_reachable_acceptors({1, 3});
  run(e, 1, {});
  CHECK(e.leader() == 4);
}

TEST_CASE("an isolated node names no leader") {
  auto e = make_elector(3);
  run(e, 20, {});
  CHECK(e.leader() == 0);
}

TEST_CASE("heartbeats go to every other node every T ticks, with the leader "
          "decision repeated to the local proposer") {
  auto e = make_elector(1);
  std::vector<envelope> sent;
  for (int i = 0; i < 8; ++i) {
    for (auto& env : e.on_tick().send_now)
      sent.push_back(env);
    e.on_heartbeat(heartbeat{2, 0, {1}, {2}});
  }
  CHECK(of_type<heartbeat>(sent).size() == 4 * 2);
  auto changes = of_type<leader_change>(sent);
  REQUIRE(!changes.empty());
  CHECK(changes.back().first == 1);
  CHECK(changes.back().second.leader == 2);
}

TEST_CASE("a restarted node with the highest id does not take the lead back") {
  // Node 3 led, died, and node 2 took over; node 3 restarts and hears
  // nodes 1 and 2 name 2. Taking the lead back would cost a second
  // failover for nothing.
  auto e = make_elector(3);
  run(e, 12, {heartbeat{1, 2, {2, 3}, {1, 2, 3}},
              heartbeat{2, 2, {1, 3}, {2, 1, 3}}});
  CHECK(e.leader() == 2);
  // Once node 2 is gone, the highest eligible id leads again.
  int ticks = 0;
  while (e.leader() == 2 && ticks < 30) {
    run(e, 1, {heartbeat{1, 2, {3}, {1, 3}}});
    ++ticks;
  }
  CHECK(e.leader() == 3);
}

TEST_CASE("nodes that name different leaders converge on the highest "
          "eligible one named") {
  auto e = make_elector(1);
  run(e, 12, {heartbeat{2, 2, {1, 3}, {2, 1, 3}},
              heartbeat{3, 3, {1, 2}, {3, 1, 2}}});
  CHECK(e.leader() == 3);
}

TEST_CASE("two electors cut from each other agree on one leader through "
          "relayed heartbeats") {
  // Electors 4 and 5 live apart from acceptors 1, 2, 3 and both reach
  // them; the link 4-5 is cut, so 5's heartbeats reach 4 only relayed.
  auto alone = split_elector();
  alone.set_reachable_acceptors({1, 2, 3});
  run(alone, 10, {});
  CHECK(alone.leader() == 4); // Without word from 5: it leads itself.
  auto e = split_elector();
  e.set_reachable_acceptors({1, 2, 3});
  heartbeat from5{5, 5, {}, {5}, true};
  run(e, 10, {from5});
  CHECK(e.leader() == 5);
  CHECK(e.heard_directly().empty());
}

TEST_CASE("a relayed heartbeat never counts as heard directly") {
  // Node 2 gets only relayed heartbeats from 1 and 3: it reaches no
  // majority itself, so it is not eligible, though it follows their word.
  auto e = make_elector(2);
  heartbeat from1{1, 3, {3}, {1, 3}, true};
  heartbeat from3{3, 3, {1}, {1, 3}, true};
  run(e, 10, {from1, from3});
  CHECK(e.heard_directly().empty());
  CHECK_FALSE(e.eligible());
  CHECK(e.leader() == 3);
}

TEST_CASE("a stale copy of a heartbeat, overtaken by a newer one, changes "
          "nothing") {
  // Node 3 led and now names 2; a relayed copy of its older heartbeat
  // naming itself arrives late. It must not bring 3 back.
  auto e = make_elector(1);
  heartbeat from2{2, 2, {1, 3}, {2, 1, 3}, false, 0, 22};
  heartbeat from3{3, 2, {1, 2}, {3, 1, 2}, false, 0, 33};
  for (uint64_t t = 1; t <= 12; ++t) {
    e.on_tick();
    from2.seq = from3.seq = 100 + t;
    e.on_heartbeat(from2);
    e.on_heartbeat(from3);
  }
  REQUIRE(e.leader() == 2);
  heartbeat old3{3, 3, {1, 2}, {3, 1, 2}, true, 50, 33};
  auto step = e.on_heartbeat(old3);
  CHECK_FALSE(step.leader_changed);
  CHECK(e.leader() == 2);
  // A copy from a new incarnation of 3 (another boot id) does count.
  heartbeat reborn{3, 3, {1, 2}, {3, 1, 2}, false, 1, 34};
  e.on_heartbeat(reborn);
  CHECK(e.leader() == 3);
}
