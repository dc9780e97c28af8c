// A linearizability checker for key-value histories (Wing & Gong's search
// with Lowe's memoisation), one key at a time (linearizability is local).
//
// Each operation is a read or a write of one key with its invocation and
// completion times as the client saw them. An operation whose outcome is
// unknown (a timeout) may or may not have taken effect: it must fit
// somewhere after its invocation, or nowhere. A failed operation (certainly
// not applied) is left out. Operations of one session (connection) also
// take effect in their order, if at all (Redis's FIFO per connection).
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace paxoskv::lin {

enum class outcome { ok, unknown, failed };

struct operation {
  std::string key;
  bool write = false;
  /// The value written, or the value a read returned (nullopt: nil).
  std::optional<std::string> value;
  uint64_t invoke = 0;
  /// Completion time; ignored when the outcome is unknown.
  uint64_t complete = 0;
  outcome result = outcome::ok;
  /// Which client issued it (for messages).
  uint32_t client = 0;
  /// The connection it was sent on (0: none given) and its place among
  /// that connection's requests. Requests of one connection take effect
  /// in the order sent, so pipelined ones are ordered although they
  /// overlap in time.
  uint64_t session = 0;
  uint64_t order = 0;
};

struct verdict {
  bool linearizable = true;
  /// For a failure: the key and why.
  std::string explanation;
  /// Search states explored, over all keys.
  uint64_t states = 0;
};

/// Checks a whole history, key by key. `max_states` bounds the search per
/// key; a key that needs more is reported as not proven linearizable.
verdict check(const std::vector<operation>& history,
              uint64_t max_states = 10'000'000);

} // namespace paxoskv::lin
