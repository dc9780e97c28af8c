// The Redis key-value store with its client sessions: paxoskv's state
// machine.
//
// Invariants kept by this class:
// - A command `(client_id, sequence)` changes the state at most once: a
//   duplicate returns the reply saved when it was first applied.
// - A client's commands take effect in sequence order: sequence n is
//   applied only right after n - 1 (sequences start at 1). A command chosen
//   ahead of its predecessor is not applied (`out_of_order`).
// - Bounded: saved replies per client (`replies_per_client_max`), and
//   sessions: one idle for `session_idle_slots` slots, or the least
//   recently active beyond `sessions_max`, expires at the end of a slot -
//   the same slot on every replica, since it depends on the log alone. An
//   expired session leaves a small tombstone (the newest `tombstones_max`
//   are kept): a command of that client is not applied and answers
//   "session expired" rather than being applied as a new session's (a
//   retry would otherwise apply twice).
// - Time is the log's: each slot's value carries the leader's stamp, and
//   the machine's clock is the highest stamp applied (it never goes back).
//   Expiry is judged at that clock for commands in the log, and at the
//   later of it and the serving node's clock (`observe_clock`) for reads
//   served outside the log. Expired keys are reclaimed at the end of each
//   slot, a bounded number per slot (protocol/redis/keyspace.hpp).
// - Transactions (EXEC) are one command: applied whole, on every replica.
//   WATCH is a command in the log too: the session remembers the keys, and
//   any change to one of them (by anyone, expiry included) makes its next
//   EXEC answer nil.
// - Its durable form is exactly its state: records
//     'c'                          -> u64 the clock (Unix ms; absent: 0)
//     'k' key                      -> value (a string without expiry)
//     'm'                          -> the replica's membership record
//     'o' key                      -> any other value (redis::encode_object)
//     'r' u64 client, u64 sequence -> saved reply
//     's' u64 client               -> u64 applied_upto, u64 last active slot
//     't' u64 client               -> u64 applied_upto, u64 slot it expired
//     'w' u64 client               -> the session's watched keys
//     'x' sha1 (40 hex)            -> u64 order added, script body
//   so a machine loaded from the records of another one equals it.
#pragma once

#include <cstddef>
#include <map>
#include <set>

#include "protocol/redis/keyspace.hpp"
#include "protocol/redis/scripting.hpp"
#include "protocol/state_machine.hpp"

namespace paxoskv {

struct kv_machine_config {
  /// Saved replies per client: a retry older than this many commands is
  /// answered with an error instead of its reply.
  size_t replies_per_client_max = 64;
  /// A session with no command applied for this many slots expires.
  uint64_t session_idle_slots = 1000000;
  /// Sessions at most; beyond, the least recently active expires.
  size_t sessions_max = 100000;
  /// Tombstones of expired sessions at most (the oldest go first).
  size_t tombstones_max = 200000;
  /// Keys one session may WATCH at once.
  size_t watched_keys_max = 10000;
  /// Expired keys reclaimed per slot at least (and two per command).
  size_t reclaim_per_slot = 32;
};

/// What a command of an expired session is answered (not applied).
extern const char* const session_expired_error;
/// What a retry of a command applied so long ago that its reply is gone
/// is answered (it was applied, once).
extern const char* const reply_not_kept_error;

class kv_machine final : public state_machine {
public:
  explicit kv_machine(kv_machine_config cfg = {});

  void begin_slot(slot_t slot, uint64_t time_ms) override;
  apply_result apply(slot_t slot, const command& c) override;
  void end_slot(slot_t slot) override;
  void observe_clock(uint64_t unix_ms) override;
  command_result read(const command& c) const override;
  slot_t applied() const override { return applied_; }
  uint64_t applied_upto(uint64_t client_id) const override;
  std::optional<command_result> saved_reply(uint64_t client_id,
                                            uint64_t sequence) const override;
  std::optional<state_write> take_changes() override;
  void save(const std::function<void(std::string_view, std::string_view)>& f)
    const override;
  void begin_load(slot_t applied) override;
  bool load_record(std::string_view key, std::string_view value) override;
  bool end_load() override;
  void set_membership(std::string bytes) override;
  const std::string& membership() const override { return membership_; }
  size_t size() const override { return ks_.live_count(); }
  size_t expiring() const override { return ks_.expiring(); }

  /// The live string values (tests).
  std::map<std::string, std::string> data() const;
  const redis::keyspace& keyspace() const { return ks_; }
  /// The log's clock (Unix ms).
  uint64_t clock() const { return clock_; }
  size_t sessions() const { return sessions_.size(); }
  size_t tombstones() const { return tombstones_.size(); }

  /// Encodings of a saved reply (also used by snapshots and tests).
  static std::string encode_result(const command_result& r);
  static std::optional<command_result> decode_result(std::string_view bytes);

private:
  /// The replica's membership record ("m").
  std::string membership_;
  struct session {
    /// Every sequence at or below this was applied, in order.
    uint64_t applied_upto = 0;
    /// The slot of its last applied command.
    slot_t last_slot = 0;
    /// Replies of the most recent commands, by sequence.
    std::map<uint64_t, command_result> replies;
    /// WATCHed keys, each with whether it was live when watched.
    std::map<std::string, bool> watched;
    /// A watched key changed since: the next EXEC fails.
    bool watch_dirty = false;
  };

  /// Records a session's new state (and its activity).
  void touch(uint64_t client, session& s, slot_t slot);
  /// Expires sessions idle too long or beyond the bound, and old
  /// tombstones, at the end of `slot`.
  void expire(slot_t slot);
  void expire_session(uint64_t client, slot_t slot);

  /// Executes a command against the data, recording changed keys.
  command_result execute(slot_t slot, const command& c);
  /// The paxoskv-native op codes (what the simulator and the CLI send).
  command_result execute_native(const command& c);
  command_result read_native(const command& c) const;
  /// An `op_code::redis` command in the log.
  command_result execute_redis(slot_t slot, const command& c);
  std::string exec_transaction(slot_t slot, const command& c);
  /// EVAL, EVALSHA and SCRIPT (`args`, with `seed`).
  std::string scripting(const std::vector<std::string>& args, uint64_t seed);
  std::string watch(uint64_t client, const std::vector<std::string>& keys);
  void unwatch(uint64_t client);
  void on_touched(const std::string* key);
  void note_watch(uint64_t client);
  static std::string watch_value(const session& s);
  void note(std::string record, std::optional<std::string> value);
  /// Writes the records of the keys changed since the last call.
  void flush_keys();
  void bind_keyspace();

  kv_machine_config cfg_;
  slot_t applied_ = 0;
  redis::keyspace ks_;
  /// Keys whose record is an 'o' one (the rest are 'k').
  std::set<std::string> object_records_;
  /// The log's clock: the highest stamp applied.
  uint64_t clock_ = 0;
  /// The serving node's clock, for reads outside the log.
  uint64_t observed_clock_ = 0;
  /// Commands applied in the current slot (the reclaim budget).
  size_t slot_commands_ = 0;
  /// Sessions watching each key.
  std::map<std::string, std::set<uint64_t>> watchers_;
  /// The scripts known (EVALSHA).
  redis::script_cache scripts_;
  std::map<uint64_t, session> sessions_;
  /// Sessions by (last active slot, client): expiry order.
  std::set<std::pair<slot_t, uint64_t>> by_activity_;
  /// Expired sessions: when, and how far they had applied; and in the
  /// order they expired.
  struct tombstone {
    slot_t at = 0;
    uint64_t applied_upto = 0;
  };
  std::map<uint64_t, tombstone> tombstones_;
  std::set<std::pair<slot_t, uint64_t>> tombstone_order_;
  state_write changes_;
  bool dirty_ = false;
};

} // namespace paxoskv
