// The learner role: the replica around a state machine (state_machine.hpp;
// paxoskv's is kv_machine, the Redis store with its client sessions). It
// applies chosen slots in order, fetches what it misses, serves leader and
// lease reads at a confirmed read index, and hands the machine's durable
// changes to its shell, which writes them behind the apply path.
//
// Invariants kept by this class:
// - Slots are applied strictly in order, each exactly once: `next_slot` is
//   the first slot not applied, and nothing at or above it has been applied.
// - Every command reaches the state machine, which decides duplicates and
//   the per-client order (a command chosen ahead of its predecessor is not
//   applied, outcome `out_of_order`; its session sends it again once the
//   predecessor was applied). Whatever path a command took (forwarding,
//   resends, leader changes), a client's commands never take effect out of
//   order or twice.
// - After a restart the learner continues from the state machine's durable
//   form (its records and the first slot not applied), not from slot 0.
// - Memory is bounded: chosen values buffered ahead of `next_slot` are
//   limited to `buffer_slots_max` slots.
// - `configs()` is H(next_slot): every configuration value is applied in
//   slot order like a command, and the history is part of the machine's
//   durable form (its "m" record), so a restart or a snapshot brings it
//   back. Learn requests go to the acceptors of those configurations, and a
//   snapshot is taken once a majority of the voters governing next_slot
//   compacted it away.
// - A leader or lease read is answered only from a state that applied every
//   slot below the read index the leader confirmed for it, and changes
//   nothing (it is not in the log and not in the client's session).
// - At most one read_request per read level is outstanding; reads that
//   arrive meanwhile wait for the next one (one round serves many reads).
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

#include <memory>

#include "protocol/state_machine.hpp"

namespace paxoskv {

struct learner_config {
  /// This learner's node.
  node_id self = 0;
  /// The node's wall clock (Unix ms): expiry for reads served outside the
  /// log is judged at the later of it and the log's clock. Unset: the
  /// log's clock alone.
  std::function<uint64_t()> wall_clock;
  /// The bootstrap configurations, for a state machine that holds none
  /// (membership.hpp). Empty: all of `acceptors` are voters.
  config_history configs;
  /// Without configurations: the acceptors to ask for chosen values when
  /// behind (round robin). Otherwise the acceptors of the configurations
  /// governing the slots from the next one to apply are asked.
  std::vector<node_id> acceptors;
  /// Ask an acceptor for missing chosen values every this many ticks.
  /// While the learner is known to be behind, every answer that moved it
  /// forward is followed by the next request at once (catch-up runs at
  /// network speed, not at one chunk per poll).
  uint32_t poll_ticks = 8;
  /// Chosen slots kept ahead of the next slot to apply; beyond that they
  /// are dropped and fetched again later.
  size_t buffer_slots_max = 4096;
  /// Saved replies per client: a retry older than this many commands is not
  /// applied again (and not answered).
  size_t replies_per_client_max = 64;
  /// An unanswered read_request is sent again after this many ticks (the
  /// leader may have changed and dropped it).
  uint32_t read_resend_ticks = 10;
  /// A read not answered within this many ticks fails as not applied.
  uint32_t read_timeout_ticks = 250;
  /// A read whose index request no leader could take fails at once as not
  /// applied once it is this old; younger ones are asked for again (a
  /// failover's leaderless moment is waited out).
  uint32_t read_refuse_after_ticks = 50;
  /// Reads waiting at most; more fail at once as not applied.
  size_t reads_max = 65536;
  /// First read_request id minus one. Must differ widely between
  /// incarnations of this learner: a late answer to a request of an
  /// earlier incarnation carries an old index and must not match.
  uint64_t read_id_base = 0;
  /// Snapshot transfers: bytes asked for per chunk, and the pace (bytes per
  /// tick on average; the next chunk is asked for only once the previous
  /// one is stored and the pace allows). An unanswered request is sent
  /// again after read_resend_ticks.
  uint32_t snapshot_chunk_bytes = 1 << 20;
  uint64_t snapshot_bytes_per_tick = 256 * 1024;
};

/// A snapshot transfer under way (or interrupted, found on disk at start).
struct snapshot_transfer {
  /// The learner it comes from, and which snapshot (the slot it covers up
  /// to; 0: not known yet, the source's latest is asked for).
  node_id source = 0;
  slot_t snapshot = 0;
  uint64_t total = 0;
  uint64_t checksum = 0;
  /// Bytes received and stored.
  uint64_t received = 0;
};

/// What applying one command produced.
struct command_outcome {
  /// The slot whose batch held the command.
  slot_t slot = 0;
  /// The client and sequence.
  uint64_t client_id = 0;
  uint64_t sequence = 0;
  /// The reply (the saved one for a duplicate).
  command_result result;
  /// True when this was a duplicate: the state did not change.
  bool duplicate = false;
  /// True for a leader or lease read (not in the log; `slot` is the first
  /// slot not applied to the state it read, at least its read index).
  bool read = false;
  /// True when the command was chosen ahead of its predecessor and so not
  /// applied (`result` says so): it must be sent again after it.
  bool out_of_order = false;
};

struct learner_step {
  /// Slots applied by this step, in order.
  std::vector<chosen_entry> applied;
  /// One outcome per command applied or recognised as a duplicate.
  std::vector<command_outcome> outcomes;
  /// Messages to send (learn requests).
  std::vector<envelope> send_now;
  /// The state machine's durable changes (write them behind; see
  /// learner::on_state_durable).
  std::optional<state_write> state;
  /// Snapshot chunks received, to store in order (then on_chunk_stored; a
  /// chunk at offset 0 starts a new transfer and discards an older one).
  std::vector<snapshot_chunk> store_chunks;
  /// Every chunk is stored: verify the whole snapshot and install it (then
  /// on_snapshot_installed).
  bool install_snapshot = false;
  /// Requests of other learners for chunks of this one's snapshot (the
  /// shell reads them from its snapshot store and answers).
  std::vector<snapshot_request> serve;
  /// Events for the operator's log.
  std::vector<std::string> notices;
};

class learner {
public:
  /// A learner over a new kv_machine.
  explicit learner(learner_config cfg);
  /// A learner over `sm`, continuing from the slot it applied.
  learner(learner_config cfg, std::unique_ptr<state_machine> sm);

  /// Chosen values arrive (from the leader or from an acceptor).
  learner_step on_chosen(const chosen& m);

  /// A read-only command to serve at `level` (leader or lease): answered
  /// once the leader confirmed a read index and it was applied.
  learner_step on_read(const command& c, read_level level);

  /// The leader's answer to a read_request.
  learner_step on_read_index(const read_index& m);

  /// No leader took a read_request.
  learner_step on_read_refused(const read_refused& m);

  /// Timer: ask an acceptor for what is missing; resend or time out reads.
  learner_step on_tick();

  /// Another learner asks for a chunk of this one's snapshot.
  learner_step on_snapshot_request(const snapshot_request& m);

  /// A snapshot chunk arrives from another learner.
  learner_step on_snapshot_chunk(const snapshot_chunk& m);

  /// The shell stored (or failed to store) the chunk that ends at `end`.
  learner_step on_chunk_stored(slot_t snapshot, uint64_t end, bool ok);

  /// The shell installed the snapshot (`sm` loaded from it), or failed to
  /// (`sm` empty: the transfer starts over).
  learner_step on_snapshot_installed(std::unique_ptr<state_machine> sm,
                                     const std::string& error);

  /// An interrupted transfer found on disk at start: continue it (or
  /// install it, when every chunk was stored).
  learner_step resume_snapshot(const snapshot_transfer& t);

  /// The transfer under way, if any.
  const std::optional<snapshot_transfer>& transfer() const {
    return transfer_;
  }

  /// The state machine's changes up to `applied` are durable.
  void on_state_durable(slot_t applied) {
    durable_ = std::max(durable_, applied);
  }

  /// The first slot not applied in the durable state (what a restart
  /// continues from).
  slot_t durable() const { return durable_; }

  /// Reads waiting (for an index or for it to be applied).
  size_t reads_waiting() const { return reads_count_; }

  /// The first slot not yet applied.
  slot_t next_slot() const { return next_slot_; }

  /// The reply saved for a command already applied, if still remembered.
  std::optional<command_result> saved_reply(uint64_t client_id,
                                            uint64_t sequence) const;

  /// The highest sequence of `client_id` applied (0: none).
  uint64_t applied_upto(uint64_t client_id) const;

  const state_machine& machine() const { return *sm_; }
  /// H(next_slot): the configurations governing the slots from the next
  /// one to apply on, as the applied log (or snapshot) tells.
  const config_history& configs() const { return configs_; }
  size_t buffered() const { return buffer_.size(); }

private:
  struct waiting_read {
    command cmd;
    uint64_t deadline = 0;
    /// Tick it arrived.
    uint64_t arrived = 0;
  };
  /// Reads covered by one read_request.
  struct read_group {
    read_level level = read_level::leader;
    std::vector<waiting_read> reads;
    uint64_t sent_tick = 0;
  };

  void apply_ready(learner_step& out);
  /// Asks the acceptor asked last for the chosen values from next_slot_.
  void catch_up(learner_step& out);
  /// `acceptor` cannot serve next_slot_: asks one not yet asked for it;
  /// once a majority of acceptors compacted past it, takes a snapshot.
  void ask_elsewhere(const chosen& m, learner_step& out);
  /// Starts a snapshot transfer from the source an acceptor named for the
  /// unserved slot; false when there is none (or one runs already).
  bool take_snapshot(learner_step& out);
  /// Asks the transfer's source for the next chunk.
  void request_chunk(learner_step& out);
  /// Sends one read_request for the reads of `level` not yet asked for.
  void request_index(read_level level, learner_step& out);
  /// Answers the reads whose index was applied.
  void serve_reads(learner_step& out);
  void fail_read(const waiting_read& r, const std::string& why,
                 learner_step& out);
  void apply_command(slot_t slot, const command& c, learner_step& out);
  /// Takes the configurations from the state machine's membership record
  /// (after a load or an install), or the bootstrap ones.
  void load_configs();
  /// A learner to be promoted (membership.hpp) tells the voting proposers
  /// how far it has applied.
  void report_progress(learner_step& out) const;
  /// The acceptors asked for chosen values: the members hosting one in the
  /// configurations governing the slots from next_slot on.
  void refresh_acceptors();
  /// The acceptor to ask next (0: none known).
  node_id next_acceptor();

  learner_config cfg_;
  slot_t next_slot_ = 0;
  slot_t durable_ = 0;
  uint64_t now_ = 0;
  size_t poll_index_ = 0;
  /// One past the highest slot known chosen, or needed by a read index.
  slot_t known_end_ = 0;
  std::map<slot_t, log_value> buffer_;
  /// Acceptors that said they cannot serve `unserved_slot_` (compacted),
  /// since when, and a snapshot source one of them named.
  slot_t unserved_slot_ = 0;
  std::set<node_id> unserved_by_;
  uint64_t unserved_since_ = 0;
  node_id unserved_source_ = 0;
  slot_t unserved_log_start_ = 0;
  /// Polls an unserved slot is waited for before a snapshot is taken even
  /// without a majority saying it compacted it.
  static constexpr uint32_t snapshot_wait_polls = 10;
  /// The snapshot transfer, and its pacing: a request is out (since
  /// `chunk_tick`), a chunk waits to be stored, the whole waits to be
  /// installed; the next request not before `next_chunk_tick`.
  std::optional<snapshot_transfer> transfer_;
  bool chunk_requested_ = false;
  uint32_t chunk_resends_ = 0;
  /// Resends of one chunk request before the source is given up.
  static constexpr uint32_t snapshot_resends_max = 30;
  bool chunk_storing_ = false;
  bool installing_ = false;
  uint64_t chunk_tick_ = 0;
  uint64_t next_chunk_tick_ = 0;
  std::unique_ptr<state_machine> sm_;
  config_history configs_;
  std::vector<node_id> acceptors_;
  /// Reads not yet asked for, by level (index: the level's value).
  std::vector<waiting_read> reads_new_[3];
  /// Outstanding read_requests by id.
  std::map<uint64_t, read_group> read_groups_;
  uint64_t read_request_id_ = 0;
  /// Reads with a confirmed index, waiting for it to be applied.
  std::multimap<slot_t, waiting_read> reads_indexed_;
  size_t reads_count_ = 0;
};

} // namespace paxoskv
