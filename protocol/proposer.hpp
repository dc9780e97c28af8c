// The proposer role: runs phase 1 once per leadership, then streams accepts.
//
//          leader_change(self)
//   follower ------------------> preparing --majority no_more_accepted--> leading
//      ^                          |    ^                                    |
//      | leader_change(other)     |    | backoff elapsed, still elected     |
//      +--------------------------+  backoff <------ nack / newer promise --+
//
// Invariants kept by this class:
// - A ballot is used only after its round is durable: prepares, first sent
//   or retransmitted, are in `after_write`, and a shell releases those only
//   after everything written before them is durable. So a restarted
//   proposer never reuses a ballot.
// - Leading starts only after a majority of acceptors reported every slot
//   they accepted at or above `from_slot` (no_more_accepted), so for every
//   such slot the leader re-proposes the highest-ballot value reported, or a
//   NOP where none was.
// - Membership (membership.hpp): `configs_` is H(first_unchosen); a value
//   is proposed at slot s only when s < first_unchosen + alpha (so the
//   configuration governing s is known), and is chosen by a majority of
//   that configuration's voters. Phase 1 and read rounds need a majority of
//   every configuration governing the slots from first_unchosen on. A
//   configuration learned while leading that brings voters not prepared
//   makes phase 1 run again (new ballot) before anything else is proposed.
//   first_unchosen is adopted from an acceptor only together with what
//   governs the slots after it. A pending configuration is pushed into
//   force with NOPs when nothing else fills the window.
// - Every slot below `first_unchosen` is chosen. `chosen_` holds the values
//   of some of them (to bring lagging acceptors up to date) and of chosen
//   slots above it. Below first_unchosen it drops what every acceptor
//   knows, and beyond its bounds (chosen_kept_max, chosen_kept_bytes_max)
//   what a majority of acceptors hold as chosen values: a lagging acceptor
//   gets those relayed by one of them (success_relay). An acceptor
//   reporting a higher first_unchosen (it learned it from another leader)
//   raises the proposer's: phase 1 then starts near the tip, and its cost
//   does not grow with the history.
// - A command is at most once in the queue and the slots in flight
//   together (resends of it are dropped while it is there).
// - While leading: no prepare per command; at most `window_slots_max`
//   slots in flight, phase 1 re-proposals included (they go first); one accept per acceptor per batch unless a
//   retransmission timer expires. Adaptive batching, no timers: a client
//   batch leaves at once when nothing is in flight, or when the queue holds
//   a full batch; otherwise what arrives while a batch is in flight waits
//   for it and forms the next batch. Under load a slot (an fsync'd commit
//   on every acceptor, and one message per acceptor and learner) then
//   carries as many commands as arrived during the previous one.
// - Reads: a read index is the next slot to propose when the read_request
//   arrives. It is answered only while leading, and either after a read
//   round sent after the request arrived was answered by a majority with
//   no newer promise, or (lease reads) when a majority granted a lease in a
//   round sent at time t and the clock reads less than
//   t + lease_ms - lease_margin_ms. Losing the lead drops both.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <tuple>

#include "protocol/effects.hpp"

namespace paxoskv {

/// Durable state of a proposer: the highest round it ever used.
struct proposer_write {
  /// The round to persist; never decreases.
  uint64_t round = 0;
};

struct proposer_config {
  /// This proposer's node.
  node_id self = 0;
  /// The configurations known at start (what this node stored; see
  /// membership.hpp). Empty: one built from the two lists below.
  config_history configs;
  /// Without `configs`: the acceptors (all voters) and learners.
  std::vector<node_id> acceptors;
  std::vector<node_id> learners;
  /// Client batches in flight at once while leading.
  size_t window_slots_max = 16;
  /// Commands per batch (one log slot).
  size_t batch_commands_max = 256;
  /// Bytes per batch.
  uint64_t batch_bytes_max = 256 * 1024;
  /// Commands waiting for a slot; beyond this new commands are refused.
  size_t queue_commands_max = 8192;
  /// Ticks before a prepare, accept or success is sent again.
  uint32_t retransmit_ticks = 4;
  /// An acceptor that does not answer gets retransmissions (and
  /// keepalives) ever less often: the interval doubles with each unanswered
  /// one, up to this many ticks; any answer resets it.
  uint32_t retransmit_backoff_max = 64;
  /// After losing a ballot, wait 1..this many ticks (seeded jitter) before
  /// trying again, so colliding proposers stop colliding.
  uint32_t backoff_ticks_max = 8;
  /// Chosen entries per success message.
  size_t success_entries_max = 32;
  /// Values of chosen slots below first_unchosen kept for lagging
  /// acceptors, at most (slots and bytes). An acceptor behind what is kept
  /// is told the slots are chosen without their values.
  size_t chosen_kept_max = 1024;
  uint64_t chosen_kept_bytes_max = uint64_t{32} << 20;
  /// While leading, an acceptor sent nothing for this many ticks gets a
  /// keepalive success; its answer reveals a newer promise, so an idle
  /// leader that was superseded steps down and runs phase 1 again.
  uint32_t keepalive_ticks = 8;
  /// How often a client command may be forwarded to another node.
  uint32_t forward_hops_max = 2;
  /// Forwarded commands buffered at most; beyond this they go at once.
  size_t forward_buffer_max = 1024;
  /// Seed of the jitter generator.
  uint64_t jitter_seed = 1;
  /// Lease asked of the acceptors for lease reads (0: no leases; lease
  /// reads are then served as leader reads).
  uint32_t lease_ms = 0;
  /// Taken off the lease for clock drift between leader and acceptors.
  uint32_t lease_margin_ms = 0;
  /// While leading with leases on, a read round is sent at least this often
  /// so the lease is renewed before it runs out.
  uint32_t lease_renew_ms = 0;
  /// A learner added to be promoted (membership.hpp) is promoted by the
  /// leader once it reports having applied up to within this many slots of
  /// first_unchosen, holding at most this many bytes of values, in a
  /// report at most `progress_fresh_ticks` old.
  slot_t promote_lag_slots = 1000;
  uint64_t promote_lag_bytes = uint64_t{4} << 20;
  uint32_t progress_fresh_ticks = 40;
  /// The incarnation of this node's data directory (membership.hpp; 0:
  /// unknown), and whether a bootstrap created it.
  uint64_t incarnation = 0;
  bool bootstrapped = true;
  /// The node's wall clock (Unix ms) that stamps each client batch (the
  /// state machine's time, kv_machine.hpp). Unset: batches go unstamped.
  std::function<uint64_t()> wall_clock;
};

using proposer_step = durable_step<proposer_write>;

enum class proposer_phase : uint8_t { follower, backoff, preparing, leading };

std::string to_string(proposer_phase p);

class proposer {
public:
  proposer(proposer_config cfg, uint64_t restored_round);

  /// The elector names a leader. If it is this node, run phase 1.
  proposer_step on_leader_change(const leader_change& m);

  /// A client command arrives (from a client or forwarded by a node).
  /// A follower does not forward it at once: it buffers it for the leader
  /// until `flush_forwards` (see `forwards_buffered`).
  proposer_step on_client_command(const client_command& m);

  /// Commands forwarded by another node, batched.
  proposer_step on_client_batch(const client_batch& m);

  /// Sends the buffered forwards, one client_batch per destination. The
  /// shell calls it once the commands queued for this proposer are handled.
  proposer_step flush_forwards();

  /// Commands waiting in the forward buffer.
  size_t forwards_buffered() const { return forward_buffer_.size(); }

  /// An operator asks for a membership change. The leader refuses it
  /// while another is in progress, else proposes the next configuration
  /// and answers once it is chosen; a follower forwards it to the leader.
  proposer_step on_membership_request(const membership_request& m);

  /// A learner to be promoted reports how far it has applied; the leader
  /// promotes it (one change, as an operator's) once it is close enough.
  proposer_step on_learner_progress(const learner_progress& m);

  proposer_step on_promise(const promise& m);
  proposer_step on_nack(const nack& m);
  proposer_step on_accepted(const accepted& m);
  proposer_step on_success_ack(const success_ack& m);

  /// A learner wants a read index (leader or lease read).
  proposer_step on_read_request(const read_request& m, clock_ms now);

  /// An acceptor answers a read round.
  proposer_step on_read_probe_ack(const read_probe_ack& m, clock_ms now);

  /// Timer: retransmissions, backoff, catching up lagging acceptors,
  /// renewing the lease.
  proposer_step on_tick(clock_ms now);

  proposer_phase phase() const { return phase_; }
  const ballot& current_ballot() const { return ballot_; }
  slot_t first_unchosen() const { return first_unchosen_; }
  slot_t next_slot() const { return next_slot_; }
  size_t in_flight() const { return in_flight_.size(); }
  size_t queued() const { return queue_.size(); }
  node_id leader_hint() const { return leader_hint_; }
  const std::map<slot_t, log_value>& chosen_values() const { return chosen_; }
  /// H(first_unchosen): the configurations governing the slots from
  /// first_unchosen on.
  const config_history& configs() const { return configs_; }
  /// The incarnation of this node's data directory (0: unknown).
  uint64_t incarnation() const { return cfg_.incarnation; }
  /// A membership change asked of this leader is under way.
  bool changing() const { return change_.has_value(); }
  /// True while a lease read may be answered without a round.
  bool lease_held(clock_ms now) const {
    return phase_ == proposer_phase::leading && now < lease_until_;
  }
  clock_ms lease_until() const { return lease_until_; }

private:
  /// Per-acceptor bookkeeping.
  struct peer {
    /// The acceptor's reported first_unchosen (highest seen).
    slot_t first_unchosen = 0;
    /// Tick at which first_unchosen last moved.
    uint64_t progress_tick = 0;
    /// Tick of the last success sent to it.
    uint64_t success_tick = 0;
    /// Tick of the last message (accept or success) sent to it.
    uint64_t sent_tick = 0;
    /// Retransmission backoff: the last reply of any kind from it, the last
    /// retransmission (or keepalive) to it, and the interval before the
    /// next one, which doubles while it stays silent.
    uint64_t heard_tick = 0;
    uint64_t retry_tick = 0;
    uint32_t retry_interval = 0;
    /// Phase 1: next slot to ask from, whether it reported everything, and
    /// whether it answered at all.
    slot_t prepare_from = 0;
    bool prepare_done = false;
    uint64_t prepare_tick = 0;
    /// No longer a voter of a configuration governing the slots from
    /// first_unchosen on: sent nothing, asked only to relay chosen values
    /// it holds (see send_success).
    bool retired = false;
  };
  /// Retired acceptors kept at most.
  static constexpr size_t retired_max = 16;

  /// A slot proposed in this leadership and not yet chosen.
  struct proposal {
    log_value value;
    std::set<node_id> acks;
    uint64_t sent_tick = 0;
  };

  /// An acceptor answered: retransmissions to it go at the normal rate.
  void heard_from(node_id acceptor);
  /// Whether a retransmission to `p` may go now; if so, it is counted
  /// (the interval doubles, up to retransmit_backoff_max, when `p` did not
  /// answer since the previous one).
  bool may_retransmit(peer& p);

  void start_phase1(proposer_step& out);
  void finish_phase1(proposer_step& out);
  void step_down(const ballot& newer, proposer_step& out);
  void become_follower(proposer_step& out);
  /// Buffers a command for the leader (hops + 1), or drops it when no
  /// leader is known or it was forwarded too often.
  void forward(const client_command& c, proposer_step& out);
  /// Tells the origin of a copy dropped here that it will not be applied.
  void refuse(const client_command& c, const std::string& why,
              proposer_step& out);
  /// True when another node is known to lead and a message forwarded
  /// `hops` times may go on once more.
  bool can_forward(uint32_t hops) const {
    return leader_hint_ != 0 && leader_hint_ != cfg_.self
           && hops < cfg_.forward_hops_max;
  }
  void propose(slot_t slot, log_value value, proposer_step& out);
  /// Whether a value may be proposed at `slot` now: its configuration is
  /// known (slot < first_unchosen + alpha).
  bool within_window(slot_t slot) const;
  void fill_window(proposer_step& out);
  void record_chosen(slot_t slot, log_value value, std::vector<chosen_entry>&,
                     proposer_step& out);
  /// Moves first_unchosen past the chosen values kept, taking the
  /// configurations among them.
  void advance_first_unchosen(proposer_step& out);
  /// The configurations changed: the acceptors to talk to follow; new
  /// voters are prepared, and a leader whose phase 1 no longer holds a
  /// majority of every governing configuration runs it again.
  void configs_changed(proposer_step& out);
  /// Whether `acks` holds a majority of every configuration governing the
  /// slots from first_unchosen on (phase 1, read rounds, leases).
  bool quorum_of_all(const std::set<node_id>& acks) const;
  /// The acceptors that completed phase 1 under the current ballot.
  std::set<node_id> prepared() const;
  void notify_learners(std::vector<chosen_entry> entries, proposer_step& out);
  /// Records an acceptor's first_unchosen; true if it moved forward. Every
  /// slot below it is chosen: one above this proposer's own is adopted
  /// when the configurations up to it are known: `configs` is the
  /// acceptor's H(first_unchosen), or (null) its newest epoch is `epoch`.
  bool note_acceptor_progress(node_id acceptor, slot_t first_unchosen,
                              const config_history* configs, uint64_t epoch,
                              proposer_step& out);
  /// Every slot below `fu` is chosen: moves first_unchosen there, and
  /// drops what this leader still had in flight below it.
  void adopt_first_unchosen(slot_t fu, proposer_step& out);
  /// Talks to exactly the voters of the configurations governing the slots
  /// from first_unchosen on; returns those added.
  std::vector<node_id> refresh_peers();
public:
  /// Each acceptor's reported first_unchosen, and the ticks since it last
  /// answered.
  std::vector<std::tuple<node_id, slot_t, uint64_t>> acceptor_progress() const {
    std::vector<std::tuple<node_id, slot_t, uint64_t>> out;
    for (auto& [id, p] : peers_)
      if (!p.retired)
        out.emplace_back(id, p.first_unchosen, now_ - p.heard_tick);
    return out;
  }
private:
  /// Every learner of those configurations.
  std::vector<node_id> learners() const;
  /// Drops chosen values no acceptor needs, and the oldest beyond the
  /// bounds.
  void prune_chosen();
  void send_success(node_id acceptor, proposer_step& out);
  void send_accept(node_id acceptor, slot_t slot, const log_value& value,
                   proposer_step& out);
  void retransmit(proposer_step& out);
  /// Sends a read round covering every read waiting for one.
  void start_read_round(clock_ms now, proposer_step& out);
  /// Sends the open read round again to the acceptors that did not answer.
  void resend_read_round(proposer_step& out);
  /// The open read round's probe, to one acceptor.
  void send_read_probe(node_id acceptor, proposer_step& out);
  /// Forgets reads, rounds and the lease (leadership lost or restarted).
  void drop_reads();
  /// Forgets the slots in flight (leadership lost or restarted): their
  /// commands may come again.
  void drop_in_flight(proposer_step& out);
  /// The configuration a change makes of the newest one, or why not.
  std::optional<configuration> changed(const membership_request& m,
                                       std::string& why) const;
  /// Whether a membership change is under way (asked for, in flight, or
  /// chosen and not yet in force).
  std::string change_in_progress() const;
  void answer_change(const std::string& error, proposer_step& out);
  /// Whether a reply from `acceptor`'s data directory `incarnation` may
  /// count: no configuration governing the slots from first_unchosen on
  /// lists that member with another incarnation (a wiped disk). Records the
  /// incarnation for sealing.
  bool from_member(node_id acceptor, uint64_t incarnation, proposer_step& out);
  /// The newest configuration knows this node with another data directory
  /// (its disk was wiped): it must not lead (its old ballots may be reused).
  bool lost_data() const;
  /// The incarnation the newest configuration listing `acceptor` gives it
  /// (0: none recorded), sent with prepares, accepts and read probes.
  uint64_t incarnation_of(node_id acceptor) const;
  /// Leading with no change under way: records the incarnations of the
  /// voters that answered and whose incarnation no configuration has yet
  /// (the bootstrap members), as a change of its own.
  void maybe_seal(proposer_step& out);
  /// Leading with no change under way: promotes a learner that has caught
  /// up (see proposer_config::promote_lag_slots).
  void maybe_promote(proposer_step& out);
  /// Whether a learner that applied up to `applied` is close enough to
  /// first_unchosen to vote.
  bool caught_up(slot_t applied) const;
  /// The change's slot is below first_unchosen: answers whether it took
  /// effect.
  void settle_change(proposer_step& out);
  bool is_acceptor(node_id n) const {
    auto i = peers_.find(n);
    return i != peers_.end() && !i->second.retired;
  }
  uint64_t next_jitter();

  proposer_config cfg_;
  proposer_phase phase_ = proposer_phase::follower;
  /// The highest round durably used.
  uint64_t round_ = 0;
  /// The highest round seen in any ballot (ours or others').
  uint64_t seen_round_ = 0;
  ballot ballot_;
  node_id leader_hint_ = 0;
  /// The highest stamp this proposer gave or saw: its stamps never go
  /// back, even when its wall clock does.
  uint64_t last_stamp_ = 0;
  uint64_t stamp();
  uint64_t now_ = 0;
  uint64_t backoff_until_ = 0;
  uint64_t jitter_state_;
  slot_t first_unchosen_ = 0;
  slot_t next_slot_ = 0;
  /// Accepts tell acceptors that what they accepted under this ballot below
  /// min(first_unchosen, marks_below_) is chosen: true of the slots this
  /// leader saw chosen itself, not of one it proposed at and then learned
  /// decided from an acceptor (another value may have been chosen there).
  /// The lowest such slot of this ballot; reset with every new ballot.
  slot_t marks_below_ = ~slot_t{0};
  std::map<node_id, peer> peers_;
  std::map<slot_t, log_value> chosen_;
  /// Bytes of the values in chosen_.
  uint64_t chosen_bytes_ = 0;
  /// Turns through the acceptors asked to relay values.
  uint64_t relay_cursor_ = 0;
  std::map<slot_t, proposal> in_flight_;
  /// H(first_unchosen_).
  config_history configs_;
  /// The membership change this leader is carrying out, if any.
  struct change {
    membership_request request;
    configuration next;
    /// Set once proposed, at `slot`.
    bool proposed = false;
    slot_t slot = 0;
  };
  std::optional<change> change_;
  /// The newest progress report of each learner to be promoted: the slot
  /// it reported and the tick it came.
  std::map<node_id, std::pair<slot_t, uint64_t>> progress_;
  /// The incarnation each acceptor's replies carry (for sealing).
  std::map<node_id, uint64_t> incarnations_;
  std::deque<client_command> queue_;
  /// The bytes of the commands in queue_ (size_bytes).
  uint64_t queue_bytes_ = 0;
  /// The queue holds at least a full batch.
  bool full_batch_queued() const;
  /// (client, sequence) of every command in queue_ or in flight: a resend
  /// of one of them is dropped instead of taking a second log entry.
  std::set<std::pair<uint64_t, uint64_t>> pending_ids_;
  /// Commands to forward to the leader, with the leader they are for.
  std::vector<std::pair<node_id, client_command>> forward_buffer_;
  /// Phase 1 re-proposals (and NOPs) not yet in the window, by slot.
  std::map<slot_t, log_value> reproposals_;
  /// Phase 1 results: highest-ballot accepted value per slot.
  std::map<slot_t, accepted_entry> reported_;
  /// A read waiting for its index to be confirmed.
  struct pending_read {
    node_id origin = 0;
    uint64_t id = 0;
    slot_t index = 0;
  };
  /// Reads that arrived after the round in flight was sent.
  std::vector<pending_read> reads_next_;
  /// The read round in flight, if any, and the reads it confirms.
  bool round_open_ = false;
  uint64_t round_id_ = 0;
  uint64_t round_tick_ = 0;
  clock_ms round_sent_ms_ = 0;
  std::set<node_id> round_acks_;
  std::set<node_id> round_grants_;
  std::vector<pending_read> round_reads_;
  /// When the last round was sent (for renewing the lease).
  clock_ms last_round_ms_ = 0;
  /// Lease reads are answered at once before this time.
  clock_ms lease_until_ = 0;
};

} // namespace paxoskv
