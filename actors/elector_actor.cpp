// The elector shell: timer ticks and heartbeats into the core; heartbeats
// and leader changes out. Logs every leader change.
#include "actors/spawn.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace paxoskv {

namespace {

struct elector_shell_state {
  std::unique_ptr<elector> core;
  route_table routes;
  tick_duration tick{10};
  node_id node = 0;
};

using elector_pointer = elector_actor::stateful_pointer<elector_shell_state>;

void handle(elector_pointer self, const elector_step& step) {
  auto& st = self->state;
  if (step.leader_changed)
    log_line(log_level::info, st.node, "elector",
             "leader is now " + std::to_string(st.core->leader()));
  for (auto& e : step.send_now)
    send_envelope(self, st.routes, e);
}

elector_actor::behavior_type elector_shell(elector_pointer self,
                                           elector_config cfg,
                                           configuration members,
                                           tick_duration tick) {
  self->state.node = cfg.self;
  self->state.core = std::make_unique<elector>(cfg);
  if (!members.empty())
    self->state.core->follow(members);
  self->state.tick = tick;
  self->delayed_send(self, tick, tick_atom_v);
  return {
    [=](heartbeat& m) { handle(self, self->state.core->on_heartbeat(m)); },
    [=](configuration& c) {
      // The directory passes on each newer configuration.
      auto& st = self->state;
      if (st.core->follow(c))
        log_line(log_level::info, st.node, "elector",
                 "configuration epoch " + std::to_string(c.epoch)
                   + (st.core->candidate() ? "" : "; this node does not lead"));
    },
    [=](tick_atom) {
      handle(self, self->state.core->on_tick());
      self->delayed_send(self, self->state.tick, tick_atom_v);
    },
    [=](route_table& r) {
      auto& st = self->state;
      std::vector<node_id> before, after;
      for (auto& [id, h] : st.routes.nodes)
        before.push_back(id);
      for (auto& [id, h] : r.nodes)
        after.push_back(id);
      for (auto id : after)
        if (std::find(before.begin(), before.end(), id) == before.end()
            && id != st.node)
          log_line(log_level::info, st.node, "elector",
                   "peer " + std::to_string(id) + " up");
      for (auto id : before)
        if (std::find(after.begin(), after.end(), id) == after.end())
          log_line(log_level::warning, st.node, "elector",
                   "peer " + std::to_string(id) + " down");
      st.routes = std::move(r);
      std::vector<node_id> reachable;
      for (auto& [id, h] : st.routes.nodes)
        if (h.acceptor)
          reachable.push_back(id);
      st.core->set_reachable_acceptors(std::move(reachable));
    },
    [=](status_atom) {
      auto& st = self->state;
      elector_status s{st.node, st.core->leader(), st.core->heard_directly(),
                       {}};
      for (auto& [id, h] : st.routes.nodes)
        if (id != st.node)
          s.connected.push_back(id);
      return s;
    },
  };
}

} // namespace

elector_actor spawn_elector(caf::actor_system& sys, elector_config cfg,
                            configuration members, tick_duration tick) {
  return sys.spawn(elector_shell, std::move(cfg), std::move(members), tick);
}

} // namespace paxoskv
