// EVAL / EVALSHA / SCRIPT: Lua 5.1 scripts (the version Redis embeds) run
// inside the state machine, so a script and its arguments are one log
// entry executed identically on every replica.
//
// Determinism: a fresh interpreter per run, with only the base, table,
// string and math libraries (no io, os, loadfile, dofile, print); math.random
// draws from the command's seed; commands that read the connection or the
// clock (TIME, CLIENT, INFO...) and transactions cannot be called. The run
// time bound is an instruction budget and the memory bound an allocator
// cap, not a timer: a timer would stop a script on one replica and not on
// another.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "protocol/redis/commands.hpp"

namespace paxoskv::redis {

/// SHA-1 of `data` in lower-case hex (script ids).
std::string sha1_hex(std::string_view data);

struct script_limits {
  /// Lua VM instructions one script may run.
  uint64_t instructions_max = 200000000;
  /// Bytes the interpreter may allocate.
  size_t memory_bytes_max = size_t{64} << 20;
};

/// Redis's error for a script that does not compile, or "".
std::string compile_error(const std::string& body);

/// Runs `body` with KEYS and ARGV against the keyspace: the reply in RESP.
std::string run_script(keyspace& ks, const std::string& body,
                       const std::string& sha, const args_t& keys,
                       const args_t& argv, const exec_env& env,
                       const script_limits& limits = {});

/// The scripts the cluster knows (EVAL adds, SCRIPT LOAD adds, SCRIPT FLUSH
/// empties), by SHA-1; part of the state machine's state. Bounded: beyond
/// `scripts_max` or `bytes_max`, the least recently added go first.
class script_cache {
public:
  size_t scripts_max = 1000;
  size_t bytes_max = size_t{16} << 20;

  /// Adds a script (again: it becomes the most recent); returns its sha.
  std::string add(const std::string& body);
  const std::string* find(const std::string& sha) const;
  void clear();

  struct entry {
    uint64_t order = 0;
    std::string body;
  };
  const std::map<std::string, entry>& scripts() const { return scripts_; }
  /// Loading: one stored script.
  void load(std::string sha, uint64_t order, std::string body);
  /// Scripts added or removed since the last call (their records).
  std::map<std::string, bool> take_changes();

private:
  std::map<std::string, entry> scripts_;
  std::map<uint64_t, std::string> by_order_;
  uint64_t next_order_ = 1;
  size_t bytes_ = 0;
  std::map<std::string, bool> changed_;
};

} // namespace paxoskv::redis
