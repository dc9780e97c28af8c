// The disk actor: owns a process's store and group-commits.
//
// It runs detached (its own thread), so an fsync never blocks CAF's
// scheduler. Write requests that queue up while a commit runs are merged
// into the next commit: a burst of accepts costs one fsync. It answers every
// request, in order, once its commit returned. A write of chosen marks only
// (durable_batch::deferrable) waits up to `defer_max` for another write to
// share its commit; a shell that holds replies behind it sends commit_atom.
#include "actors/spawn.hpp"

#include <chrono>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace paxoskv {

namespace {

struct disk_state {
  std::unique_ptr<store> disk;
  node_id node = 0;
  std::vector<std::pair<durable_batch, caf::typed_response_promise<write_done>>>
    pending;
  bool commit_scheduled = false;
  /// A flush_atom is on its way (the deadline of deferred writes).
  bool deferred_scheduled = false;
};

/// How long a deferrable write waits for company before it commits alone.
constexpr auto defer_max = std::chrono::milliseconds(5);

void commit_pending(disk_state& st) {
  if (st.pending.empty())
    return;
  durable_batch merged;
  for (auto& [batch, rp] : st.pending) {
    merged.acceptor.merge(std::move(batch.acceptor));
    if (batch.proposer_round)
      merged.proposer_round = batch.proposer_round;
  }
  auto err = st.disk->commit(merged);
  if (err)
    log_line(log_level::error, st.node, "disk", err->message);
  for (auto& [batch, rp] : st.pending)
    rp.deliver(err ? write_done{false, err->message} : write_done{});
  st.pending.clear();
}

disk_actor::behavior_type
disk_impl(disk_actor::stateful_pointer<disk_state> self,
          std::shared_ptr<std::unique_ptr<store>> disk, node_id node) {
  self->state.disk = std::move(*disk);
  self->state.node = node;
  return {
    [=](write_request& w) -> caf::typed_response_promise<write_done> {
      auto& st = self->state;
      auto rp = self->make_response_promise<write_done>();
      bool defer = w.batch.deferrable();
      st.pending.emplace_back(std::move(w.batch), rp);
      if (defer) {
        if (!st.commit_scheduled && !st.deferred_scheduled) {
          st.deferred_scheduled = true;
          self->delayed_send(self, defer_max, flush_atom_v);
        }
      } else if (!st.commit_scheduled) {
        // The commit runs after every request already queued: group commit.
        st.commit_scheduled = true;
        self->send(self, commit_atom_v);
      }
      return rp;
    },
    [=](commit_atom) {
      self->state.commit_scheduled = false;
      commit_pending(self->state);
    },
    [=](flush_atom) {
      self->state.deferred_scheduled = false;
      commit_pending(self->state);
    },
  };
}

} // namespace

disk_actor spawn_disk(caf::actor_system& sys, std::unique_ptr<store> disk,
                      node_id node, bool detached) {
  auto holder = std::make_shared<std::unique_ptr<store>>(std::move(disk));
  if (detached)
    return sys.spawn<caf::detached>(disk_impl, holder, node);
  return sys.spawn(disk_impl, holder, node);
}

} // namespace paxoskv
