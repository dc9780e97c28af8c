// What every role shell shares: sending envelopes to the roles of other
// nodes through the process's route table, and holding the messages that may
// leave only after a durable write until the disk actor confirms it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/roles.hpp"
#include "actors/type_ids.hpp"
#include "protocol/effects.hpp"
#include "protocol/routing.hpp"

namespace paxoskv {

/// The role handle of `h` that handles messages of type T (role_of<T>).
template <class T>
auto& handle_for(const role_handles& h) {
  constexpr auto r = role_of<T>;
  static_assert(r != role::client, "client replies are not sent to roles");
  if constexpr (r == role::acceptor)
    return h.acceptor;
  else if constexpr (r == role::proposer)
    return h.proposer;
  else if constexpr (r == role::learner)
    return h.learner;
  else
    return h.elector;
}

/// The process's monotonic clock in ms: what leases are measured in.
/// Unix time in ms (stamps for the state machine's clock).
inline uint64_t wall_ms() {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch())
      .count());
}

inline clock_ms monotonic_ms() {
  return static_cast<clock_ms>(
    std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now().time_since_epoch())
      .count());
}

/// Sends an envelope for a node this process is not connected to through
/// the directory of one it is connected to, which delivers it if it is
/// connected to the destination (one hop). False if there is none, or the
/// message is not relayed (heartbeats).
inline bool relay_envelope(const route_table& routes, envelope e) {
  if (!relayable(e.msg))
    return false;
  std::vector<node_id> connected;
  for (auto& [id, h] : routes.nodes)
    if (h.directory)
      connected.push_back(id);
  auto to = static_cast<node_id>(e.to);
  auto via = choose_relay(routes.self, to, connected, routes.relay_cursor);
  if (via == 0)
    return false;
  auto& dir = routes.nodes.at(via).directory;
  // Anonymous: typed role actors send only to typed actors, and nothing
  // answers a relayed message as such.
  std::visit(
    [&](auto& m) { caf::anon_send(dir, relay_atom_v, to, std::move(m)); },
             e.msg);
  return true;
}

/// Sends an envelope from `self` through `routes`, to the typed handle of
/// the role that handles it; through a relay when the destination is not
/// connected. Messages that cannot go either way are dropped: the protocol
/// retransmits. Client replies never travel as envelopes between roles.
template <class Self>
bool send_envelope(Self* self, const route_table& routes, envelope e) {
  auto i = routes.nodes.find(static_cast<node_id>(e.to));
  if (i == routes.nodes.end())
    return relay_envelope(routes, std::move(e));
  return std::visit(
    [&](auto& m) {
      using type = std::decay_t<decltype(m)>;
      if constexpr (role_of<type> == role::client
                    || std::is_same_v<type, membership_request>) {
        // Membership requests are requests between shells (delegated to
        // the leader's proposer); the core never sends one here.
        return false;
      } else {
        auto& dest = handle_for<type>(i->second);
        if (!dest)
          return false;
        self->send(dest, std::move(m));
        return true;
      }
    },
    e.msg);
}

/// Keeps the order "write durable, then its replies leave" for a shell
/// whose writes go to the disk actor one request per step.
class durable_outbox {
public:
  /// Registers a step's effects. `issue(batch, seq)` must send the write
  /// to the disk actor and call `written(seq, ok)` when it answers. True
  /// when replies now wait for an earlier write: the disk actor should
  /// commit without waiting for company (a deferrable write may be held).
  template <class Write>
  bool add(durable_step<Write>&& step, const std::function<void(envelope)>& send,
           const std::function<void(durable_batch, uint64_t)>& issue) {
    for (auto& e : step.send_now)
      send(std::move(e));
    if (step.write) {
      durable_batch b;
      b.add(std::move(*step.write));
      auto seq = ++issued_;
      held_.emplace_back(seq, std::move(step.after_write));
      issue(std::move(b), seq);
    } else if (!step.after_write.empty()) {
      // No write of its own: the replies wait for every earlier write.
      if (issued_ == done_) {
        for (auto& e : step.after_write)
          send(std::move(e));
      } else {
        for (auto& e : step.after_write)
          held_.back().second.push_back(std::move(e));
        return true;
      }
    }
    return false;
  }

  /// The disk actor answered write `seq` (answers arrive in order). On
  /// failure the held replies are dropped: they would report state that is
  /// not on disk.
  void written(uint64_t seq, bool ok, const std::function<void(envelope)>& send) {
    done_ = seq;
    while (!held_.empty() && held_.front().first <= seq) {
      if (ok)
        for (auto& e : held_.front().second)
          send(std::move(e));
      held_.pop_front();
    }
  }

  uint64_t pending() const { return issued_ - done_; }

private:
  uint64_t issued_ = 0;
  uint64_t done_ = 0;
  std::deque<std::pair<uint64_t, std::vector<envelope>>> held_;
};

/// Tells the process's directory about a configuration newer than the
/// last one this role announced (it connects to added members and informs
/// the elector). `announced` is the role's own record of what it told.
template <class Self>
void announce_config(Self*, const route_table& routes,
                     const config_history& h, uint64_t& announced) {
  if (h.empty() || h.epoch() <= announced)
    return;
  auto i = routes.nodes.find(routes.self);
  if (i == routes.nodes.end() || !i->second.directory)
    return; // No route table yet: announced with the next step.
  announced = h.epoch();
  caf::anon_send(i->second.directory, h.latest().config);
}

/// One line per event that matters, with node and role, to stderr.
enum class log_level : uint8_t { error = 0, warning = 1, info = 2, debug = 3 };
void log_line(log_level level, node_id node, const char* role,
              const std::string& text);
void set_log_level(log_level level);
log_level current_log_level();

/// What every shell with durable writes keeps: its core, the disk actor,
/// the route table, the replies held for writes, and a count of writes
/// confirmed.
template <class Core>
struct durable_shell_state {
  std::unique_ptr<Core> core;
  disk_actor disk;
  route_table routes;
  durable_outbox outbox;
  uint64_t writes_done = 0;
  /// The newest configuration epoch told to the directory.
  uint64_t announced = 0;
};

/// Hands a step's effects to the outbox of a shell whose state derives from
/// durable_shell_state: the write goes to the disk actor,
/// and its replies leave when the disk actor confirms it. A failed write
/// stops the actor (memory would be ahead of disk); the process exits and
/// a restart reloads what is on disk.
template <class Self, class Write>
void apply_durable_step(Self* self, durable_step<Write>&& step, node_id node,
                        const char* role) {
  auto send = [self](envelope e) {
    send_envelope(self, self->state.routes, std::move(e));
  };
  auto issue = [self, send, node, role](durable_batch b, uint64_t seq) {
    self->request(self->state.disk, caf::infinite, write_request{std::move(b)})
      .then(
        [self, send, seq, node, role](write_done& done) {
          ++self->state.writes_done;
          self->state.outbox.written(seq, done.ok, send);
          if (!done.ok) {
            log_line(log_level::error, node, role,
                     "stopping after a failed write: " + done.error);
            self->quit(caf::exit_reason::user_shutdown);
          }
        },
        [self, node, role](caf::error& err) {
          log_line(log_level::error, node, role,
                   "disk actor failed: " + self->system().render(err));
          self->quit(caf::exit_reason::user_shutdown);
        });
  };
  if (self->state.outbox.add(std::move(step), send, issue))
    self->send(self->state.disk, commit_atom_v);
}

} // namespace paxoskv
