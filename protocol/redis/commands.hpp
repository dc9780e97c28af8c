// The Redis command table: every command paxoskv answers, with Redis's
// arity and flags, and for those that touch data the handler the state
// machine runs. One table serves the client session (which commands exist,
// arity, which go through the log), the state machine (execution), leader
// and lease reads (which commands are read-only), and COMMAND.
//
// Handlers are pure and deterministic: the same keyspace, arguments, time
// and seed give the same reply and the same changes on every replica.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/redis/keyspace.hpp"
#include "protocol/redis/reply.hpp"

namespace paxoskv::redis {

enum command_flag : uint32_t {
  /// Changes data: applied through the log.
  flag_write = 1,
  /// Reads data only: leader and lease reads may serve it.
  flag_readonly = 2,
  /// Answered by the connection itself, never replicated (PING, CLIENT...).
  flag_connection = 4,
  /// Refused inside MULTI (Redis: "no-multi").
  flag_no_multi = 8,
  /// Its reply may differ between calls on the same data (SPOP...); in the
  /// log, its randomness comes from the command's seed.
  flag_random = 16,
  /// Redis's "fast" (O(1) or O(log n)): only reported by COMMAND.
  flag_fast = 32,
  /// Handled by the state machine itself (transactions, WATCH).
  flag_session = 64,
  /// Scripting (EVAL, EVALSHA, SCRIPT): the state machine runs it, also
  /// inside a transaction.
  flag_script = 128,
};

/// What a handler gets besides its arguments.
struct exec_env {
  /// Deterministic randomness for this command (SPOP, SRANDMEMBER...).
  uint64_t seed = 0;
};

using read_fn = std::string (*)(const keyspace&, const args_t&,
                                const exec_env&);
using write_fn = std::string (*)(keyspace&, const args_t&, const exec_env&);

struct command_spec {
  /// Upper case.
  const char* name;
  /// Redis's arity: n exactly, or -n for at least n (the name included).
  int arity;
  uint32_t flags;
  /// Key positions as COMMAND reports them (0: no keys).
  int first_key;
  int last_key;
  int step;
  /// The handler: `read` for read-only commands, `write` for the rest.
  read_fn read;
  write_fn write;
  /// COMMAND INFO's group ("string", "generic", ...).
  const char* group;

  bool has(command_flag f) const { return (flags & f) != 0; }
  bool arity_ok(size_t argc) const {
    return arity >= 0 ? argc == static_cast<size_t>(arity)
                      : argc >= static_cast<size_t>(-arity);
  }
};

/// The entry for an upper-case name, or null.
const command_spec* find_command(std::string_view upper_name);
const std::vector<command_spec>& command_table();

/// Runs a data command (args[0] its name, upper case) against the keyspace:
/// the reply in RESP. Arity and existence are checked again, so anything
/// that reaches the log gets a deterministic answer.
std::string run_command(keyspace& ks, const args_t& args,
                        const exec_env& env);
/// The same for a read-only command outside the log.
std::string run_read(const keyspace& ks, const args_t& args,
                     const exec_env& env);

/// Redis's unknown-command error for a request.
std::string unknown_command(const args_t& req);

/// COMMAND's reply entries.
std::string command_info(const command_spec& c);
std::string command_docs(const command_spec& c);

// The families (commands_*.cpp): each adds its entries to the table.
void add_string_commands(std::vector<command_spec>& t);
void add_key_commands(std::vector<command_spec>& t);
void add_hash_commands(std::vector<command_spec>& t);
void add_list_commands(std::vector<command_spec>& t);
void add_set_commands(std::vector<command_spec>& t);

/// A small deterministic generator for handlers (splitmix64).
struct det_random {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
};

} // namespace paxoskv::redis
