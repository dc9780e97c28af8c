#include "actors/node.hpp"
#include "actors/shell.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>

#include <algorithm>
#include <random>

#include <sys/stat.h>

#include "protocol/kv_machine.hpp"
#include "storage/lmdb_state_store.hpp"
#include "storage/lmdb_store.hpp"

namespace paxoskv {

config_history bootstrap_configs(const node_settings& s) {
  auto c = configuration_from_lists(s.acceptors, s.learners, s.proposers,
                                    s.electors, s.alpha);
  for (auto& m : c.members)
    for (auto& p : s.peers)
      if (p.node == m.id) {
        m.host = p.host;
        m.port = p.port;
      }
  return bootstrap_history(std::move(c));
}

bool data_dir_is_new(const std::string& data_dir) {
  struct stat st;
  return ::stat((data_dir + "/data.mdb").c_str(), &st) != 0
         && ::stat((data_dir + "/state/data.mdb").c_str(), &st) != 0;
}

namespace {

/// The newer of two histories a node stored (its acceptor's and its
/// learner's), or what both tell together.
config_history newest_of(const config_history& a, const config_history& b) {
  if (a.empty())
    return b;
  if (b.empty())
    return a;
  auto merged = a;
  if (merged.merge(b))
    return merged;
  return a.epoch() >= b.epoch() ? a : b;
}

std::string empty_dir_advice(const node_settings& s) {
  return "data directory " + s.data_dir
         + " holds no data. If this is a new cluster, start each of its "
           "first nodes once with --bootstrap. To add this node to a running "
           "cluster, start it with --join and run `paxoskv-cli member add`. "
           "If this node was a member and lost its data, do not bootstrap it "
           "again: start it with --join under a new node id and run "
           "`paxoskv-cli member replace HOST:PORT "
         + std::to_string(s.self) + " NEW_ID@HOST:PORT`";
}

} // namespace

storage_result<node_runtime> start_node(caf::actor_system& sys,
                                        const node_settings& s) {
  node_runtime rt;
  rt.roles.node = s.self;
  bool fresh = !s.data_dir.empty() && data_dir_is_new(s.data_dir);
  config_history created;
  if (fresh) {
    switch (s.mode) {
      case start_mode::existing_only:
        return storage_error{storage_errc::invalid_argument,
                             empty_dir_advice(s)};
      case start_mode::bootstrap:
        created = bootstrap_configs(s);
        log_line(log_level::info, s.self, "node",
                 "bootstrap: new cluster " + s.cluster_id + ", "
                   + to_string(created.latest().config));
        break;
      case start_mode::join:
        if (s.joined.empty())
          return storage_error{storage_errc::invalid_argument,
                               "join: no configuration to join"};
        created = s.joined;
        log_line(log_level::info, s.self, "node",
                 "joining cluster " + s.cluster_id + " at "
                   + to_string(created.latest().config)
                   + "; waiting to be added (paxoskv-cli member add)");
        break;
    }
  } else if (s.mode == start_mode::bootstrap || s.mode == start_mode::join) {
    log_line(log_level::info, s.self, "node",
             std::string(s.mode == start_mode::bootstrap ? "--bootstrap"
                                                         : "--join")
               + " ignored: data directory " + s.data_dir
               + " holds data; starting from it");
  }
  durable_state restored;
  uint64_t incarnation = 0;
  bool bootstrapped = true;
  if (s.acceptor || s.proposer) {
    lmdb_options o;
    o.dir = s.data_dir;
    o.create_dir = true;
    o.cluster_id = s.cluster_id;
    o.node = s.self;
    o.map_size_bytes = s.map_size_bytes;
    o.bootstrap = s.mode != start_mode::join;
    auto opened = lmdb_store::open(o);
    if (!opened)
      return opened.error();
    incarnation = opened.value()->incarnation();
    bootstrapped = opened.value()->bootstrapped();
    if (fresh) {
      // The first membership is durable before anything else happens.
      durable_batch b;
      acceptor_write w;
      w.configs = created;
      b.add(std::move(w));
      if (auto err = opened.value()->commit(b))
        return *err;
    }
    auto loaded = opened.value()->load();
    if (!loaded)
      return loaded.error();
    restored = std::move(loaded.value());
    rt.disk = spawn_disk(sys, std::move(opened.value()), s.self);
  }
  std::unique_ptr<kv_machine> sm;
  std::unique_ptr<lmdb_state_store> state_store;
  if (s.learner) {
    // The state machine, from its own environment in <data dir>/state.
    ::mkdir(s.data_dir.c_str(), 0750); // An existing one is fine.
    lmdb_state_options so;
    so.dir = s.data_dir + "/state";
    so.cluster_id = s.cluster_id;
    so.map_size_bytes = s.map_size_bytes;
    auto opened = lmdb_state_store::open(so);
    if (!opened)
      return opened.error();
    sm = std::make_unique<kv_machine>();
    if (auto err = opened.value()->load(*sm))
      return *err;
    if (fresh) {
      sm->set_membership(encode_history(created));
      if (auto w = sm->take_changes())
        if (auto err = opened.value()->commit(*w))
          return *err;
    }
    if (sm->applied() > 0)
      log_line(log_level::info, s.self, "learner",
               "state loaded: " + std::to_string(sm->size()) + " keys, "
                 + std::to_string(sm->applied()) + " slots applied");
    state_store = std::move(opened.value());
  }
  // The membership: what the data directory holds (membership.hpp).
  config_history learned;
  if (sm && !sm->membership().empty())
    if (auto h = decode_history(sm->membership()))
      learned = std::move(*h);
  auto known = newest_of(restored.acceptor.configs, learned);
  if (known.empty()) {
    // Data written before membership was stored: the role lists describe
    // the cluster as it was created.
    known = bootstrap_configs(s);
    log_line(log_level::info, s.self, "node",
             "no membership stored; using the role lists: "
               + to_string(known.latest().config));
  } else if (!fresh) {
    log_line(log_level::info, s.self, "node",
             "membership from the data directory: "
               + to_string(known.latest().config));
  }
  if (known.latest().config.find(s.self) == nullptr && !fresh)
    log_line(log_level::warning, s.self, "node",
             "node " + std::to_string(s.self)
               + " is not a member of configuration epoch "
               + std::to_string(known.epoch())
               + " (not added yet, or removed)");
  auto tick_ms = std::max<int64_t>(1, s.heartbeat.count() / ticks_per_heartbeat);
  tick_duration tick{tick_ms};
  auto in_ticks = [&](std::chrono::milliseconds d) {
    return static_cast<uint32_t>(std::max<int64_t>(1, d.count() / tick_ms));
  };
  if (s.acceptor) {
    acceptor_config cfg;
    cfg.self = s.self;
    cfg.lease_ms = static_cast<uint32_t>(s.lease.count());
    cfg.started_ms = monotonic_ms();
    cfg.configs = known;
    cfg.tail_slots = s.log_tail_slots;
    cfg.tail_bytes = s.log_tail_bytes;
    cfg.incarnation = incarnation;
    cfg.bootstrapped = bootstrapped;
    rt.roles.acceptor
      = spawn_acceptor(sys, cfg, std::move(restored.acceptor), rt.disk);
  }
  if (s.proposer) {
    proposer_config cfg;
    cfg.self = s.self;
    cfg.configs = known;
    cfg.incarnation = incarnation;
    cfg.bootstrapped = bootstrapped;
    cfg.lease_ms = static_cast<uint32_t>(s.lease.count());
    cfg.lease_margin_ms = static_cast<uint32_t>(s.lease_margin.count());
    cfg.lease_renew_ms = static_cast<uint32_t>(s.heartbeat.count());
    cfg.wall_clock = wall_ms;
    cfg.jitter_seed = (static_cast<uint64_t>(s.self) << 32)
                      ^ static_cast<uint64_t>(
                        std::chrono::steady_clock::now().time_since_epoch().count());
    rt.roles.proposer
      = spawn_proposer(sys, cfg, restored.proposer_round, rt.disk, tick);
  }
  if (s.learner) {
    auto resume = state_store->partial_snapshot();
    auto writer = spawn_state_writer(sys, std::move(state_store), s.self);
    learner_shell_config cfg;
    cfg.resume = resume;
    cfg.core.snapshot_bytes_per_tick = std::max<uint64_t>(
      1, s.snapshot_rate_bytes * static_cast<uint64_t>(tick_ms) / 1000);
    cfg.core.self = s.self;
    cfg.core.wall_clock = wall_ms;
    cfg.core.acceptors = s.acceptors;
    cfg.core.configs = known;
    cfg.tick = tick;
    cfg.client_timeout = s.client_timeout;
    cfg.resend_ticks = 2 * ticks_per_heartbeat;
    cfg.proposers = s.proposers;
    rt.roles.learner = spawn_learner(sys, cfg, std::move(sm), writer);
  }
  if (s.elector) {
    elector_config cfg;
    cfg.self = s.self;
    cfg.nodes = s.electors;
    cfg.acceptors = s.acceptors;
    cfg.heartbeat_ticks = ticks_per_heartbeat;
    cfg.election_timeout_ticks = std::max(in_ticks(s.election_timeout),
                                          cfg.heartbeat_ticks);
    std::random_device rd;
    cfg.boot = (uint64_t{rd()} << 32) ^ rd();
    cfg.incarnation = incarnation;
    cfg.bootstrapped = bootstrapped;
    rt.roles.elector = spawn_elector(sys, cfg, known.latest().config, tick);
  }
  // Where to reach the members, beside the peers configured.
  auto peers = s.peers;
  for (auto& m : known.latest().config.members)
    if (!m.host.empty() && m.port != 0
        && std::none_of(peers.begin(), peers.end(),
                        [&](const peer_address& p) { return p.node == m.id; }))
      peers.push_back({m.id, m.host, m.port});
  rt.directory = spawn_directory(sys, rt.roles, peers);
  rt.roles.directory = rt.directory;
  return rt;
}

} // namespace paxoskv
