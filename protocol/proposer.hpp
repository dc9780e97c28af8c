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
// - Every slot below `first_unchosen` is in `chosen_`.
// - While leading: no prepare per command; at most `window_slots_max`
//   client batches in flight; one accept per acceptor per batch unless a
//   retransmission timer expires.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <set>

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
  /// Every acceptor of the cluster (a majority of them decides).
  std::vector<node_id> acceptors;
  /// Every learner, told each chosen value.
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
  /// After losing a ballot, wait 1..this many ticks (seeded jitter) before
  /// trying again, so colliding proposers stop colliding.
  uint32_t backoff_ticks_max = 8;
  /// Chosen entries per success message.
  size_t success_entries_max = 32;
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

  proposer_step on_promise(const promise& m);
  proposer_step on_nack(const nack& m);
  proposer_step on_accepted(const accepted& m);
  proposer_step on_success_ack(const success_ack& m);

  /// Timer: retransmissions, backoff, catching up lagging acceptors.
  proposer_step on_tick();

  proposer_phase phase() const { return phase_; }
  const ballot& current_ballot() const { return ballot_; }
  slot_t first_unchosen() const { return first_unchosen_; }
  slot_t next_slot() const { return next_slot_; }
  size_t in_flight() const { return in_flight_.size(); }
  size_t queued() const { return queue_.size(); }
  node_id leader_hint() const { return leader_hint_; }
  const std::map<slot_t, log_value>& chosen_values() const { return chosen_; }

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
    /// Phase 1: next slot to ask from, whether it reported everything, and
    /// whether it answered at all.
    slot_t prepare_from = 0;
    bool prepare_done = false;
    uint64_t prepare_tick = 0;
  };

  /// A slot proposed in this leadership and not yet chosen.
  struct proposal {
    log_value value;
    std::set<node_id> acks;
    uint64_t sent_tick = 0;
  };

  void start_phase1(proposer_step& out);
  void finish_phase1(proposer_step& out);
  void step_down(const ballot& newer, proposer_step& out);
  void become_follower(proposer_step& out);
  /// Buffers a command for the leader (hops + 1), or drops it when no
  /// leader is known or it was forwarded too often.
  void forward(const client_command& c, proposer_step& out);
  void propose(slot_t slot, log_value value, proposer_step& out);
  void fill_window(proposer_step& out);
  void record_chosen(slot_t slot, log_value value, std::vector<chosen_entry>&);
  void notify_learners(std::vector<chosen_entry> entries, proposer_step& out);
  /// Records an acceptor's first_unchosen; true if it moved forward.
  bool note_acceptor_progress(node_id acceptor, slot_t first_unchosen);
  void send_success(node_id acceptor, proposer_step& out);
  void send_accept(node_id acceptor, slot_t slot, const log_value& value,
                   proposer_step& out);
  void retransmit(proposer_step& out);
  bool is_acceptor(node_id n) const { return peers_.count(n) > 0; }
  uint64_t next_jitter();

  proposer_config cfg_;
  proposer_phase phase_ = proposer_phase::follower;
  /// The highest round durably used.
  uint64_t round_ = 0;
  /// The highest round seen in any ballot (ours or others').
  uint64_t seen_round_ = 0;
  ballot ballot_;
  node_id leader_hint_ = 0;
  uint64_t now_ = 0;
  uint64_t backoff_until_ = 0;
  uint64_t jitter_state_;
  slot_t first_unchosen_ = 0;
  slot_t next_slot_ = 0;
  std::map<node_id, peer> peers_;
  std::map<slot_t, log_value> chosen_;
  std::map<slot_t, proposal> in_flight_;
  std::deque<client_command> queue_;
  /// Commands to forward to the leader, with the leader they are for.
  std::vector<std::pair<node_id, client_command>> forward_buffer_;
  /// Phase 1 results: highest-ballot accepted value per slot.
  std::map<slot_t, accepted_entry> reported_;
  size_t prepared_count_ = 0;
};

} // namespace paxoskv
