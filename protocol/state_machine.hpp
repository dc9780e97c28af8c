// The boundary between the replica (learner: ordered apply, reads, catch-up)
// and what it replicates. A state machine applies log commands in slot
// order, answers read-only commands from its state, and has a durable form:
// records in key order plus the first slot not applied. The replica writes
// that form behind the apply path (`take_changes`), a snapshot is the whole
// form at one slot, and a restarted or newly installed replica loads it
// instead of replaying the log.
//
// Implementations must be deterministic: every replica that applies the
// same slots from the same state reaches the same state and records, and
// produces the same results.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/messages.hpp"

namespace paxoskv {

/// Changes to a state machine's durable form since the last ones taken.
struct state_write {
  /// The first slot not applied once these changes are stored.
  slot_t applied = 0;
  /// Records set (a value) or deleted (no value); the last change per key.
  std::map<std::string, std::optional<std::string>> records;

  /// Appends the changes of a later write.
  void merge(state_write&& later);
};

/// A state machine's whole durable form, in memory (the simulator's disk,
/// tests).
struct state_image {
  slot_t applied = 0;
  std::map<std::string, std::string> records;

  void apply(const state_write& w);

  friend bool operator==(const state_image& a, const state_image& b) {
    return a.applied == b.applied && a.records == b.records;
  }
  friend bool operator!=(const state_image& a, const state_image& b) {
    return !(a == b);
  }
};

/// What applying one log command did.
struct apply_result {
  command_result result;
  /// Applied before: the state did not change; `result` is the saved reply.
  bool duplicate = false;
  /// Its client's previous command is not applied yet: not applied, and it
  /// must come again after that one.
  bool out_of_order = false;
};

class state_machine {
public:
  virtual ~state_machine() = default;

  /// Slot `slot` is about to be applied; `time_ms` is its leader's stamp
  /// (0: none).
  virtual void begin_slot(slot_t slot, uint64_t time_ms) {
    (void)slot;
    (void)time_ms;
  }

  /// Applies a command of slot `slot` (slots come in order, each once).
  virtual apply_result apply(slot_t slot, const command& c) = 0;

  /// The serving node's wall clock (Unix ms), for reads served outside the
  /// log; never used for what the log applies.
  virtual void observe_clock(uint64_t unix_ms) { (void)unix_ms; }

  /// Every command of `slot` was applied: applied() becomes slot + 1.
  virtual void end_slot(slot_t slot) = 0;

  /// Executes a read-only command against the current state.
  virtual command_result read(const command& c) const = 0;

  /// The first slot not applied.
  virtual slot_t applied() const = 0;

  /// The highest sequence of `client_id` applied (0: none known).
  virtual uint64_t applied_upto(uint64_t client_id) const = 0;

  /// The reply saved for a command already applied, if still kept.
  virtual std::optional<command_result> saved_reply(uint64_t client_id,
                                                    uint64_t sequence) const
    = 0;

  /// The durable changes since the last call (nothing when none).
  virtual std::optional<state_write> take_changes() = 0;

  /// Calls `f` with every record of the durable form, in key order.
  virtual void save(const std::function<void(std::string_view key,
                                             std::string_view value)>& f)
    const = 0;

  /// Replaces the whole state with a durable form: `begin_load`, every
  /// record in key order, then `end_load`. A record that does not decode
  /// fails the load (false) and leaves the machine empty at slot 0.
  virtual void begin_load(slot_t applied) = 0;
  virtual bool load_record(std::string_view key, std::string_view value) = 0;
  virtual bool end_load() = 0;

  /// Keys (or entries) held, for status.
  virtual size_t size() const = 0;
  /// Keys with an expiry set, for status.
  virtual size_t expiring() const { return 0; }

  /// The replica's membership record (the encoded configurations, see
  /// membership.hpp), kept with the state: saved, loaded, written behind
  /// and carried by snapshots like the machine's own records, under the
  /// key "m". Empty: none.
  virtual void set_membership(std::string bytes) = 0;
  virtual const std::string& membership() const = 0;
};

/// Loads an image into a machine; false if a record does not decode.
bool load_image(state_machine& sm, const state_image& img);

/// The durable form of a machine as an image.
state_image save_image(const state_machine& sm);

} // namespace paxoskv
