// Actor-level tests: CAF's deterministic scheduler for the shells, and a
// real middleman connection for every message type.
#include <doctest/doctest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/deep_to_string.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/spawn.hpp"
#include "actors/type_ids.hpp"
#include "test/helpers.hpp"
#include "test/samples.hpp"

using namespace paxoskv;
using namespace paxoskv::test;

namespace {

struct test_config : caf::actor_system_config {
  test_config() {
    set("scheduler.policy", caf::atom("testing"));
    add_message_types<caf::id_block::paxoskv>();
  }
};

struct net_config : caf::actor_system_config {
  net_config() {
    load<caf::io::middleman>();
    add_message_types<caf::id_block::paxoskv>();
    set("scheduler.max-threads", 2);
  }
};

/// What a stand-in proposer received, and what the store held right then.
struct probe_log {
  std::vector<promise> promises;
  std::vector<ballot> durable_promise_at_receipt;
  std::vector<success_ack> success_acks;
  /// Slots marked chosen on disk when each success_ack arrived.
  std::vector<size_t> durable_marks_at_ack;
};

size_t marks_on(const memory_store* disk) {
  size_t n = 0;
  for (auto& [slot, e] : disk->state().acceptor.entries)
    n += e.chosen ? 1 : 0;
  return n;
}

proposer_actor::behavior_type probe_proposer(proposer_actor::pointer,
                                             std::shared_ptr<probe_log> log,
                                             const memory_store* disk) {
  return {
    [=](promise& m) {
      log->promises.push_back(m);
      log->durable_promise_at_receipt.push_back(
        disk->state().acceptor.promised);
    },
    [](accepted&) {},
    [](nack&) {},
    [=](success_ack& m) {
      log->success_acks.push_back(m);
      log->durable_marks_at_ack.push_back(marks_on(disk));
    },
    [](leader_change&) {},
    [](client_command&) {},
    [](client_batch&) {},
    [](read_request&) {},
    [](read_probe_ack&) {},
    [](membership_request&) { return membership_reply{}; },
    [](learner_progress&) {},
    [](flush_atom) {},
    [](tick_atom) {},
    [](route_table&) {},
    [=](status_atom) { return proposer_status{}; },
  };
}

/// Acceptor 1 over a memory store and its disk actor, on CAF's test
/// coordinator, with a stand-in proposer 2 recording what it receives.
struct acceptor_rig {
  test_config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched =
    dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  const memory_store* store_view = nullptr;
  disk_actor disk;
  acceptor_actor acc;
  std::shared_ptr<probe_log> log = std::make_shared<probe_log>();
  proposer_actor probe;

  acceptor_rig() {
    auto store_owned = std::make_unique<memory_store>();
    store_view = store_owned.get();
    disk = spawn_disk(sys, std::move(store_owned), 1, false);
    acceptor_config acfg;
    acfg.self = 1;
    acc = spawn_acceptor(sys, acfg, {}, disk);
    probe = sys.spawn(probe_proposer, log, store_view);
    route_table routes;
    routes.nodes[1].node = 1;
    routes.nodes[1].acceptor = acc;
    routes.nodes[2].node = 2;
    routes.nodes[2].proposer = probe;
    caf::anon_send(acc, routes);
    sched.run();
  }

  ~acceptor_rig() {
    caf::anon_send_exit(acc, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(disk, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(probe, caf::exit_reason::user_shutdown);
    sched.run();
  }
};

} // namespace

TEST_CASE("the acceptor actor answers a prepare only after the disk actor "
          "committed the promise") {
  acceptor_rig rig;
  auto& [cfg, sys, sched, store_view, disk, acc, log, probe] = rig;
  caf::anon_send(acc, prepare{ballot{3, 2}, 0, 2});
  // One step: the acceptor handles the prepare and asks the disk actor.
  sched.run_once();
  CHECK(log->promises.empty());
  CHECK(store_view->state().acceptor.promised.is_zero());
  sched.run();
  REQUIRE(log->promises.size() == 1);
  CHECK(log->promises[0].b == ballot{3, 2});
  // When the promise arrived, it was already durable.
  CHECK(log->durable_promise_at_receipt[0] == ballot{3, 2});
  // A burst of accepts becomes one group commit.
  for (slot_t s = 0; s < 10; ++s)
    caf::anon_send(acc, accept{ballot{3, 2}, s,
                               batch_of(set_cmd(1, s + 1, "k", "v")), 0, 2});
  sched.run();
  CHECK(store_view->state().acceptor.entries.size() == 10);
}

TEST_CASE("a success's chosen marks share the next commit, or commit after "
          "at most the deferral; its ack waits for them") {
  acceptor_rig rig;
  auto& [cfg, sys, sched, store_view, disk, acc, log, probe] = rig;
  ballot b{3, 2};
  auto value = [](slot_t s) { return batch_of(set_cmd(1, s + 1, "k", "v")); };
  caf::anon_send(acc, prepare{b, 0, 2});
  caf::anon_send(acc, accept{b, 0, value(0), 0, 2});
  sched.run();
  REQUIRE(store_view->state().acceptor.entries.size() == 1);
  // Slot 0 is chosen: the mark waits for company, and so does its ack.
  caf::anon_send(acc, success{{{0, value(0)}}, 2, 0, {}});
  sched.run();
  CHECK(log->success_acks.empty());
  CHECK(marks_on(store_view) == 0);
  // The next accept's commit takes the mark along; the ack follows it.
  caf::anon_send(acc, accept{b, 1, value(1), 0, 2});
  sched.run();
  REQUIRE(log->success_acks.size() == 1);
  CHECK(log->durable_marks_at_ack[0] == 1);
  CHECK(store_view->state().acceptor.entries.size() == 2);
  // With nothing else to write, the mark commits after the deferral.
  caf::anon_send(acc, success{{{1, value(1)}}, 2, 0, {}});
  sched.run();
  CHECK(log->success_acks.size() == 1);
  sched.advance_time(std::chrono::milliseconds(5));
  sched.run();
  REQUIRE(log->success_acks.size() == 2);
  CHECK(log->durable_marks_at_ack[1] == 2);
  // A reply with no write of its own, held behind a deferred mark, asks
  // the disk actor to commit at once (no deferral to wait out).
  caf::anon_send(acc, accept{b, 2, value(2), 0, 2});
  sched.run();
  caf::anon_send(acc, success{{{2, value(2)}}, 2, 0, {}});
  caf::anon_send(acc, prepare{b, 3, 2}); // The same promise: no write.
  sched.run();
  CHECK(log->success_acks.size() == 3);
  CHECK(log->durable_marks_at_ack[2] == 3);
  CHECK(log->promises.size() == 2);
}

namespace {

/// Echoes whatever it receives.
caf::behavior echo(caf::event_based_actor* self) {
  self->set_default_handler(caf::reflect);
  return {[] {}};
}

} // namespace

TEST_CASE("every message type crosses a real middleman connection intact") {
  net_config server_cfg, client_cfg;
  caf::actor_system server{server_cfg};
  caf::actor_system client{client_cfg};
  auto e = server.spawn(echo);
  auto port = server.middleman().publish(e, 0, "127.0.0.1");
  REQUIRE(port);
  auto remote = client.middleman().remote_actor("127.0.0.1", *port);
  REQUIRE(remote);
  caf::scoped_actor self{client};
  auto roundtrip = [&](auto value) {
    using type = decltype(value);
    bool same = false;
    self->request(*remote, std::chrono::seconds(10), value)
      .receive(
        [&](type& back) {
          same = caf::deep_to_string(back) == caf::deep_to_string(value);
        },
        [&](caf::error& err) { FAIL_CHECK(client.render(err)); });
    return same;
  };
  for (auto& m : sample_messages()) {
    CAPTURE(name_of(m));
    CHECK(std::visit(roundtrip, m));
  }
  CHECK(roundtrip(client_request{command{1, 2, op_code::set, {"k", "v"}}}));
  CHECK(roundtrip(
    client_request{command{1, 3, op_code::get, {"k"}}, read_level::lease}));
  CHECK(roundtrip(acceptor_status{1, ballot{2, 3}, 4, 5, 6, 7}));
  CHECK(roundtrip(
    proposer_status{1, "leading", ballot{2, 1}, 1, 3, 4, 1, 0, 150}));
  CHECK(roundtrip(learner_status{1, 9, 3, 0, 2}));
  CHECK(roundtrip(elector_status{1, 3, {2, 3}, {2, 3}}));
  self->send_exit(e, caf::exit_reason::user_shutdown);
}
