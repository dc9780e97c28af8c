// The directory of a process.
//
// It is published on the process's peer port. Other processes ask it
// (`lookup_atom`, with their node id; 0 for tools) for the role actors it
// hosts, and a peer that asks is dialled back at once. It connects to every peer
// through the middleman actor, asynchronously, never with a blocking
// remote_actor call; a failed or dropped connection is retried with
// exponential backoff (100 ms doubling to 2 s), so a node started before
// its peers waits for them. Every change of the route table is pushed to
// the local role actors.
//
// The peer list given at start is only where to begin: the local roles
// announce every newer configuration they learn (membership.hpp), and the
// directory connects to the members it adds (and follows changed
// addresses), passes the configuration to the local elector, and answers
// `members_atom` with it (paxoskv-cli member list).
#include "actors/spawn.hpp"

#include <map>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>

namespace paxoskv {

namespace {

struct peer_link {
  peer_address address;
  caf::actor directory;
  role_handles roles;
  std::chrono::milliseconds backoff{100};
  bool connecting = false;
};

struct directory_state {
  role_handles local;
  std::map<node_id, peer_link> peers;
  /// The newest configuration the local roles announced.
  configuration config;
};

using directory_pointer = caf::stateful_actor<directory_state>*;

constexpr std::chrono::milliseconds backoff_max{2000};
constexpr std::chrono::seconds connect_timeout{5};

void push_routes(directory_pointer self) {
  route_table t;
  t.self = self->state.local.node;
  t.nodes[self->state.local.node] = self->state.local;
  for (auto& [id, p] : self->state.peers)
    if (p.directory)
      t.nodes[id] = p.roles;
  auto push = [&](const auto& handle) {
    if (handle)
      self->send(handle, t);
  };
  push(self->state.local.acceptor);
  push(self->state.local.proposer);
  push(self->state.local.learner);
  push(self->state.local.elector);
}

void retry_later(directory_pointer self, node_id n) {
  auto& p = self->state.peers.at(n);
  p.connecting = false;
  log_line(log_level::debug, self->state.local.node, "directory",
           "peer " + std::to_string(n) + " unreachable; retrying in "
             + std::to_string(p.backoff.count()) + " ms");
  self->delayed_send(self, p.backoff, retry_atom_v, n);
  p.backoff = std::min(backoff_max, p.backoff * 2);
}

void connect(directory_pointer self, node_id n) {
  auto& p = self->state.peers.at(n);
  if (p.connecting || p.directory)
    return;
  p.connecting = true;
  auto mm = self->system().middleman().actor_handle();
  auto self_node = self->state.local.node;
  self
    ->request(mm, connect_timeout, caf::connect_atom_v, p.address.host,
              p.address.port)
    .then(
      [=](const caf::node_id&, caf::strong_actor_ptr& ptr,
          const std::set<std::string>&) {
        auto dir = caf::actor_cast<caf::actor>(ptr);
        if (!dir) {
          retry_later(self, n);
          return;
        }
        self->request(dir, connect_timeout, lookup_atom_v, self_node)
          .then(
            [=](role_handles& roles) {
              auto& link = self->state.peers.at(n);
              link.connecting = false;
              if (roles.node != n) {
                log_line(log_level::error, self_node, "directory",
                         "peer at " + link.address.host + ":"
                           + std::to_string(link.address.port) + " is node "
                           + std::to_string(roles.node) + ", expected node "
                           + std::to_string(n) + "; check the peer list");
                retry_later(self, n);
                return;
              }
              link.directory = dir;
              link.roles = std::move(roles);
              link.backoff = std::chrono::milliseconds{100};
              self->monitor(dir);
              push_routes(self);
            },
            [=](caf::error&) { retry_later(self, n); });
      },
      [=](caf::error&) { retry_later(self, n); });
}

/// Delivers a relayed message to the role of `to` that handles it, if `to`
/// is this process or a peer it is connected to. One hop only: a message
/// this directory cannot deliver is dropped (the protocol retransmits).
template <class T>
auto relay_handler(directory_pointer self) {
  return [=](relay_atom, node_id to, T& m) {
    const role_handles* h = nullptr;
    if (to == self->state.local.node) {
      h = &self->state.local;
    } else {
      auto i = self->state.peers.find(to);
      if (i != self->state.peers.end() && i->second.directory)
        h = &i->second.roles;
    }
    if constexpr (std::is_same_v<T, heartbeat>)
      m.relayed = true;
    if constexpr (role_of<T> != role::client
                  && !std::is_same_v<T, membership_request>) {
      if (h != nullptr) {
        auto& dest = handle_for<T>(*h);
        if (dest)
          self->send(dest, std::move(m));
      }
    }
  };
}

/// The directory's behavior plus one relay handler per message type of the
/// `message` variant: a type added there is relayed without more code.
template <class... Ts, class... Fs>
caf::behavior with_relays(directory_pointer self, std::variant<Ts...>*,
                          Fs... fs) {
  return caf::behavior{std::move(fs)..., relay_handler<Ts>(self)...};
}

caf::behavior directory_impl(directory_pointer self, role_handles local,
                             std::vector<peer_address> peers) {
  self->state.local = std::move(local);
  self->state.local.directory = caf::actor_cast<caf::actor>(self);
  for (auto& p : peers)
    if (p.node != self->state.local.node)
      self->state.peers[p.node].address = p;
  self->set_down_handler([=](caf::down_msg& dm) {
    for (auto& [id, p] : self->state.peers)
      if (p.directory && p.directory.address() == dm.source) {
        p.directory = caf::actor{};
        p.roles = role_handles{};
        push_routes(self);
        retry_later(self, id);
        return;
      }
  });
  push_routes(self);
  for (auto& [id, p] : self->state.peers)
    connect(self, id);
  return with_relays(
    self, static_cast<message*>(nullptr),
    [=](lookup_atom, node_id from) {
      // A peer reached us: it is up, so connect back now instead of
      // waiting out a backoff. Routes become symmetric within a round
      // trip, even when this process started first and backed off.
      auto i = self->state.peers.find(from);
      if (i != self->state.peers.end() && !i->second.directory) {
        i->second.backoff = std::chrono::milliseconds{100};
        connect(self, from);
      }
      return self->state.local;
    },
    [=](retry_atom, node_id n) {
      if (self->state.peers.count(n) > 0)
        connect(self, n);
    },
    [=](configuration& c) {
      auto& st = self->state;
      if (c.epoch <= st.config.epoch)
        return;
      st.config = c;
      for (auto& m : c.members) {
        if (m.id == st.local.node || m.host.empty() || m.port == 0)
          continue;
        auto& p = st.peers[m.id];
        if (p.address.host == m.host && p.address.port == m.port)
          continue;
        bool known = p.address.port != 0;
        p.address = peer_address{m.id, m.host, m.port};
        log_line(log_level::info, st.local.node, "directory",
                 std::string(known ? "address of " : "new member ")
                   + std::to_string(m.id) + " at " + m.host + ":"
                   + std::to_string(m.port));
        p.backoff = std::chrono::milliseconds{100};
        // A changed address takes effect at the next (re)connection.
        if (!p.directory)
          connect(self, m.id);
      }
      if (st.local.elector)
        self->send(st.local.elector, std::move(c));
    },
    [=](members_atom) { return self->state.config; });
}

} // namespace

caf::actor spawn_directory(caf::actor_system& sys, role_handles local,
                           std::vector<peer_address> peers) {
  return sys.spawn(directory_impl, std::move(local), std::move(peers));
}

} // namespace paxoskv
