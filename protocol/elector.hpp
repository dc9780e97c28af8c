// The leader elector: the bully algorithm over ticks.
//
// Every node sends a heartbeat every `heartbeat_ticks` listing the nodes it
// heard from directly within `election_timeout_ticks` (2T). A node is
// *eligible* to lead when it reaches a majority of the acceptors: only such
// a node can run Paxos. Where electors and acceptors are the same nodes,
// "reaches" means "heard directly"; where roles live in separate processes
// the shell says which acceptors are reachable. Heartbeats carry the
// eligible nodes their sender knows directly (itself included when it is
// eligible). A leader that stays eligible stays leader: each node keeps the
// highest eligible one among the leaders it and the peers it hears name;
// only when none is named does it take the highest eligible id it knows of,
// directly or relayed (the bully rule, at cold start and once the leader is
// gone).
//
// - A restarted node with a higher id does not take the lead back: it hears
//   the others name the current leader and names it too.
// - A single broken link between the leader and one follower does not make
//   that follower claim leadership: it learns from the others that the
//   leader is still eligible.
// - Two electors cut from each other (roles in separate processes, both
//   reaching the acceptors) still hear each other's relayed heartbeats, so
//   they name one leader; a relayed heartbeat never counts as heard
//   directly.
// - A node cut off from the majority (or reachable through one link only)
//   is not eligible, so it is never elected and does not stall the cluster;
//   an isolated node names no leader at all instead of running phase 1 over
//   and over.
//
// Election only serves liveness: two nodes that both believe they lead cost
// retries (ballots keep safety), never a wrong result.
//
//   startup --one timeout elapsed--> deciding (leader = max eligible id, or 0)
//
// Invariant: no leader is named before one election timeout has passed since
// start, so a restarted node first hears the cluster before it claims
// anything.
#pragma once

#include <map>
#include <optional>

#include "protocol/messages.hpp"

namespace paxoskv {

struct elector_config {
  /// This node.
  node_id self = 0;
  /// Every elector node of the cluster (including this one).
  std::vector<node_id> nodes;
  /// The acceptor nodes; empty means the same as `nodes`.
  std::vector<node_id> acceptors;
  /// Send a heartbeat every this many ticks (T).
  uint32_t heartbeat_ticks = 5;
  /// A node not heard for this many ticks is dead (2T by default).
  uint32_t election_timeout_ticks = 10;
  /// A random id of this incarnation, sent with every heartbeat.
  uint64_t boot = 0;
  /// Whether this node may lead (a voter of the configuration). A node
  /// that may not still sends heartbeats and follows the leader named.
  bool candidate = true;
  /// This node's data directory (membership.hpp): a node the configuration
  /// knows by another one does not lead.
  uint64_t incarnation = 0;
  bool bootstrapped = true;
};

struct elector_step {
  /// Heartbeats to other electors, and leader_change to this node's
  /// proposer when the leader changed.
  std::vector<envelope> send_now;
  /// Set when this step changed the leader.
  bool leader_changed = false;
};

class elector {
public:
  explicit elector(elector_config cfg);

  elector_step on_tick();
  elector_step on_heartbeat(const heartbeat& m);

  /// The current leader (0 before the first decision).
  node_id leader() const { return leader_; }

  /// Nodes heard from directly within the election timeout.
  std::vector<node_id> heard_directly() const;

  /// The acceptors this node's process is connected to. Where acceptors
  /// live in other processes than the electors, eligibility counts these
  /// instead of the electors heard directly; otherwise they are ignored.
  void set_reachable_acceptors(std::vector<node_id> reachable);

  /// Whether this node may lead and reaches a majority of the acceptors.
  bool eligible() const;

  /// The membership changed (membership.hpp): the electors heartbeats go
  /// to, the acceptors that make a node eligible, and whether this node
  /// may lead. Peers no longer listed are forgotten.
  void set_members(std::vector<node_id> nodes, std::vector<node_id> acceptors,
                   bool candidate);
  /// set_members from a configuration: heartbeats to every member hosting
  /// an elector, eligibility over its voting acceptors, and this node a
  /// candidate if it is a voter hosting a proposer. False (and no change)
  /// when it lists no voting acceptor.
  bool follow(const configuration& c);
  /// Whether this node may lead at all.
  bool candidate() const { return cfg_.candidate; }

private:
  struct peer {
    /// Heard directly (not through a relay), and when.
    uint64_t heard_tick = 0;
    bool heard = false;
    /// The peer's newest heartbeat, direct or relayed, and when it came.
    bool have_latest = false;
    uint64_t latest_tick = 0;
    heartbeat latest;
  };

  void decide(elector_step& out);
  bool fresh(const peer& p) const;
  /// Every acceptor is an elector node too (heartbeats tell reachability).
  bool hosts_all_acceptors() const;
  /// Nodes this node hears directly (itself included) that are eligible.
  std::vector<node_id> eligible_directly() const;

  elector_config cfg_;
  std::optional<std::vector<node_id>> reachable_;
  /// Some acceptors are not elector nodes: reachability comes from the
  /// process's connections.
  bool acceptors_apart_ = false;
  uint64_t now_ = 0;
  /// Heartbeats sent.
  uint64_t sent_ = 0;
  node_id leader_ = 0;
  std::map<node_id, peer> peers_;
};

} // namespace paxoskv
