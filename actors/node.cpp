#include "actors/node.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>

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

storage_result<node_runtime> start_node(caf::actor_system& sys,
                                        const node_settings& s) {
  node_runtime rt;
  rt.roles.node = s.self;
  durable_state restored;
  if (s.acceptor || s.proposer) {
    lmdb_options o;
    o.dir = s.data_dir;
    o.create_dir = true;
    o.cluster_id = s.cluster_id;
    o.node = s.self;
    o.map_size_bytes = s.map_size_bytes;
    auto opened = lmdb_store::open(o);
    if (!opened)
      return opened.error();
    auto loaded = opened.value()->load();
    if (!loaded)
      return loaded.error();
    restored = std::move(loaded.value());
    rt.disk = spawn_disk(sys, std::move(opened.value()), s.self);
  }
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
    cfg.configs = bootstrap_configs(s);
    cfg.tail_slots = s.log_tail_slots;
    cfg.tail_bytes = s.log_tail_bytes;
    rt.roles.acceptor
      = spawn_acceptor(sys, cfg, std::move(restored.acceptor), rt.disk);
  }
  if (s.proposer) {
    proposer_config cfg;
    cfg.self = s.self;
    cfg.configs = bootstrap_configs(s);
    cfg.lease_ms = static_cast<uint32_t>(s.lease.count());
    cfg.lease_margin_ms = static_cast<uint32_t>(s.lease_margin.count());
    cfg.lease_renew_ms = static_cast<uint32_t>(s.heartbeat.count());
    cfg.jitter_seed = (static_cast<uint64_t>(s.self) << 32)
                      ^ static_cast<uint64_t>(
                        std::chrono::steady_clock::now().time_since_epoch().count());
    rt.roles.proposer
      = spawn_proposer(sys, cfg, restored.proposer_round, rt.disk, tick);
  }
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
    auto sm = std::make_unique<kv_machine>();
    if (auto err = opened.value()->load(*sm))
      return *err;
    if (sm->applied() > 0)
      log_line(log_level::info, s.self, "learner",
               "state loaded: " + std::to_string(sm->size()) + " keys, "
                 + std::to_string(sm->applied()) + " slots applied");
    auto resume = opened.value()->partial_snapshot();
    auto writer = spawn_state_writer(sys, std::move(opened.value()), s.self);
    learner_shell_config cfg;
    cfg.resume = resume;
    cfg.core.snapshot_bytes_per_tick = std::max<uint64_t>(
      1, s.snapshot_rate_bytes * static_cast<uint64_t>(tick_ms) / 1000);
    cfg.core.self = s.self;
    cfg.core.acceptors = s.acceptors;
    cfg.core.configs = bootstrap_configs(s);
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
    rt.roles.elector = spawn_elector(sys, cfg, tick);
  }
  rt.directory = spawn_directory(sys, rt.roles, s.peers);
  return rt;
}

} // namespace paxoskv
