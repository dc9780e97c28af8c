// paxoskv-node: one process of a paxoskv cluster, hosting any subset of the
// four roles. See README.md and `paxoskv-node --help`.
#include <csignal>
#include <optional>
#include <set>
#include <iostream>
#include <pthread.h>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/type_ids.hpp"
#include "app/client_server.hpp"
#include "app/config.hpp"

using namespace paxoskv;

namespace {

using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;

std::string role_list(const node_settings& s) {
  std::string out;
  for (auto [on, name] : {std::pair{s.proposer, "proposer"},
                          std::pair{s.acceptor, "acceptor"},
                          std::pair{s.learner, "learner"},
                          std::pair{s.elector, "elector"}})
    if (on)
      out += out.empty() ? name : std::string(",") + name;
  return out;
}

/// Connects to the directory at `p` (bounded by `per_try`) and calls
/// `use(directory)` if that works.
template <class F>
void at_directory(caf::scoped_actor& self, const peer_address& p,
                  std::chrono::seconds per_try, F use) {
  auto mm = self->system().middleman().actor_handle();
  self->request(mm, per_try, caf::connect_atom_v, p.host, p.port)
    .receive(
      [&](const caf::node_id&, caf::strong_actor_ptr& ptr,
          const std::set<std::string>&) {
        if (auto dir = caf::actor_cast<caf::actor>(ptr))
          use(dir);
      },
      [](caf::error&) {});
}

/// --join on an empty data directory: the configurations a member's
/// acceptor knows, asked of the peers listed in turn until one answers
/// (each attempt bounded; the whole at most `limit`, or until SIGINT or
/// SIGTERM).
std::optional<config_history> fetch_membership(caf::actor_system& sys,
                                               const node_settings& s,
                                               std::chrono::seconds limit,
                                               const sigset_t& signals) {
  using clock = std::chrono::steady_clock;
  caf::scoped_actor self{sys};
  auto until = clock::now() + limit;
  constexpr auto per_try = std::chrono::seconds(2);
  for (;;) {
    for (auto& p : s.peers) {
      if (p.node == s.self)
        continue;
      std::optional<config_history> got;
      auto ask_acceptor = [&](const role_handles& h) {
        if (!h.acceptor)
          return;
        self->request(h.acceptor, per_try, configs_atom_v)
          .receive(
            [&](config_history& c) {
              if (!c.empty())
                got = std::move(c);
            },
            [](caf::error&) {});
      };
      at_directory(self, p, per_try, [&](const caf::actor& dir) {
        self->request(dir, per_try, lookup_atom_v, node_id{0})
          .receive([&](role_handles& h) { ask_acceptor(h); },
                   [](caf::error&) {});
      });
      if (got) {
        log_line(log_level::info, s.self, "node",
                 "join: node " + std::to_string(p.node) + " at " + p.host
                   + ":" + std::to_string(p.port) + " answered with "
                   + to_string(got->latest().config));
        return got;
      }
    }
    if (clock::now() >= until)
      return std::nullopt;
    log_line(log_level::info, s.self, "node",
             "join: no member answered yet; trying again");
    timespec pause{1, 0};
    if (sigtimedwait(&signals, nullptr, &pause) > 0)
      return std::nullopt;
  }
}

/// --bootstrap on an empty data directory: one pass over the peers listed,
/// asking each for the configuration it knows (each bounded). The newest
/// answer, if any.
std::optional<configuration> running_configuration(caf::actor_system& sys,
                                                   const node_settings& s) {
  caf::scoped_actor self{sys};
  constexpr auto per_try = std::chrono::seconds(2);
  std::optional<configuration> newest;
  for (auto& p : s.peers) {
    if (p.node == s.self)
      continue;
    at_directory(self, p, per_try, [&](const caf::actor& dir) {
      self->request(dir, per_try, members_atom_v)
        .receive(
          [&](configuration& c) {
            if (!c.empty() && (!newest || c.epoch > newest->epoch))
              newest = std::move(c);
          },
          [](caf::error&) {});
    });
  }
  return newest;
}

} // namespace

int main(int argc, char** argv) {
  // SIGINT and SIGTERM are handled by one thread with sigwait; every other
  // thread (CAF's included) inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  node_config cfg;
  cfg.load<caf::io::middleman>();
  cfg.add_message_types<caf::id_block::paxoskv>();
  if (auto err = cfg.parse(argc, argv)) {
    std::cerr << "paxoskv-node: " << to_string(err) << "\n";
    return 2;
  }
  if (cfg.cli_helptext_printed)
    return 0;
  std::string error;
  if (!cfg.check_config_file(error)) {
    std::cerr << "paxoskv-node: bad configuration: " << error << "\n";
    return 2;
  }
  auto v = validate(cfg, error);
  if (!v) {
    std::cerr << "paxoskv-node: bad configuration: " << error << "\n";
    return 2;
  }
  set_log_level(v->level);
  // Workers block on a shared queue instead of polling with short sleeps
  // (CAF's default work stealing), which costs little on an idle node and
  // far less CPU under load: on 2 cores with 3 nodes, SET at -c 64 went from
  // about 9,700/s to 14,000/s.
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("scheduler.max-threads", size_t{v->worker_threads});
  // CAF's own keepalive on every peer connection: a connection on which
  // nothing arrived for peer-timeout-ms is closed, its proxies die and the
  // directory dials again. Without it a blackholed peer is never noticed
  // and messages for it queue without end.
  cfg.set("middleman.heartbeat-interval",
          caf::timespan{v->settings.heartbeat});
  cfg.set("middleman.connection-timeout", caf::timespan{v->peer_timeout});
  auto& s = v->settings;
  caf::actor_system sys{cfg};
  if (s.mode == start_mode::join && data_dir_is_new(s.data_dir)) {
    auto joined = fetch_membership(sys, s, v->join_timeout, signals);
    if (!joined) {
      log_line(log_level::error, s.self, "node",
               "join: no member of the cluster answered at the peers listed "
               "(--peers); is the cluster running and reachable?");
      return 1;
    }
    s.joined = std::move(*joined);
  }
  if (s.mode == start_mode::bootstrap && data_dir_is_new(s.data_dir)) {
    // A cluster that already knows this node by its data directory means
    // the directory was lost: bootstrapping it again would let it vote
    // as the member it was, with nothing it promised or accepted.
    if (auto c = running_configuration(sys, s)) {
      auto* me = c->find(s.self);
      if (me != nullptr && me->incarnation != 0) {
        log_line(log_level::error, s.self, "node",
                 "bootstrap refused: the running cluster (configuration "
                 "epoch " + std::to_string(c->epoch) + ") knows node "
                   + std::to_string(s.self)
                   + " by a data directory that is not this empty one; its "
                     "data was lost. Start this machine with --join under a "
                     "new node id and run `paxoskv-cli member replace "
                     "HOST:PORT "
                   + std::to_string(s.self) + " NEW_ID@HOST:PORT`");
        return 1;
      }
    }
  }
  auto rt = start_node(sys, s);
  if (!rt) {
    log_line(log_level::error, s.self, "node", rt.error().message);
    return 1;
  }
  caf::scoped_actor self{sys};
  auto& roles = rt.value().roles;
  // Every exit stops the actors first: the actor system waits for them
  // when it goes away, so returning with them alive would hang.
  std::unique_ptr<client_server> clients;
  auto stop_all = [&] {
    if (clients)
      clients->stop();
    for (auto h : {caf::actor_cast<caf::actor>(roles.acceptor),
                   caf::actor_cast<caf::actor>(roles.proposer),
                   caf::actor_cast<caf::actor>(roles.learner),
                   caf::actor_cast<caf::actor>(roles.elector),
                   caf::actor_cast<caf::actor>(rt.value().disk),
                   rt.value().directory})
      if (h)
        self->send_exit(h, caf::exit_reason::user_shutdown);
  };
  auto port = sys.middleman().publish(rt.value().directory, v->peer_port,
                                      v->listen_host.c_str(), true);
  if (!port) {
    log_line(log_level::error, s.self, "node",
             "cannot listen for peers on " + v->listen_host + ":"
               + std::to_string(v->peer_port) + ": " + sys.render(port.error()));
    stop_all();
    return 1;
  }
  log_line(log_level::info, s.self, "node",
           "cluster " + s.cluster_id + ", roles " + role_list(s)
             + ", listening on " + v->listen_host + ":"
             + std::to_string(*port) + ", heartbeat "
             + std::to_string(s.heartbeat.count()) + " ms");
  if (v->client.port != 0) {
    std::string err;
    clients = client_server::start(sys, rt.value().roles, v->client, err);
    if (!clients) {
      log_line(log_level::error, s.self, "node", err);
      stop_all();
      return 1;
    }
    log_line(log_level::info, s.self, "node",
             "serving the Redis protocol on " + v->listen_host + ":"
               + std::to_string(clients->port()));
  }
  std::vector<caf::actor_addr> watched;
  auto watch = [&](const auto& h) {
    if (h) {
      self->monitor(h);
      watched.push_back(h.address());
    }
  };
  watch(roles.acceptor);
  watch(roles.proposer);
  watch(roles.learner);
  watch(roles.elector);
  watch(rt.value().disk);
  caf::actor waiter = caf::actor_cast<caf::actor>(self);
  std::thread signal_thread([&sys, waiter, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    caf::anon_send(waiter, shutdown_atom::value);
  });
  signal_thread.detach();
  int exit_code = 0;
  self->receive(
    [&](shutdown_atom) {
      log_line(log_level::info, s.self, "node", "shutting down");
    },
    [&](caf::down_msg& dm) {
      log_line(log_level::error, s.self, "node",
               "a role actor stopped (" + sys.render(dm.reason)
                 + "); exiting so that a restart reloads the disk");
      exit_code = 1;
    });
  stop_all();
  return exit_code;
}
