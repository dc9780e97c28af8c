// Starting the roles one process hosts, from its configuration.
#pragma once

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "actors/spawn.hpp"
#include "storage/error.hpp"

namespace paxoskv {

/// What a process does with a data directory that holds nothing yet (an
/// existing one is always used as it is, whatever this says).
enum class start_mode : uint8_t {
  /// Refuse to start: an empty directory is either a new cluster or lost
  /// data, and the operator must say which.
  existing_only,
  /// Create the cluster: the bootstrap configuration from the role lists.
  bootstrap,
  /// Not a member yet: take the configurations a member knows
  /// (node_settings::joined) and wait to be added.
  join,
};

struct node_settings {
  std::string cluster_id;
  node_id self = 0;
  /// Roles hosted by this process.
  bool acceptor = true, proposer = true, learner = true, elector = true;
  /// Every process of the cluster (this one included).
  std::vector<peer_address> peers;
  /// Which nodes host each role (the cores' membership).
  std::vector<node_id> acceptors, proposers, learners, electors;
  std::string data_dir;
  uint64_t map_size_bytes = uint64_t{4} << 30;
  /// Compaction tail (slots, bytes) and snapshot transfer pace (bytes/s).
  uint64_t log_tail_slots = 10000;
  uint64_t log_tail_bytes = uint64_t{64} << 20;
  uint64_t snapshot_rate_bytes = uint64_t{32} << 20;
  /// The membership window (membership.hpp), for a bootstrap.
  uint32_t alpha = 64;
  start_mode mode = start_mode::existing_only;
  /// For a join: the configurations a member answered with.
  config_history joined;
  /// Heartbeat interval T and election timeout (2T by default).
  std::chrono::milliseconds heartbeat{100};
  std::chrono::milliseconds election_timeout{200};
  std::chrono::milliseconds client_timeout{5000};
  /// Read lease a leader asks of the acceptors, and what is taken off it
  /// for clock drift (lease 0: no leases).
  std::chrono::milliseconds lease{200};
  std::chrono::milliseconds lease_margin{20};
};

/// The actors of a running process.
struct node_runtime {
  role_handles roles;
  caf::actor directory;
  disk_actor disk;
};

/// The bootstrap configuration the settings describe (every node a voter).
config_history bootstrap_configs(const node_settings& s);

/// Whether `data_dir` holds no data of a node (neither the acceptor's
/// store nor the learner's state).
bool data_dir_is_new(const std::string& data_dir);

/// Opens the data directory (when the process hosts an acceptor or a
/// proposer) and spawns the roles and the directory. A new data directory
/// is created according to `mode`; the membership comes from what the data
/// directory holds (membership.hpp), the role lists only for a bootstrap or
/// for data written before membership was stored.
storage_result<node_runtime> start_node(caf::actor_system& sys,
                                        const node_settings& s);

/// Ticks per heartbeat interval: every core timer counts in these ticks.
constexpr uint32_t ticks_per_heartbeat = 5;

} // namespace paxoskv
