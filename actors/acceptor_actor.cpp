// The acceptor shell: decode, call the core, hand writes to the disk actor,
// release replies once durable. No protocol decision is made here.
#include "actors/spawn.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace paxoskv {

namespace {

struct acceptor_shell_state {
  std::unique_ptr<acceptor> core;
  disk_actor disk;
  route_table routes;
  durable_outbox outbox;
  uint64_t commits = 0;
};

using acceptor_pointer = acceptor_actor::stateful_pointer<acceptor_shell_state>;

void handle(acceptor_pointer self, acceptor_step step) {
  auto& st = self->state;
  auto node = st.core->config().self;
  for (auto& l : step.log)
    log_line(log_level::debug, node, "acceptor", l);
  auto send = [self](envelope e) {
    send_envelope(self, self->state.routes, std::move(e));
  };
  auto issue = [self, send, node](durable_batch b, uint64_t seq) {
    self->request(self->state.disk, caf::infinite, write_request{std::move(b)})
      .then(
        [self, send, seq, node](write_done& done) {
          ++self->state.commits;
          self->state.outbox.written(seq, done.ok, send);
          if (!done.ok) {
            // Memory is now ahead of disk: stop rather than answer from
            // state that is not durable. The process exits; a restart
            // reloads what is on disk.
            log_line(log_level::error, node, "acceptor",
                     "stopping after a failed write: " + done.error);
            self->quit(caf::exit_reason::user_shutdown);
          }
        },
        [self, node](caf::error& err) {
          log_line(log_level::error, node, "acceptor",
                   "disk actor failed: " + self->system().render(err));
          self->quit(caf::exit_reason::user_shutdown);
        });
  };
  st.outbox.add(std::move(step), send, issue);
}

acceptor_actor::behavior_type
acceptor_shell(acceptor_pointer self, acceptor_config cfg,
               std::shared_ptr<acceptor_state> restored, disk_actor disk) {
  self->state.core = std::make_unique<acceptor>(cfg, std::move(*restored));
  self->state.disk = disk;
  return {
    [=](prepare& m) { handle(self, self->state.core->on_prepare(m)); },
    [=](accept& m) { handle(self, self->state.core->on_accept(m)); },
    [=](success& m) { handle(self, self->state.core->on_success(m)); },
    [=](learn_request& m) {
      handle(self, self->state.core->on_learn_request(m));
    },
    [=](route_table& r) { self->state.routes = std::move(r); },
    [=](status_atom) {
      auto& st = self->state;
      return acceptor_status{st.core->config().self, st.core->promised(),
                             st.core->first_unchosen(),
                             st.core->entries().size(), st.commits,
                             st.outbox.pending()};
    },
  };
}

} // namespace

acceptor_actor spawn_acceptor(caf::actor_system& sys, acceptor_config cfg,
                              acceptor_state restored, disk_actor disk) {
  auto state = std::make_shared<acceptor_state>(std::move(restored));
  return sys.spawn(acceptor_shell, cfg, state, disk);
}

} // namespace paxoskv
