// The acceptor role: the durable memory of Multi-Paxos.
//
// Invariants kept by this class:
// - `promised` never decreases, and every accepted ballot is <= `promised`.
// - A slot marked chosen never changes its value again.
// - A slot is marked chosen only when (a) a leader's first_unchosen is above
//   it *and* the slot's accepted ballot equals that leader's ballot, or (b) a
//   leader sent its chosen value in a `success` message.
// - `first_unchosen` is the lowest slot not marked chosen. Every slot below
//   `log_start` is chosen and forgotten, so first_unchosen >= log_start.
// - `configs()` is H(first_unchosen) (membership.hpp): the entries below
//   first_unchosen are chosen values, and every configuration among them
//   is taken in as first_unchosen passes it; the log start moves only to
//   at most first_unchosen, storing H with it, or to a point whose H comes
//   with it (a jump to the log start of an acceptor that compacted, sent
//   when it is asked to relay slots it no longer holds). Promises and
//   success_acks report H with first_unchosen.
// - Compaction: the log start only moves below what a majority of the
//   learners reported durably applied (their state on disk covers it, so
//   a learner that needs an older slot takes a snapshot from one of them),
//   and it keeps a tail of at least `tail_slots` chosen slots below that
//   point, unless the tail holds more than `tail_bytes`.
// - A chosen mark on a slot whose value is already stored writes only the
//   mark, never the value again.
// - Every reply that reports state (promise, accepted, success_ack) is put in
//   `after_write`: it leaves only after that state is durable.
// - Leases (lease_ms > 0): after granting ballot b a lease until time t (own
//   clock), no prepare of a newer ballot of another node is answered before
//   t; after a restart (the lease granted before is forgotten) no prepare of
//   a ballot above the promise is answered for lease_ms.
#pragma once

#include <cstddef>
#include <map>

#include "protocol/effects.hpp"

namespace paxoskv {

/// Durable changes made by acceptor handlers, in the order they were made.
struct acceptor_write {
  /// New promised ballot, if it changed.
  std::optional<ballot> promised;
  /// Values written (accepted, or learned chosen with their value), in
  /// order; a later entry for the same slot supersedes an earlier one.
  std::vector<accepted_entry> entries;
  /// Slots whose stored value is now known chosen (a mark, not a rewrite).
  std::vector<slot_t> chosen_marks;
  /// The new start of the log: every entry and mark below it is deleted
  /// (after the entries and marks of the same write are applied).
  std::optional<slot_t> log_start;
  /// Written with every new log start: the configurations governing the
  /// slots from the acceptor's first_unchosen on (membership.hpp), which
  /// the entries below the log start no longer tell.
  std::optional<config_history> configs;

  bool empty() const {
    return !promised && entries.empty() && chosen_marks.empty() && !log_start
           && !configs;
  }

  /// Appends the changes of a later step (group commit).
  void merge(acceptor_write&& later);
};

/// The acceptor's durable state, as loaded at start.
struct acceptor_state {
  /// Highest ballot promised.
  ballot promised;
  /// Every slot below this is chosen and forgotten.
  slot_t log_start = 0;
  /// Accepted entries by slot (none below log_start).
  std::map<slot_t, accepted_entry> entries;
  /// The configurations stored with the log start (empty: none stored; the
  /// bootstrap configuration applies).
  config_history configs;

  /// Applies a committed write.
  void apply(const acceptor_write& w);
};

struct acceptor_config {
  /// This acceptor's node.
  node_id self = 0;
  /// At most this many entries per promise message; the proposer asks again
  /// for the rest.
  size_t promise_entries_max = 64;
  /// At most this many entries per answer to a learner.
  size_t learn_entries_max = 64;
  /// Longest lease granted to a leader, in ms of this acceptor's clock
  /// (0: no leases, and no waiting after a restart).
  uint32_t lease_ms = 0;
  /// The clock when this acceptor started: a lease granted before a restart
  /// is honoured until started_ms + lease_ms.
  clock_ms started_ms = 0;
  /// The bootstrap configurations, for a state that stored none (a new or
  /// never compacted log). Compaction waits for a majority of the newest
  /// configuration's learners.
  config_history configs;
  /// Chosen slots kept below the compaction point for learners that lag a
  /// little (they catch up from the log rather than by snapshot), unless
  /// they hold more than tail_bytes.
  uint64_t tail_slots = 10000;
  uint64_t tail_bytes = uint64_t{64} << 20;
  /// Compaction off: the log is never truncated.
  bool compaction = true;
  /// The data directory's incarnation (membership.hpp; 0: unknown), and
  /// whether it was created by a bootstrap (a first member) rather than by
  /// a join.
  uint64_t incarnation = 0;
  bool bootstrapped = true;
};

using acceptor_step = durable_step<acceptor_write>;

class acceptor {
public:
  acceptor(acceptor_config cfg, acceptor_state restored);

  /// Phase 1: promise a ballot for every slot >= from_slot (unless a lease
  /// granted to another leader runs until after `now`).
  acceptor_step on_prepare(const prepare& m, clock_ms now);

  /// A leader's read round: report the promise; grant a lease if asked and
  /// no newer ballot was promised. Nothing is written: the answer reports
  /// the promise in memory, which is at least every promise ever answered.
  acceptor_step on_read_probe(const read_probe& m, clock_ms now);

  /// Phase 2: accept a value at a slot; mark older slots chosen.
  acceptor_step on_accept(const accept& m);

  /// A leader (or, at its request, another acceptor) tells chosen values
  /// this acceptor was missing.
  acceptor_step on_success(const success& m);

  /// A leader asks this acceptor to send the chosen values it holds to a
  /// lagging acceptor (values the leader does not keep).
  acceptor_step on_success_relay(const success_relay& m) const;

  /// A learner asks for chosen values and reports how far its state is
  /// durable; the log may be compacted.
  acceptor_step on_learn_request(const learn_request& m);

  /// The slot below which the log may be truncated now (see compaction).
  slot_t compaction_point() const;

  const ballot& promised() const { return state_.promised; }
  slot_t first_unchosen() const { return first_unchosen_; }
  slot_t log_start() const { return state_.log_start; }
  /// H(first_unchosen): the configurations governing the slots from
  /// first_unchosen on, as far as this acceptor knows.
  config_history configs() const;
  /// The configurations held (untrimmed; the newest is that of configs()).
  const config_history& configs_known() const { return configs_; }
  const std::map<slot_t, accepted_entry>& entries() const {
    return state_.entries;
  }
  const acceptor_config& config() const { return cfg_; }
  /// The bytes of the values held (what compaction_point takes for the
  /// size of the whole log).
  uint64_t bytes_held() const { return bytes_held_; }
  /// The ballot holding a lease and until when (own clock).
  const ballot& lease_ballot() const { return lease_ballot_; }
  clock_ms lease_until() const { return lease_until_; }

private:
  /// Raises the promise if `b` is newer; records the change in `w`.
  void raise_promise(const ballot& b, acceptor_write& w);

  /// Stores an entry in memory and in `w`.
  void store(accepted_entry e, acceptor_write& w);

  /// Marks chosen every slot below `leader_first_unchosen` accepted under
  /// exactly `b` (the equal-ballot rule).
  void mark_chosen_below(slot_t leader_first_unchosen, const ballot& b,
                         acceptor_write& w);

  /// Moves first_unchosen past the chosen entries held, taking the
  /// configurations among them.
  void advance_first_unchosen();
  /// Every reply to a proposer in `step` carries this data directory's
  /// incarnation (membership.hpp).
  acceptor_step stamped(acceptor_step step) const;
  /// A proposer addresses this node as another data directory (`expected`,
  /// the incarnation its configurations give this member: a wiped disk) or,
  /// for a directory that joined, as one whose incarnation is not recorded:
  /// it must not vote (it promised and accepted nothing of what its former
  /// self did).
  bool not_this_member(uint64_t expected) const;

  /// Whether `learner` is a learner of the newest configuration.
  bool is_learner(node_id learner) const;

  /// The chosen values held from `from` on, contiguous, at most `max`.
  std::vector<chosen_entry> chosen_run(slot_t from, size_t max) const;

  /// Forgets every slot below `start` (all chosen, and covered by the
  /// learners' state, or known chosen by the acceptor that sent a jump);
  /// records it in `w` with the configurations. `start` is at most
  /// first_unchosen, so these are known.
  void truncate_below(slot_t start, acceptor_write& w);

  /// What the learners reported durable (in memory; reported again after
  /// a restart), and the bytes of the entries held.

  /// Why a prepare must wait for a lease to run out, or empty.
  std::string lease_refusal(const prepare& m, clock_ms now) const;

  acceptor_config cfg_;
  acceptor_state state_;
  /// The bytes of the values in state_.entries (size_bytes), kept as they
  /// change: the compaction point walks the tail only when it could hold
  /// more than tail_bytes.
  uint64_t bytes_held_ = 0;
  ballot lease_ballot_;
  clock_ms lease_until_ = 0;
  slot_t first_unchosen_ = 0;
  /// H(log_start), and every configuration chosen after it below
  /// first_unchosen: H of any point in between is a trim of it.
  config_history configs_;
  std::map<node_id, slot_t> learner_durable_;
};

} // namespace paxoskv
