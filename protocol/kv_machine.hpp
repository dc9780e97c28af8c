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
// - Its durable form is exactly its state: records
//     'k' key                      -> value
//     's' u64 client               -> u64 applied_upto, u64 last active slot
//     'r' u64 client, u64 sequence -> saved reply
//     't' u64 client               -> u64 applied_upto, u64 slot it expired
//     'm'                          -> the replica's membership record
//   so a machine loaded from the records of another one equals it.
#pragma once

#include <cstddef>
#include <map>
#include <set>

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
};

/// What a command of an expired session is answered (not applied).
extern const char* const session_expired_error;
/// What a retry of a command applied so long ago that its reply is gone
/// is answered (it was applied, once).
extern const char* const reply_not_kept_error;

class kv_machine final : public state_machine {
public:
  explicit kv_machine(kv_machine_config cfg = {});

  apply_result apply(slot_t slot, const command& c) override;
  void end_slot(slot_t slot) override;
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
  size_t size() const override { return data_.size(); }

  const std::map<std::string, std::string>& data() const { return data_; }
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
  };

  /// Records a session's new state (and its activity).
  void touch(uint64_t client, session& s, slot_t slot);
  /// Expires sessions idle too long or beyond the bound, and old
  /// tombstones, at the end of `slot`.
  void expire(slot_t slot);
  void expire_session(uint64_t client, slot_t slot);

  /// Executes a command against the data, recording changed keys.
  command_result execute(const command& c);
  void put(const std::string& key, std::string value);
  bool erase(const std::string& key);
  void note(std::string record, std::optional<std::string> value);

  kv_machine_config cfg_;
  slot_t applied_ = 0;
  std::map<std::string, std::string> data_;
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
