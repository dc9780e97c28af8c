// The Redis key-value store with its client sessions: paxoskv's state
// machine.
//
// Invariants kept by this class:
// - A command `(client_id, sequence)` changes the state at most once: a
//   duplicate returns the reply saved when it was first applied.
// - A client's commands take effect in sequence order: sequence n is
//   applied only right after n - 1 (sequences start at 1). A command chosen
//   ahead of its predecessor is not applied (`out_of_order`).
// - Bounded: saved replies per client (`replies_per_client_max`).
// - Its durable form is exactly its state: records
//     'k' key                      -> value
//     's' u64 client               -> u64 applied_upto
//     'r' u64 client, u64 sequence -> saved reply
//   so a machine loaded from the records of another one equals it.
#pragma once

#include <cstddef>
#include <map>

#include "protocol/state_machine.hpp"

namespace paxoskv {

struct kv_machine_config {
  /// Saved replies per client: a retry older than this many commands is
  /// answered with an error instead of its reply.
  size_t replies_per_client_max = 64;
};

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
  size_t size() const override { return data_.size(); }

  const std::map<std::string, std::string>& data() const { return data_; }

  /// Encodings of a saved reply (also used by snapshots and tests).
  static std::string encode_result(const command_result& r);
  static std::optional<command_result> decode_result(std::string_view bytes);

private:
  struct session {
    /// Every sequence at or below this was applied, in order.
    uint64_t applied_upto = 0;
    /// Replies of the most recent commands, by sequence.
    std::map<uint64_t, command_result> replies;
  };

  /// Executes a command against the data, recording changed keys.
  command_result execute(const command& c);
  void put(const std::string& key, std::string value);
  bool erase(const std::string& key);
  void note(std::string record, std::optional<std::string> value);

  kv_machine_config cfg_;
  slot_t applied_ = 0;
  std::map<std::string, std::string> data_;
  std::map<uint64_t, session> sessions_;
  state_write changes_;
  bool dirty_ = false;
};

} // namespace paxoskv
