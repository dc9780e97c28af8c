// SCAN-family arguments (SCAN, HSCAN, SSCAN).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "protocol/redis/keyspace.hpp"
#include "protocol/redis/reply.hpp"

namespace paxoskv::redis {

struct scan_options {
  size_t count = 10;
  /// Empty: every element.
  std::string match;
  /// SCAN's TYPE filter.
  std::optional<kind> type;
};

/// An unsigned decimal cursor, as Redis reads it.
bool parse_cursor(const std::string& s, uint64_t& out);

/// Parses COUNT/MATCH (and TYPE when allowed) from `a[from]` on; returns an
/// error reply or "".
std::string parse_scan_options(const args_t& a, size_t from, bool allow_type,
                               scan_options& opt);

} // namespace paxoskv::redis
