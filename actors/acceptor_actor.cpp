// The acceptor shell: decode, call the core, hand writes to the disk actor,
// release replies once durable. No protocol decision is made here.
#include "actors/spawn.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace paxoskv {

namespace {

struct acceptor_shell_state : durable_shell_state<acceptor> {};

using acceptor_pointer = acceptor_actor::stateful_pointer<acceptor_shell_state>;

void handle(acceptor_pointer self, acceptor_step step) {
  auto& st = self->state;
  auto node = st.core->config().self;
  for (auto& l : step.log)
    log_line(log_level::debug, node, "acceptor", l);
  apply_durable_step(self, std::move(step), node, "acceptor");
  announce_config(self, st.routes, st.core->configs_known(), st.announced);
}

acceptor_actor::behavior_type
acceptor_shell(acceptor_pointer self, acceptor_config cfg,
               std::shared_ptr<acceptor_state> restored, disk_actor disk) {
  self->state.core = std::make_unique<acceptor>(cfg, std::move(*restored));
  self->state.disk = disk;
  return {
    [=](prepare& m) {
      handle(self, self->state.core->on_prepare(m, monotonic_ms()));
    },
    [=](read_probe& m) {
      handle(self, self->state.core->on_read_probe(m, monotonic_ms()));
    },
    [=](accept& m) { handle(self, self->state.core->on_accept(m)); },
    [=](success& m) { handle(self, self->state.core->on_success(m)); },
    [=](success_relay& m) {
      handle(self, self->state.core->on_success_relay(m));
    },
    [=](learn_request& m) {
      handle(self, self->state.core->on_learn_request(m));
    },
    [=](route_table& r) {
      auto& st = self->state;
      st.routes = std::move(r);
      announce_config(self, st.routes, st.core->configs_known(), st.announced);
    },
    [=](status_atom) {
      auto& st = self->state;
      return acceptor_status{st.core->config().self, st.core->promised(),
                             st.core->first_unchosen(),
                             st.core->entries().size(), st.writes_done,
                             st.outbox.pending(),
                             st.core->config().incarnation,
                             st.core->configs_known().epoch()};
    },
    [=](configs_atom) { return self->state.core->configs(); },
  };
}

} // namespace

acceptor_actor spawn_acceptor(caf::actor_system& sys, acceptor_config cfg,
                              acceptor_state restored, disk_actor disk) {
  auto state = std::make_shared<acceptor_state>(std::move(restored));
  return sys.spawn(acceptor_shell, cfg, state, disk);
}

} // namespace paxoskv
