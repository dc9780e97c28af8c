// The learner shell: I/O around the learner_node core (state machine and
// client sessions). It turns timers into ticks, passes messages and client
// requests to the core, sends what the core addresses, and answers each
// client request's response promise with the core's answer. Every decision
// (ordering, resends, timeouts, read paths, where commands go) is the
// core's, so the simulator runs it too.
#include "actors/spawn.hpp"

#include <functional>
#include <map>
#include <random>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "protocol/kv_machine.hpp"
#include "protocol/learner_node.hpp"

namespace paxoskv {

namespace {

struct learner_shell_state {
  std::unique_ptr<learner_node> core;
  learner_shell_config cfg;
  route_table routes;
  /// Writes the state machine's changes behind the apply path.
  state_actor writer;
  /// The last state write error (empty: writing works).
  std::string state_error;
  /// State machine changes not yet handed to the writer, merged (the last
  /// change per record), and whether a write is with the writer. Changes
  /// leave every state_write_ticks, or at once when many records wait: a
  /// commit per applied slot would cost an fsync'd LMDB commit (about ten
  /// pages) per client batch, for a state the log still holds anyway.
  std::optional<state_write> unsent;
  bool writing = false;
  uint64_t ticks = 0;
  /// Requests waiting for their answer, by (client id, request number):
  /// what delivers the reply.
  struct waiting_map
    : std::map<std::pair<uint64_t, uint64_t>,
               std::function<void(client_reply)>> {
    waiting_map() = default;
    waiting_map(const waiting_map&) = delete;
    waiting_map& operator=(const waiting_map&) = delete;
    /// A learner that stops leaves no client waiting for ever.
    ~waiting_map() {
      for (auto& [key, done] : *this)
        done(client_reply{key.first, key.second,
                          {result_kind::unknown,
                           "outcome unknown: the learner stopped", 0}});
    }
  };
  waiting_map waiting;
  /// The newest configuration epoch told to the directory.
  uint64_t announced = 0;
};

using learner_pointer = learner_actor::stateful_pointer<learner_shell_state>;

uint32_t ticks_for(const learner_shell_config& cfg,
                   std::chrono::milliseconds d) {
  auto t = cfg.tick.count() > 0 ? d.count() / cfg.tick.count() : d.count();
  return static_cast<uint32_t>(std::max<int64_t>(1, t));
}

/// State changes go to the writer every this many ticks (T), or at once
/// when `state_records_eager` records wait.
constexpr uint64_t state_write_ticks = 5;
constexpr size_t state_records_eager = 16384;

/// Hands the changes not yet sent to the state writer, unless a write is
/// still with it (one at a time: what arrives meanwhile is merged).
void flush_state(learner_pointer self) {
  auto& st = self->state;
  if (st.writing || !st.unsent)
    return;
  st.writing = true;
  auto w = std::move(*st.unsent);
  st.unsent.reset();
  self->request(st.writer, caf::infinite, state_write_request{std::move(w)})
    .then(
      [self](state_done& d) {
        auto& st = self->state;
        st.writing = false;
        if (d.ok) {
          st.core->on_state_durable(d.applied);
          st.state_error.clear();
        } else {
          st.state_error = d.error;
        }
        if (st.unsent && st.unsent->records.size() >= state_records_eager)
          flush_state(self);
      },
      [self](caf::error& err) {
        self->state.writing = false;
        self->state.state_error = "the state writer stopped: "
                                  + self->system().render(err);
      });
}

void write_state(learner_pointer self, state_write w) {
  auto& st = self->state;
  if (!st.writer) {
    st.core->on_state_durable(w.applied); // Memory only (tests).
    return;
  }
  if (st.unsent)
    st.unsent->merge(std::move(w));
  else
    st.unsent = std::move(w);
  if (st.unsent->records.size() >= state_records_eager)
    flush_state(self);
}

void handle(learner_pointer self, learner_node_step step);

/// The snapshot work a step asks for, done by the state writer.
void snapshot_work(learner_pointer self, learner_node_step& step) {
  auto& st = self->state;
  auto node = st.cfg.core.self;
  for (auto& n : step.notices)
    log_line(log_level::info, node, "learner", n);
  if (!st.writer)
    return;
  for (auto& r : step.serve)
    self->request(st.writer, caf::infinite, serve_snapshot{r})
      .then([self, to = r.learner](snapshot_chunk& c) {
        send_envelope(self, self->state.routes, envelope{to, std::move(c)});
      });
  for (auto& c : step.store_chunks) {
    auto snap = c.snapshot;
    auto end = c.offset + c.data.size();
    self->request(st.writer, caf::infinite, store_snapshot_chunk{std::move(c)})
      .then([self, snap, end](chunk_stored& d) {
        handle(self, self->state.core->on_chunk_stored(snap, end, d.ok));
      });
  }
  if (step.install_snapshot)
    self->request(st.writer, caf::infinite, install_snapshot{})
      .then([self](snapshot_installed& r) {
        std::unique_ptr<state_machine> sm;
        if (r.machine) {
          // The writer made it for this learner alone: take it over.
          auto* kv = dynamic_cast<kv_machine*>(r.machine.get());
          sm = std::make_unique<kv_machine>(std::move(*kv));
        }
        handle(self, self->state.core->on_snapshot_installed(std::move(sm),
                                                             r.error));
      });
}

void handle(learner_pointer self, learner_node_step step) {
  auto& st = self->state;
  if (step.state)
    write_state(self, std::move(*step.state));
  // An installed snapshot replaces the whole state: changes not yet sent
  // are older than it (the writer drops those it holds, too).
  if (step.install_snapshot)
    st.unsent.reset();
  snapshot_work(self, step);
  for (auto& a : step.answers) {
    auto i = st.waiting.find({a.client_id, a.request});
    if (i == st.waiting.end())
      continue; // Closed meanwhile.
    auto done = std::move(i->second);
    st.waiting.erase(i);
    done(client_reply{a.client_id, a.request, std::move(a.result)});
  }
  for (auto& e : step.send_now)
    send_envelope(self, st.routes, std::move(e));
  announce_config(self, st.routes, st.core->replica().configs(),
                  st.announced);
}

/// A client request, answered through `done` once the core answers it.
void on_client_request(learner_pointer self, command cmd, read_level level,
                       std::function<void(client_reply)> done) {
  auto& st = self->state;
  auto key = std::make_pair(cmd.client_id, cmd.sequence);
  if (st.waiting.count(key) > 0) {
    done(client_reply{key.first, key.second,
                      {result_kind::error, "ERR request number already in use",
                       0}});
    return;
  }
  st.waiting.emplace(key, std::move(done));
  handle(self, st.core->on_request(client_request_in{
                 cmd.client_id, cmd.sequence, cmd.op, std::move(cmd.args),
                 level}));
}

learner_actor::behavior_type
learner_shell(learner_pointer self, learner_shell_config cfg,
              std::shared_ptr<std::unique_ptr<state_machine>> sm,
              state_actor writer) {
  learner_node_config core;
  core.learner = cfg.core;
  // Unique per incarnation: answers to an earlier process's requests must
  // not match this one's. A random 64-bit start makes overlapping id
  // ranges vanishingly unlikely.
  std::random_device rd;
  core.learner.read_id_base = (uint64_t{rd()} << 32) ^ rd();
  core.learner.read_resend_ticks = cfg.resend_ticks;
  core.learner.read_timeout_ticks = ticks_for(cfg, cfg.client_timeout);
  core.learner.read_refuse_after_ticks = 5 * cfg.resend_ticks;
  core.table.self = cfg.core.self;
  core.table.resend_ticks = cfg.resend_ticks;
  core.table.timeout_ticks = ticks_for(cfg, cfg.client_timeout);
  core.table.window_max = cfg.core.replies_per_client_max;
  core.table.requests_max = cfg.clients_waiting_max;
  // 10T: a failover's leaderless moment is waited out.
  core.table.refuse_after_ticks = 5 * cfg.resend_ticks;
  core.proposers = cfg.proposers;
  self->state.core = std::make_unique<learner_node>(std::move(core),
                                                    std::move(*sm));
  self->state.writer = writer;
  self->state.cfg = cfg;
  if (cfg.resume)
    handle(self, self->state.core->resume_snapshot(*cfg.resume));
  self->delayed_send(self, cfg.tick, tick_atom_v);
  return {
    [=](chosen& m) { handle(self, self->state.core->on_chosen(m)); },
    [=](snapshot_request& m) {
      handle(self, self->state.core->on_snapshot_request(m));
    },
    [=](snapshot_chunk& m) {
      handle(self, self->state.core->on_snapshot_chunk(m));
    },
    [=](read_index& m) { handle(self, self->state.core->on_read_index(m)); },
    [=](command_refused& m) {
      handle(self, self->state.core->on_refused(m));
    },
    [=](read_refused& m) {
      handle(self, self->state.core->on_read_refused(m));
    },
    [=](tick_atom) {
      handle(self, self->state.core->on_tick());
      if (++self->state.ticks % state_write_ticks == 0)
        flush_state(self);
      self->delayed_send(self, self->state.cfg.tick, tick_atom_v);
    },
    [=](route_table& r) {
      auto& st = self->state;
      st.routes = std::move(r);
      announce_config(self, st.routes, st.core->replica().configs(),
                      st.announced);
    },
    [=](client_closed& m) {
      auto& st = self->state;
      handle(self, st.core->on_close(m.client_id));
      auto lo = st.waiting.lower_bound({m.client_id, 0});
      auto hi = st.waiting.lower_bound({m.client_id + 1, 0});
      st.waiting.erase(lo, hi);
    },
    [=](client_request& r) -> caf::typed_response_promise<client_reply> {
      auto rp = self->make_response_promise<client_reply>();
      on_client_request(self, std::move(r.cmd), r.level,
                        [rp](client_reply reply) mutable {
                          rp.deliver(std::move(reply));
                        });
      return rp;
    },
    [=](local_request& r) {
      on_client_request(self, std::move(r.cmd), r.level, std::move(r.done));
    },
    [=](status_atom) {
      auto& st = self->state;
      auto& r = st.core->replica();
      learner_status s{st.cfg.core.self,   r.next_slot(),
                       r.machine().size(), st.core->clients().waiting(),
                       r.reads_waiting(),  r.durable(),
                       st.state_error};
      s.expires = r.machine().expiring();
      if (auto& t = r.transfer()) {
        s.snapshot_source = t->source;
        s.snapshot_slot = t->snapshot;
        s.snapshot_total = t->total;
        s.snapshot_received = t->received;
      }
      return s;
    },
  };
}

} // namespace

learner_actor spawn_learner(caf::actor_system& sys, learner_shell_config cfg,
                            std::unique_ptr<state_machine> sm,
                            state_actor writer) {
  auto holder = std::make_shared<std::unique_ptr<state_machine>>(std::move(sm));
  return sys.spawn(learner_shell, std::move(cfg), holder, writer);
}

} // namespace paxoskv
