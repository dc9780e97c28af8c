// The simulator's nodes and client connections, shared by the files that
// implement cluster (cluster.cpp runs it, network.cpp and node_faults.cpp
// are its network and node faults, clients.cpp drives the clients,
// final_check.cpp checks the outcome). Not for use outside test/sim.
#pragma once

#include <deque>

#include "test/sim/cluster.hpp"

namespace paxoskv::sim {

/// Client ids live far above node ids so the network can tell them apart.
constexpr uint64_t first_client_id = 1000;

/// Where an operator's membership requests come from (a client address).
constexpr uint64_t operator_address = uint64_t{1} << 62;

inline bool is_client(uint64_t addr) {
  return addr >= first_client_id;
}

/// SplitMix64's finaliser: a seed-derived incarnation without drawing from
/// the run's generator.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

struct cluster::node {
  node_id id = 0;
  bool up = false;
  /// The roles it hosts: an acceptor, and the other three (a front).
  bool hosts_acceptor = true;
  bool hosts_front = true;
  /// Not a member at start (an acceptor membership changes may add).
  bool spare = false;
  /// The data directory (membership.hpp): its incarnation, whether a
  /// bootstrap created it, and, after a wipe, whether it restarts knowing
  /// the newest configuration (as a --join would fetch) or the bootstrap's.
  uint64_t disk_incarnation = 0;
  bool bootstrapped = true;
  bool wiped = false;
  bool wiped_knows_newest = false;
  /// What was committed, as the oracle sees it.
  memory_store disk;
  /// The real store under test, if any.
  std::unique_ptr<store> backend;
  /// The learner's state machine as committed (written behind the apply
  /// path), the real state store under test if any, and the changes not
  /// yet committed (a crash loses them).
  memory_state_store state_disk;
  std::unique_ptr<state_store> state_backend;
  std::optional<state_write> state_pending;
  /// Snapshot chunks received and an install asked for, done at the next
  /// commit (a crash before it loses them).
  std::vector<snapshot_chunk> chunks_pending;
  bool install_pending = false;
  std::unique_ptr<acceptor> acc;
  std::unique_ptr<proposer> prop;
  std::unique_ptr<learner_node> learn;
  std::unique_ptr<elector> elect;
  /// Open group commit and the replies waiting for it.
  durable_batch pending;
  std::vector<envelope> held;
  /// Requests sent by clients and not yet read by the node (it is paused).
  std::vector<client_request_in> inbox;
  /// Counts boots, so the oracle can tell a restarted proposer apart.
  uint64_t incarnation = 0;
  /// Clock rate in ms per 1000 ticks (10,000 is exact) and offset.
  uint64_t clock_rate = 10000;
  /// Frozen until this tick (see pause).
  uint64_t paused_until = 0;
  uint64_t clock_offset = 0;
  /// Added to its wall clock (Unix ms, what stamps log entries): clock
  /// steps, forwards or back.
  int64_t wall_step = 0;
  /// Oracle bookkeeping for this incarnation's learner.
  slot_t learner_next = 0;
  std::set<std::pair<uint64_t, uint64_t>> applied_commands;
  /// Per client, the last sequence this incarnation's learner applied.
  std::map<uint64_t, uint64_t> client_applied;
  /// Turns through the relays (see choose_relay).
  uint64_t relay_cursor = 0;
  /// Leader changes its elector made, over all incarnations.
  uint64_t leader_changes = 0;
};

struct cluster::client {
  size_t index = 0;
  std::vector<client_op> ops;
  /// Requests in flight at most on the connection.
  size_t depth = 1;
  /// Think time before each send, and when the next send may happen.
  uint64_t think_max = 0;
  uint64_t send_at = 0;
  /// The next op to send, and how many were answered.
  size_t next = 0;
  size_t answered = 0;
  /// The connection: its session id, node and that node's incarnation
  /// (0: not connected).
  uint64_t session = 0;
  node_id node = 0;
  uint64_t incarnation = 0;
  struct sent {
    size_t op = 0;
    uint64_t request = 0;
    uint64_t invoked = 0;
  };
  /// Requests sent and not answered, oldest first.
  std::deque<sent> in_flight;
  uint64_t next_request = 0;
};

} // namespace paxoskv::sim
