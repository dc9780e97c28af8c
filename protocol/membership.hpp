// Membership as data in the log (PROTOCOL.md rule 8).
//
// A configuration lists the cluster's members (processes): id, peer
// address, the roles each hosts, whether it is a voter or a learner, and
// the incarnation of its data directory. The bootstrap configuration has
// epoch 1; every change is a log value holding the next epoch.
//
// Rules every role follows:
// - A configuration chosen at slot i governs the slots >= i + alpha (alpha
//   is fixed at bootstrap and carried by every configuration). Below that
//   the previous one governs; the bootstrap configuration governs from
//   slot 0. So the configuration of slot s is known to anyone who knows
//   every chosen value below s - alpha + 1: a leader proposes only at
//   slots < first_unchosen + alpha.
// - A configuration value takes effect only if its epoch is one more than
//   the newest in force or pending at its slot: two leaders may each have
//   proposed a change, and the one chosen later changes nothing (every
//   replica decides the same from the log; the leader that proposed it
//   answers "not applied").
// - Quorums: a slot is chosen by a majority of the voters of the
//   configuration governing it. Phase 1 and read rounds, which cover every
//   slot from first_unchosen on, need a majority of every configuration
//   governing those slots (the one in force and the pending ones).
// - Voters: a member whose `voter` flag is set. A learner member (the flag
//   clear) applies the log and serves reads; its acceptor does not count
//   and its elector and proposer do not lead.
// - Incarnation: a random number drawn when a data directory is created.
//   A member whose incarnation is known (non-zero) counts only with
//   replies from that data directory: a node whose disk was wiped comes
//   back with another one and never counts as the member it was.
// - H(x), the history a node keeps (`config_history`): the configurations
//   governing some slot >= x, for a point x below which it knows every
//   chosen value (a first_unchosen, a log start, an applied index). Who
//   reports such a point reports H(x) with it, so whoever adopts the point
//   knows what governs the slots after it.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "protocol/ids.hpp"

namespace paxoskv {

/// Role bits of a member.
enum role_bits : uint8_t {
  role_acceptor = 1,
  role_proposer = 2,
  role_learner = 4,
  role_elector = 8,
  role_all = 15,
};

/// "acceptor,proposer,learner,elector" (the set bits, in this order).
std::string roles_to_string(uint8_t roles);

/// Parses a comma-separated role list; nothing on an unknown name or an
/// empty list.
std::optional<uint8_t> parse_roles(std::string_view s);

struct member {
  node_id id = 0;
  /// Peer address (host and port of the process's directory).
  std::string host;
  uint16_t port = 0;
  /// role_bits of the roles the process hosts.
  uint8_t roles = role_all;
  /// A voter's acceptor counts in quorums and its elector may lead.
  bool voter = true;
  /// Random id of the member's data directory; 0: not known yet (a
  /// bootstrap member before the first leader seals it).
  uint64_t incarnation = 0;
  /// A learner to promote once it has caught up (the leader does it when
  /// its lag is within bounds); clear: a learner on purpose.
  bool promote = false;

  bool has(role_bits r) const { return (roles & r) != 0; }

  friend bool operator==(const member& a, const member& b) {
    return a.id == b.id && a.host == b.host && a.port == b.port
           && a.roles == b.roles && a.voter == b.voter
           && a.promote == b.promote && a.incarnation == b.incarnation;
  }
  friend bool operator!=(const member& a, const member& b) {
    return !(a == b);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member& x) {
  return f(caf::meta::type_name("member"), x.id, x.host, x.port, x.roles,
           x.voter, x.promote, x.incarnation);
}

struct configuration {
  /// 1 at bootstrap, one more with every change; 0 means "none".
  uint64_t epoch = 0;
  /// The window: a configuration chosen at slot i governs from i + alpha.
  uint32_t alpha = 64;
  /// Sorted by id, ids unique.
  std::vector<member> members;

  bool empty() const { return epoch == 0; }
  const member* find(node_id id) const;
  /// Voting members hosting an acceptor (the quorum of this configuration).
  std::vector<node_id> voters() const;
  /// Members hosting the role (learners: every member hosting a learner,
  /// voter or not; the other roles: voters only).
  std::vector<node_id> with_role(role_bits r) const;
  bool is_voter(node_id id) const;
  /// Whether `acks` holds a majority of the voters.
  bool is_quorum(const std::set<node_id>& acks) const;
  /// Whether a reply from `id`'s data directory `incarnation` counts for
  /// this configuration (the member's incarnation is 0 or the same).
  bool counts(node_id id, uint64_t incarnation) const;

  friend bool operator==(const configuration& a, const configuration& b) {
    return a.epoch == b.epoch && a.alpha == b.alpha && a.members == b.members;
  }
  friend bool operator!=(const configuration& a, const configuration& b) {
    return !(a == b);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, configuration& x) {
  return f(caf::meta::type_name("configuration"), x.epoch, x.alpha,
           x.members);
}

/// "epoch 3: 1@h:p voter, 2@h:p learner ..." for logs.
std::string to_string(const configuration& c);

/// Checks a configuration: ids unique and non-zero, sorted, at least one
/// voting acceptor, addresses present, alpha >= 1. Empty string: fine.
std::string check(const configuration& c);

/// A configuration and the slots it governs from.
struct config_entry {
  /// The slot whose value it was (0 for the bootstrap configuration).
  slot_t chosen_at = 0;
  /// First slot it governs.
  slot_t effective = 0;
  configuration config;

  friend bool operator==(const config_entry& a, const config_entry& b) {
    return a.chosen_at == b.chosen_at && a.effective == b.effective
           && a.config == b.config;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, config_entry& x) {
  return f(caf::meta::type_name("config_entry"), x.chosen_at, x.effective,
           x.config);
}

/// H(x): the configurations governing the slots from some point x on, in
/// epoch order (the first is in force at x, the others are pending).
struct config_history {
  std::vector<config_entry> entries;

  bool empty() const { return entries.empty(); }
  /// Epoch of the newest configuration known (0: none).
  uint64_t epoch() const {
    return entries.empty() ? 0 : entries.back().config.epoch;
  }
  const config_entry& latest() const { return entries.back(); }
  /// The configuration governing `slot` (the newest effective at or
  /// before it). Requires a non-empty history.
  const configuration& at(slot_t slot) const;
  /// The configurations governing some slot in [from, to), oldest first.
  std::vector<const configuration*> governing(slot_t from, slot_t to) const;
  /// A configuration value was chosen at `slot`: it governs from
  /// slot + alpha. One already known (same or older epoch) is ignored.
  /// False when it does not follow the newest known (a gap in epochs).
  bool on_chosen(slot_t slot, const configuration& c);
  /// Takes what `other` knows beyond this history (newer epochs). False
  /// when the two disagree or do not connect.
  bool merge(const config_history& other);
  /// Drops configurations no slot >= x is governed by.
  void trim(slot_t x);
  /// A change is pending at `x`: the newest does not govern slot x yet.
  bool pending(slot_t x) const {
    return !entries.empty() && entries.back().effective > x;
  }

  friend bool operator==(const config_history& a, const config_history& b) {
    return a.entries == b.entries;
  }
  friend bool operator!=(const config_history& a, const config_history& b) {
    return !(a == b);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, config_history& x) {
  return f(caf::meta::type_name("config_history"), x.entries);
}

/// Whether the newest configuration of `h` that lists node `self` lists it
/// as another data directory than the one of `incarnation`: with a
/// different incarnation, or with none recorded when the directory did not
/// come from a bootstrap (membership.hpp). False for incarnation 0.
bool lists_as_another(const config_history& h, node_id self,
                      uint64_t incarnation, bool bootstrapped);

/// The history of a cluster just created: `c` governs from slot 0.
config_history bootstrap_history(configuration c);

/// A bootstrap configuration from role lists (tests, the simulator): each
/// node listed gets those roles, is a voter, and has a placeholder address.
configuration configuration_from_lists(const std::vector<node_id>& acceptors,
                                       const std::vector<node_id>& learners,
                                       const std::vector<node_id>& proposers,
                                       const std::vector<node_id>& electors,
                                       uint32_t alpha = 64);

/// Byte encodings (for the data directory and snapshots).
void encode(std::string& out, const configuration& c);
void encode(std::string& out, const config_history& h);
std::string encode_history(const config_history& h);
/// Nothing when the bytes are not exactly one history.
std::optional<config_history> decode_history(std::string_view bytes);

namespace codec {
class reader;
}
/// Reads a configuration from `r` (fails `r` on bad input).
configuration read_configuration(codec::reader& r);

} // namespace paxoskv
