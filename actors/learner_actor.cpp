// The learner shell: applies chosen values through the core and answers
// clients. A client request waits for its command to be applied; it is sent
// to a proposer (resent while waiting: exactly-once makes that safe) and
// answered "outcome unknown" if not applied within the client timeout.
// Leader and lease reads (read-only commands at those levels) skip the log:
// the core asks the leader for a read index and answers once it applied
// it; a read that times out is answered "not applied" (it changed nothing).
#include "actors/spawn.hpp"

#include <map>
#include <random>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace paxoskv {

namespace {

struct waiting_client {
  command cmd;
  caf::typed_response_promise<client_reply> reply;
  uint64_t deadline_tick = 0;
  uint64_t resend_tick = 0;
  /// A leader or lease read: the core times it out, nothing is resent.
  bool read = false;
};

struct learner_shell_state {
  std::unique_ptr<learner> core;
  learner_shell_config cfg;
  route_table routes;
  uint64_t now = 0;
  std::multimap<std::pair<uint64_t, uint64_t>, waiting_client> waiting;
};

using learner_pointer = learner_actor::stateful_pointer<learner_shell_state>;

/// A waiting command is sent again every this many ticks (2T): the first
/// proposer it reached may have lost its leadership and dropped it.
constexpr uint64_t resend_ticks = 10;

uint64_t ticks_for(const learner_shell_config& cfg,
                   std::chrono::milliseconds d) {
  auto t = cfg.tick.count() > 0 ? d.count() / cfg.tick.count() : d.count();
  return static_cast<uint64_t>(std::max<int64_t>(1, t));
}

/// Sends a message for the leader to this node's proposer, or else to any
/// proposer (a follower passes it on to the leader). False if none is
/// reachable.
template <class T>
bool to_some_proposer(learner_pointer self, T msg) {
  auto& st = self->state;
  auto own = st.routes.nodes.find(st.cfg.core.self);
  if (own != st.routes.nodes.end() && own->second.proposer) {
    self->send(own->second.proposer, std::move(msg));
    return true;
  }
  for (auto& [id, h] : st.routes.nodes)
    if (h.proposer) {
      self->send(h.proposer, std::move(msg));
      return true;
    }
  return false;
}

bool submit(learner_pointer self, const command& cmd) {
  return to_some_proposer(self,
                          client_command{cmd, self->state.cfg.core.self, 0});
}

void answer(learner_pointer self, std::pair<uint64_t, uint64_t> key,
            const command_result& result) {
  auto range = self->state.waiting.equal_range(key);
  for (auto i = range.first; i != range.second; ++i)
    i->second.reply.deliver(client_reply{key.first, key.second, result});
  self->state.waiting.erase(range.first, range.second);
}

void handle(learner_pointer self, learner_step step) {
  for (auto& o : step.outcomes)
    answer(self, {o.client_id, o.sequence}, o.result);
  for (auto& e : step.send_now) {
    if (auto* r = std::get_if<read_request>(&e.msg))
      to_some_proposer(self, *r);
    else
      send_envelope(self, self->state.routes, std::move(e));
  }
}

void on_tick(learner_pointer self) {
  auto& st = self->state;
  ++st.now;
  handle(self, st.core->on_tick());
  for (auto i = st.waiting.begin(); i != st.waiting.end();) {
    auto& w = i->second;
    if (w.read) {
      ++i;
      continue;
    }
    if (st.now >= w.deadline_tick) {
      w.reply.deliver(client_reply{
        w.cmd.client_id, w.cmd.sequence,
        command_result{result_kind::unknown,
                       "outcome unknown: not confirmed within "
                         + std::to_string(st.cfg.client_timeout.count())
                         + " ms; it may still take effect",
                       0}});
      i = st.waiting.erase(i);
      continue;
    }
    if (st.now >= w.resend_tick) {
      w.resend_tick = st.now + resend_ticks;
      submit(self, w.cmd);
    }
    ++i;
  }
}

learner_actor::behavior_type learner_shell(learner_pointer self,
                                           learner_shell_config cfg) {
  cfg.core.read_resend_ticks = resend_ticks;
  // Unique per incarnation: answers to an earlier process's requests must
  // not match this one's. A random 64-bit start makes overlapping id
  // ranges vanishingly unlikely.
  std::random_device rd;
  cfg.core.read_id_base = (uint64_t{rd()} << 32) ^ rd();
  cfg.core.read_timeout_ticks
    = static_cast<uint32_t>(ticks_for(cfg, cfg.client_timeout));
  self->state.core = std::make_unique<learner>(cfg.core);
  self->state.cfg = cfg;
  self->delayed_send(self, cfg.tick, tick_atom_v);
  return {
    [=](chosen& m) { handle(self, self->state.core->on_chosen(m)); },
    [=](read_index& m) { handle(self, self->state.core->on_read_index(m)); },
    [=](tick_atom) {
      on_tick(self);
      self->delayed_send(self, self->state.cfg.tick, tick_atom_v);
    },
    [=](route_table& r) { self->state.routes = std::move(r); },
    [=](client_request& r) -> caf::typed_response_promise<client_reply> {
      auto& st = self->state;
      auto rp = self->make_response_promise<client_reply>();
      auto& cmd = r.cmd;
      if (auto saved = st.core->saved_reply(cmd.client_id, cmd.sequence)) {
        rp.deliver(client_reply{cmd.client_id, cmd.sequence, *saved});
        return rp;
      }
      if (st.waiting.size() >= st.cfg.clients_waiting_max) {
        rp.deliver(client_reply{cmd.client_id, cmd.sequence,
                                {result_kind::not_applied,
                                 "too many waiting clients; retry later", 0}});
        return rp;
      }
      if (is_read_only(cmd.op) && r.level != read_level::log) {
        waiting_client w{cmd, rp, 0, 0, true};
        st.waiting.emplace(std::make_pair(cmd.client_id, cmd.sequence),
                           std::move(w));
        handle(self, st.core->on_read(cmd, r.level));
        return rp;
      }
      if (!submit(self, cmd)) {
        rp.deliver(client_reply{cmd.client_id, cmd.sequence,
                                {result_kind::not_applied,
                                 "no proposer reachable; retry later", 0}});
        return rp;
      }
      waiting_client w{cmd, rp,
                       st.now + ticks_for(st.cfg, st.cfg.client_timeout),
                       st.now + resend_ticks};
      st.waiting.emplace(std::make_pair(cmd.client_id, cmd.sequence),
                         std::move(w));
      return rp;
    },
    [=](status_atom) {
      auto& st = self->state;
      return learner_status{st.cfg.core.self, st.core->next_slot(),
                            st.core->data().size(),
                            st.waiting.size()
                              - std::min<uint64_t>(st.waiting.size(),
                                                   st.core->reads_waiting()),
                            st.core->reads_waiting()};
    },
  };
}

} // namespace

learner_actor spawn_learner(caf::actor_system& sys, learner_shell_config cfg) {
  return sys.spawn(learner_shell, std::move(cfg));
}

} // namespace paxoskv
