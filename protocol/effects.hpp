// What a core's handler asks its shell to do.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "protocol/messages.hpp"

namespace paxoskv {

/// The result of one handler call of a core that has durable state.
///
/// Durability is part of the type: messages that may only leave once `write`
/// is durable (promises, accepted replies) live in `after_write`, apart from
/// those that may leave at once, so a shell cannot send them early by
/// accident. A shell doing group commit may merge the writes of several steps
/// into one transaction and then release all their `after_write` messages.
template <class Write>
struct durable_step {
  /// State to make durable (fsync) before any of `after_write` leaves.
  std::optional<Write> write;
  /// Messages that do not depend on the write; they may leave immediately.
  std::vector<envelope> send_now;
  /// Messages that may leave only after `write` is durable.
  std::vector<envelope> after_write;
  /// One line per input dropped or refused, and why (for the shell's
  /// debug log).
  std::vector<std::string> log;
  /// Events an operator wants to see (the shell logs them at info level),
  /// such as a proposer stepping down for a newer ballot.
  std::vector<std::string> notices;

  bool has_write() const { return write.has_value(); }

  /// Returns the write, creating an empty one on first use.
  Write& mutable_write() {
    if (!write)
      write.emplace();
    return *write;
  }
};

} // namespace paxoskv
