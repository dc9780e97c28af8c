// The proposer shell: timers become ticks, writes (the round) go to the disk
// actor, prepares leave once the round is durable. Membership requests from
// tools (paxoskv-cli member ...) are requests: a follower delegates them to
// the leader's proposer, and the leader answers once the core does.
#include "actors/spawn.hpp"

#include <map>

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
  /// Membership requests waiting for the core's answer, by the origin
  /// address the shell gave them (one change at a time; the others are
  /// answered at once).
  std::map<uint64_t, caf::typed_response_promise<membership_reply>> changes;
  uint64_t next_origin = 0;
};

using proposer_pointer = proposer_actor::stateful_pointer<proposer_shell_state>;

void handle(proposer_pointer self, proposer_step step) {
  auto& st = self->state;
  auto node = st.node;
  for (auto& l : step.notices)
    log_line(log_level::info, node, "proposer", l);
  for (auto& l : step.log)
    log_line(log_level::debug, node, "proposer", l);
  // Answers to membership requests go to the tools waiting here.
  auto& out = step.send_now;
  for (auto i = out.begin(); i != out.end();) {
    auto* r = std::get_if<membership_reply>(&i->msg);
    auto w = r != nullptr ? st.changes.find(i->to) : st.changes.end();
    if (w != st.changes.end()) {
      w->second.deliver(std::move(*r));
      st.changes.erase(w);
    }
    if (r != nullptr)
      i = out.erase(i);
    else
      ++i;
  }
  apply_durable_step(self, std::move(step), node, "proposer");
  announce_config(self, st.routes, st.core->configs(), st.announced);
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
    [=](membership_request& m)
      -> caf::typed_response_promise<membership_reply> {
      auto& st = self->state;
      auto& c = *st.core;
      auto rp = self->make_response_promise<membership_reply>();
      auto refuse = [&](std::string why) {
        auto& latest = c.configs().latest();
        rp.deliver(membership_reply{m.id, false, std::move(why),
                                    latest.config, latest.effective});
      };
      if (c.phase() != proposer_phase::leading) {
        auto leader = c.leader_hint();
        auto i = st.routes.nodes.find(leader);
        if (leader != 0 && leader != st.node && m.hops < 2
            && i != st.routes.nodes.end() && i->second.proposer) {
          ++m.hops;
          rp.delegate(i->second.proposer, std::move(m));
        } else {
          refuse(leader == st.node
                   ? "not applied: the leader is still starting; try again"
                   : leader == 0 ? "not applied: no leader known; try again"
                                 : "not applied: the leader (node "
                                     + std::to_string(leader)
                                     + ") is not reachable from node "
                                     + std::to_string(st.node));
        }
        return rp;
      }
      if (!st.changes.empty()) {
        refuse("not applied: a membership change is in progress");
        return rp;
      }
      // The core answers to the origin: an address of this shell's.
      m.origin = (uint64_t{1} << 63) | ++st.next_origin;
      st.changes.emplace(m.origin, rp);
      handle(self, c.on_membership_request(m));
      return rp;
    },
    [=](learner_progress& m) {
      handle(self, self->state.core->on_learner_progress(m));
    },
    [=](flush_atom) {
      self->state.flush_scheduled = false;
      handle(self, self->state.core->flush_forwards());
    },
    [=](tick_atom) {
      auto& st = self->state;
      handle(self, st.core->on_tick(monotonic_ms()));
      // A change the core no longer carries (it answers every one it
      // drops; this is the bound should one be missed) cannot hold the
      // tool, nor block the next change, for ever.
      if (!st.core->changing())
        for (auto& [origin, rp] : std::exchange(st.changes, {})) {
          auto& latest = st.core->configs().latest();
          rp.deliver(membership_reply{
            0, false,
            "outcome unknown: the leader no longer follows the change; see "
            "the member list",
            latest.config, latest.effective});
        }
      self->delayed_send(self, self->state.tick, tick_atom_v);
    },
    [=](route_table& r) {
      auto& st = self->state;
      st.routes = std::move(r);
      announce_config(self, st.routes, st.core->configs(), st.announced);
    },
    [=](status_atom) {
      auto& c = *self->state.core;
      auto s = proposer_status{self->state.node,  to_string(c.phase()),
                             c.current_ballot(), c.leader_hint(),
                             c.first_unchosen(), c.next_slot(),
                             c.in_flight(),      c.queued()};
      s.incarnation = c.incarnation();
      if (c.phase() == proposer_phase::leading)
        for (auto& [id, fu, silent] : c.acceptor_progress())
          s.acceptors.push_back({id, fu, silent});
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
