// What each role actor reports when asked for its status, as inspectable
// structs. `field("...")` annotations name the members for the JSON
// rendering; CAF's own inspectors (printing, serialization) skip them.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include <caf/meta/annotation.hpp>
#include <caf/meta/type_name.hpp>

#include "protocol/types.hpp"

namespace paxoskv {

/// Names the member that follows it in an inspect overload.
struct field_name_t : caf::meta::annotation {
  constexpr explicit field_name_t(const char* name) : value(name) {}
  const char* value;
};

constexpr field_name_t field(const char* name) {
  return field_name_t{name};
}

struct acceptor_status {
  /// The acceptor's node.
  node_id node = 0;
  /// Highest ballot promised.
  ballot promised;
  /// Lowest slot not known chosen.
  slot_t first_unchosen = 0;
  /// Slots stored.
  uint64_t entries = 0;
  /// Writes confirmed durable, and writes waiting for a group commit.
  uint64_t writes_done = 0;
  uint64_t writes_pending = 0;
  /// The data directory's incarnation (membership.hpp).
  uint64_t incarnation = 0;
  /// The newest configuration epoch the acceptor knows.
  uint64_t config_epoch = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, acceptor_status& x) {
  return f(caf::meta::type_name("acceptor_status"), field("node"), x.node,
           field("promised"), x.promised, field("first_unchosen"),
           x.first_unchosen, field("entries"), x.entries, field("writes_done"),
           x.writes_done, field("writes_pending"), x.writes_pending,
           field("incarnation"), x.incarnation, field("config_epoch"),
           x.config_epoch);
}

/// How far an acceptor reported the log chosen, and the ticks since it
/// last answered the leader.
struct acceptor_progress {
  node_id node = 0;
  slot_t first_unchosen = 0;
  uint64_t silent_ticks = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, acceptor_progress& x) {
  return f(caf::meta::type_name("acceptor_progress"), field("node"), x.node,
           field("first_unchosen"), x.first_unchosen, field("silent_ticks"),
           x.silent_ticks);
}

struct proposer_status {
  node_id node = 0;
  /// follower, backoff, preparing or leading.
  std::string phase;
  /// The ballot of the current or last leadership attempt.
  ballot current_ballot;
  /// Whom the elector names leader (0: nobody).
  node_id leader = 0;
  /// Lowest slot this proposer does not know chosen.
  slot_t first_unchosen = 0;
  /// Next slot a new batch goes to.
  slot_t next_slot = 0;
  /// Slots proposed and not yet chosen (the window in flight).
  uint64_t in_flight = 0;
  /// Client commands waiting for a slot.
  uint64_t queued = 0;
  /// Milliseconds left on the read lease (0: none held).
  uint64_t lease_ms_left = 0;
  /// The data directory's incarnation (membership.hpp).
  uint64_t incarnation = 0;
  /// While leading: each acceptor's progress (INFO replication's lag).
  std::vector<acceptor_progress> acceptors;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, proposer_status& x) {
  return f(caf::meta::type_name("proposer_status"), field("node"), x.node,
           field("phase"), x.phase, field("ballot"), x.current_ballot,
           field("leader"), x.leader, field("first_unchosen"),
           x.first_unchosen, field("next_slot"), x.next_slot,
           field("in_flight"), x.in_flight, field("queued"), x.queued,
           field("lease_ms_left"), x.lease_ms_left,
           field("incarnation"), x.incarnation, field("acceptors"),
           x.acceptors);
}

struct learner_status {
  node_id node = 0;
  /// Slots applied (the next slot to apply).
  slot_t applied = 0;
  /// Keys in the state machine.
  uint64_t keys = 0;
  /// Client requests waiting for their command to be applied.
  uint64_t clients_waiting = 0;
  /// Leader and lease reads waiting for a read index or for it to apply.
  uint64_t reads_waiting = 0;
  /// Slots applied in the state on disk (what a restart continues from).
  slot_t durable = 0;
  /// Why writing the state fails, if it does (empty: it works).
  std::string state_error;
  /// A snapshot transfer under way (source 0: none): from which learner,
  /// the slot it covers up to, bytes in all and bytes received.
  node_id snapshot_source = 0;
  slot_t snapshot_slot = 0;
  uint64_t snapshot_total = 0;
  uint64_t snapshot_received = 0;
  /// Keys with an expiry set.
  uint64_t expires = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, learner_status& x) {
  return f(caf::meta::type_name("learner_status"), field("node"), x.node,
           field("applied"), x.applied, field("keys"), x.keys,
           field("clients_waiting"), x.clients_waiting,
           field("reads_waiting"), x.reads_waiting, field("durable"),
           x.durable, field("state_error"), x.state_error,
           field("snapshot_source"), x.snapshot_source,
           field("snapshot_slot"), x.snapshot_slot, field("snapshot_total"),
           x.snapshot_total, field("snapshot_received"), x.snapshot_received,
           field("expires"), x.expires);
}

struct elector_status {
  node_id node = 0;
  /// The current leader (0: nobody).
  node_id leader = 0;
  /// Electors heard directly within the election timeout.
  std::vector<node_id> heard;
  /// Peers of this process (by node id) with a live connection.
  std::vector<node_id> connected;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, elector_status& x) {
  return f(caf::meta::type_name("elector_status"), field("node"), x.node,
           field("leader"), x.leader, field("heard"), x.heard,
           field("connected"), x.connected);
}

/// Renders an inspectable value as JSON, naming members by their `field`
/// annotations (unnamed members become "_0", "_1", ...).
template <class T>
std::string to_json(T& x);

} // namespace paxoskv

#include "actors/json.hpp"
