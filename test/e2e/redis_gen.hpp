// Random Redis command sequences for the differential test: every command
// family paxoskv implements, valid and invalid, over a small key space so
// that types collide (WRONGTYPE) and keys come and go. Deterministic per
// seed.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "test/e2e/resp_client.hpp"

namespace paxoskv::e2e {

using request = std::vector<std::string>;

/// One step of a sequence: what the main connection sends, in order.
struct step {
  enum kind_t {
    /// One command.
    plain,
    /// MULTI, `body`, then EXEC (or DISCARD when `discard`).
    transaction,
    /// WATCH `watch_key`; if `interfere`, the other connection runs
    /// `interference`; then a transaction.
    watched,
    /// `cmd` sets a short expiry: wait (bounded) until the key is gone on
    /// both systems before going on.
    short_expiry,
    /// SCRIPT LOAD `cmd[1]`, then EVALSHA with the sha it answers and
    /// `cmd[2..]` (numkeys, keys, args).
    evalsha,
  };
  kind_t kind = plain;
  request cmd;
  std::vector<request> body;
  bool discard = false;
  std::string watch_key;
  bool interfere = false;
  request interference;
};

class redis_gen {
public:
  explicit redis_gen(uint64_t seed) : rng_(seed) {}
  step next();

  /// A random command of any family (also used inside transactions).
  request command();

private:
  uint64_t pick(uint64_t n) { return rng_() % n; }
  bool chance(int percent) { return pick(100) < static_cast<uint64_t>(percent); }
  std::string key();
  std::string value();
  std::string integer();
  /// An expiry argument: long (1,000 s or more) or invalid, never a few
  /// seconds, which would expire at slightly different moments on the two
  /// systems (short expiry has steps of its own that wait for it).
  std::string ttl();
  std::string field();
  std::string member();
  request string_cmd();
  request key_cmd();
  request hash_cmd();
  request list_cmd();
  request set_cmd();
  request invalid_cmd();
  request script_cmd();
  /// A SPOP count whose answer does not depend on randomness.
  std::string count_not_drawing();

  std::mt19937_64 rng_;
};

/// Whether two replies to `cmd` agree, after what is allowed to differ:
/// the order of unordered collections, a few ms of TTL.
bool same_reply(const request& cmd, const resp_value& redis,
                const resp_value& paxoskv);

} // namespace paxoskv::e2e
