// The state writer: owns a learner's state store and commits the state
// machine's changes behind the apply path.
//
// It runs detached (its own thread), so an fsync never blocks CAF's
// scheduler or the acceptor's disk actor. Changes that queue up while a
// commit runs are merged into the next one (only the last value of each
// record is written). A failed commit (a full disk or map) keeps its
// changes pending, merged with later ones, and is tried again a second
// later: what is on disk is always the state after some whole slot, and
// the learner is told how far that is.
#include "actors/spawn.hpp"

#include <vector>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "protocol/kv_machine.hpp"

namespace paxoskv {

namespace {

struct state_writer_state {
  std::unique_ptr<state_store> store;
  node_id node = 0;
  /// Changes not yet committed (after a failure: all since the last good
  /// commit), and the requests waiting for them.
  std::optional<state_write> pending;
  std::vector<caf::typed_response_promise<state_done>> waiting;
  bool commit_scheduled = false;
  bool failing = false;
};

state_actor::behavior_type
state_writer_impl(state_actor::stateful_pointer<state_writer_state> self,
                  std::shared_ptr<std::unique_ptr<state_store>> st,
                  node_id node) {
  self->state.store = std::move(*st);
  self->state.node = node;
  return {
    [=](state_write_request& r) -> caf::typed_response_promise<state_done> {
      auto& s = self->state;
      auto rp = self->make_response_promise<state_done>();
      if (s.pending)
        s.pending->merge(std::move(r.write));
      else
        s.pending = std::move(r.write);
      s.waiting.push_back(rp);
      if (!s.commit_scheduled) {
        s.commit_scheduled = true;
        self->send(self, commit_atom_v);
      }
      return rp;
    },
    [=](commit_atom) {
      auto& s = self->state;
      s.commit_scheduled = false;
      if (!s.pending)
        return;
      auto err = s.store->commit(*s.pending);
      if (err) {
        if (!s.failing)
          log_line(log_level::error, s.node, "state",
                   "writing the state machine failed (tried again every "
                   "second; the log keeps what is not written): "
                     + err->message);
        s.failing = true;
        for (auto& rp : s.waiting)
          rp.deliver(state_done{false, 0, err->message});
        s.waiting.clear();
        s.commit_scheduled = true;
        self->delayed_send(self, std::chrono::seconds(1), commit_atom_v);
        return;
      }
      if (s.failing)
        log_line(log_level::info, s.node, "state",
                 "writing the state machine works again");
      s.failing = false;
      auto applied = s.pending->applied;
      s.pending.reset();
      for (auto& rp : s.waiting)
        rp.deliver(state_done{true, applied, {}});
      s.waiting.clear();
    },
    [=](serve_snapshot& m) {
      return serve_chunk(*self->state.store, self->state.node, m.request);
    },
    [=](store_snapshot_chunk& m) {
      auto err = self->state.store->store_chunk(m.chunk);
      if (err)
        log_line(log_level::error, self->state.node, "state",
                 "storing a snapshot chunk failed: " + err->message);
      return err ? chunk_stored{false, err->message} : chunk_stored{};
    },
    [=](install_snapshot) {
      // The snapshot replaces the whole state: changes still queued are
      // older than it and are dropped with it.
      auto& s = self->state;
      auto sm = std::make_shared<kv_machine>();
      if (auto err = s.store->install_snapshot(*sm))
        return snapshot_installed{nullptr, err->message};
      s.pending.reset();
      for (auto& rp : s.waiting)
        rp.deliver(state_done{true, sm->applied(), {}});
      s.waiting.clear();
      return snapshot_installed{sm, {}};
    },
  };
}

} // namespace

state_actor spawn_state_writer(caf::actor_system& sys,
                               std::unique_ptr<state_store> st, node_id node,
                               bool detached) {
  auto holder = std::make_shared<std::unique_ptr<state_store>>(std::move(st));
  if (detached)
    return sys.spawn<caf::detached>(state_writer_impl, holder, node);
  return sys.spawn(state_writer_impl, holder, node);
}

} // namespace paxoskv
