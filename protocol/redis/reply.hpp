// Helpers shared by the Redis command handlers: RESP replies, Redis's
// error texts, and argument parsing with Redis's rules.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/resp.hpp"

namespace paxoskv::redis {

using args_t = std::vector<std::string>;

// Redis's texts, so that clients that match on them keep working.
inline constexpr const char* wrongtype
  = "WRONGTYPE Operation against a key holding the wrong kind of value";
inline constexpr const char* not_integer
  = "ERR value is not an integer or out of range";
inline constexpr const char* not_float = "ERR value is not a valid float";
inline constexpr const char* syntax_error = "ERR syntax error";
inline constexpr const char* no_such_key = "ERR no such key";
inline constexpr const char* out_of_range = "ERR index out of range";
inline constexpr const char* overflow
  = "ERR increment or decrement would overflow";
inline constexpr const char* nan_or_inf
  = "ERR increment would produce NaN or Infinity";
inline constexpr const char* must_be_positive
  = "ERR value is out of range, must be positive";
/// The largest string APPEND or SETRANGE may build (Redis: 512 MB). Fixed,
/// not configured, so that every replica refuses the same commands; small
/// enough that one command cannot make every replica allocate a lot.
inline constexpr uint64_t string_bytes_max = uint64_t{16} << 20;

inline std::string ok() {
  return "+OK\r\n";
}
inline std::string nil() {
  return "$-1\r\n";
}
inline std::string nil_array() {
  return "*-1\r\n";
}
inline std::string err(std::string_view text) {
  std::string out;
  resp::append_error(out, text);
  return out;
}
inline std::string integer(int64_t n) {
  std::string out;
  resp::append_integer(out, n);
  return out;
}
inline std::string bulk(std::string_view s) {
  std::string out;
  resp::append_bulk(out, s);
  return out;
}
inline std::string simple(std::string_view s) {
  std::string out;
  resp::append_simple(out, s);
  return out;
}
inline std::string array_header(size_t n) {
  std::string out;
  resp::append_array_header(out, n);
  return out;
}
template <class Range>
std::string bulk_array(const Range& items) {
  std::string out;
  size_t n = 0;
  for (auto i = std::begin(items); i != std::end(items); ++i)
    ++n;
  resp::append_array_header(out, n);
  for (auto& s : items)
    resp::append_bulk(out, s);
  return out;
}

std::string wrong_arity(std::string_view command_lower);
std::string upper(std::string s);
std::string lower(std::string s);
bool iequals(std::string_view a, std::string_view b);

/// A whole decimal int64 (Redis's string2ll: no spaces, no '+', no leading
/// zeros).
bool parse_int(std::string_view s, int64_t& out);
/// A float as Redis accepts it (strtold, no spaces, not NaN).
bool parse_float(std::string_view s, long double& out);
/// A float formatted as INCRBYFLOAT does (17 significant digits, no
/// trailing zeros).
std::string format_float(long double x);

} // namespace paxoskv::redis
