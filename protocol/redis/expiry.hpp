// Expiry options of SET, SETEX, GETEX: parsed into an absolute Unix-ms
// deadline from the log's clock, with Redis's checks and error texts.
#pragma once

#include <cstdint>
#include <string>

#include "protocol/redis/reply.hpp"

namespace paxoskv::redis {

enum class expiry_kind { none, at, keep, persist };

struct expiry_option {
  expiry_kind kind = expiry_kind::none;
  /// "EX", "PX", "EXAT" or "PXAT", and its argument.
  std::string unit;
  std::string unit_arg;
};

/// Resolves `unit arg` at log time `now` into `at` (Unix ms). Returns an
/// error reply, or "" on success. `command` names the command in errors.
inline std::string resolve_expiry(const std::string& unit,
                                  const std::string& arg, uint64_t now,
                                  const char* command, uint64_t& at) {
  int64_t v = 0;
  if (!parse_int(arg, v))
    return err(not_integer);
  bool seconds = unit == "EX" || unit == "EXAT";
  bool relative = unit == "EX" || unit == "PX";
  auto invalid = err(std::string("ERR invalid expire time in '") + command
                     + "' command");
  if (v <= 0 || (seconds && v > INT64_MAX / 1000))
    return invalid;
  if (seconds)
    v *= 1000;
  if (relative) {
    if (v > INT64_MAX - static_cast<int64_t>(now))
      return invalid;
    v += static_cast<int64_t>(now);
  }
  at = static_cast<uint64_t>(v);
  return {};
}

} // namespace paxoskv::redis
