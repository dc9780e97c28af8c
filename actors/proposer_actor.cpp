// The proposer shell: timers become ticks, writes (the round) go to the disk
// actor, prepares leave once the round is durable.
#include "actors/spawn.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace paxoskv {

namespace {

struct proposer_shell_state : durable_shell_state<proposer> {
  tick_duration tick{10};
  node_id node = 0;
  proposer_phase last_phase = proposer_phase::follower;
  /// A flush of the forward buffer is queued behind the current mailbox.
  bool flush_scheduled = false;
};

using proposer_pointer = proposer_actor::stateful_pointer<proposer_shell_state>;

void handle(proposer_pointer self, proposer_step step) {
  auto& st = self->state;
  auto node = st.node;
  for (auto& l : step.notices)
    log_line(log_level::info, node, "proposer", l);
  for (auto& l : step.log)
    log_line(log_level::debug, node, "proposer", l);
  apply_durable_step(self, std::move(step), node, "proposer");
  // Commands for the leader leave together once everything already queued
  // here was handled: one message per batch, not per command.
  if (st.core->forwards_buffered() > 0 && !st.flush_scheduled) {
    st.flush_scheduled = true;
    self->send(self, flush_atom_v);
  }
  auto phase = st.core->phase();
  if (phase != st.last_phase) {
    st.last_phase = phase;
    log_line(phase == proposer_phase::leading ? log_level::info
                                              : log_level::debug,
             node, "proposer",
             "phase " + to_string(phase) + " ballot "
               + to_string(st.core->current_ballot()));
  }
}

proposer_actor::behavior_type
proposer_shell(proposer_pointer self, proposer_config cfg, uint64_t round,
               disk_actor disk, tick_duration tick) {
  self->state.node = cfg.self;
  self->state.core = std::make_unique<proposer>(std::move(cfg), round);
  self->state.disk = disk;
  self->state.tick = tick;
  self->delayed_send(self, tick, tick_atom_v);
  return {
    [=](promise& m) { handle(self, self->state.core->on_promise(m)); },
    [=](accepted& m) { handle(self, self->state.core->on_accepted(m)); },
    [=](nack& m) { handle(self, self->state.core->on_nack(m)); },
    [=](success_ack& m) { handle(self, self->state.core->on_success_ack(m)); },
    [=](leader_change& m) {
      handle(self, self->state.core->on_leader_change(m));
    },
    [=](client_command& m) {
      handle(self, self->state.core->on_client_command(m));
    },
    [=](client_batch& m) {
      handle(self, self->state.core->on_client_batch(m));
    },
    [=](read_request& m) {
      handle(self, self->state.core->on_read_request(m, monotonic_ms()));
    },
    [=](read_probe_ack& m) {
      handle(self, self->state.core->on_read_probe_ack(m, monotonic_ms()));
    },
    [=](membership_request& m) {
      handle(self, self->state.core->on_membership_request(m));
    },
    [=](flush_atom) {
      self->state.flush_scheduled = false;
      handle(self, self->state.core->flush_forwards());
    },
    [=](tick_atom) {
      handle(self, self->state.core->on_tick(monotonic_ms()));
      self->delayed_send(self, self->state.tick, tick_atom_v);
    },
    [=](route_table& r) { self->state.routes = std::move(r); },
    [=](status_atom) {
      auto& c = *self->state.core;
      auto s = proposer_status{self->state.node,  to_string(c.phase()),
                             c.current_ballot(), c.leader_hint(),
                             c.first_unchosen(), c.next_slot(),
                             c.in_flight(),      c.queued()};
      auto now = monotonic_ms();
      if (c.lease_held(now))
        s.lease_ms_left = c.lease_until() - now;
      return s;
    },
  };
}

} // namespace

proposer_actor spawn_proposer(caf::actor_system& sys, proposer_config cfg,
                              uint64_t restored_round, disk_actor disk,
                              tick_duration tick) {
  return sys.spawn(proposer_shell, std::move(cfg), restored_round, disk, tick);
}

} // namespace paxoskv
