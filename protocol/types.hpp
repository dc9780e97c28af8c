// Basic protocol types: node ids, slots, ballots, client commands, log values.
//
// Everything here is plain data with value semantics, so that the pure cores
// can copy, compare and hash it, and so that CAF can print and serialize it
// through the `inspect` overloads.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "protocol/ids.hpp"
#include "protocol/membership.hpp"

namespace paxoskv {

/// A proposal number. Totally ordered by (round, node); unique because each
/// proposer only uses its own node id. The zero ballot means "none".
struct ballot {
  /// Monotonic counter; a proposer persists the highest round it used.
  uint64_t round = 0;
  /// The node whose proposer owns this ballot (breaks ties between rounds).
  node_id node = 0;

  bool is_zero() const { return round == 0 && node == 0; }

  friend bool operator<(const ballot& a, const ballot& b) {
    return std::tie(a.round, a.node) < std::tie(b.round, b.node);
  }
  friend bool operator==(const ballot& a, const ballot& b) {
    return a.round == b.round && a.node == b.node;
  }
  friend bool operator!=(const ballot& a, const ballot& b) { return !(a == b); }
  friend bool operator>(const ballot& a, const ballot& b) { return b < a; }
  friend bool operator<=(const ballot& a, const ballot& b) { return !(b < a); }
  friend bool operator>=(const ballot& a, const ballot& b) { return !(a < b); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ballot& x) {
  return f(caf::meta::type_name("ballot"), x.round, x.node);
}

std::string to_string(const ballot& b);

/// The operations of the key-value state machine. Each names how it uses
/// `command::args`.
enum class op_code : uint8_t {
  /// Does nothing; used by a new leader to fill gaps in the log.
  nop = 0,
  /// GET key: reads a key through the log (a "log read").
  get = 1,
  /// SET key value.
  set = 2,
  /// DEL key [key ...]: removes keys, answers how many existed.
  del = 3,
  /// SET key value NX: only if the key does not exist.
  set_nx = 4,
  /// SET key value XX: only if the key exists.
  set_xx = 5,
  /// EXISTS key [key ...]: how many of the keys exist.
  exists = 6,
  /// MGET key [key ...]: the values, nil where absent.
  mget = 7,
  /// MSET key value [key value ...]: all at once.
  mset = 8,
  /// INCRBY key delta: adds a decimal delta to an integer value.
  incrby = 9,
  /// APPEND key value: appends, answers the new length.
  append = 10,
  /// STRLEN key.
  strlen = 11,
  /// DBSIZE: the number of keys.
  dbsize = 12,
  /// Any command of the Redis command table (protocol/redis/commands.hpp):
  /// `args[0]` is its upper-case name, the rest its arguments. Its reply is
  /// RESP bytes (`result_kind::raw`).
  redis = 13,
};

/// The highest op code; a stored command with a higher one is corrupt.
constexpr op_code op_code_max = op_code::redis;

std::string to_string(op_code op);

/// True for operations that change nothing: leader and lease reads may
/// serve them without going through the log.
bool is_read_only(op_code op);
struct command;
/// The same for a whole command (an `op_code::redis` command is read-only
/// when its table entry says so).
bool is_read_only(const command& c);

/// How a read-only command is served (PROTOCOL.md rule 6).
enum class read_level : uint8_t {
  /// Through the log like a write (always correct, slowest).
  log = 0,
  /// The leader confirms with a majority round after the read arrived.
  leader = 1,
  /// The leader answers under a majority-granted lease, no round trip;
  /// without a valid lease it falls back to a leader read.
  lease = 2,
};

/// Monotonic milliseconds of the local clock (leases are measured in it).
using clock_ms = uint64_t;

std::string to_string(read_level l);

/// "log", "leader" or "lease" (lower case), else nothing.
std::optional<read_level> parse_read_level(const std::string& s);

/// One client command. `(client_id, sequence)` makes it unique: the state
/// machine applies a given pair at most once. A multi-key command is one
/// command, so it is applied atomically.
struct command {
  /// The client session that issued the command.
  uint64_t client_id = 0;
  /// Per-client sequence number, starting at 1; a retry reuses it.
  uint64_t sequence = 0;
  /// What to do.
  op_code op = op_code::nop;
  /// The operation's arguments (keys and values), as `op_code` describes.
  std::vector<std::string> args;

  /// Bytes this command adds to a batch (used for batch size limits).
  uint64_t size_bytes() const {
    uint64_t n = 24;
    for (auto& a : args)
      n += 4 + a.size();
    return n;
  }

  friend bool operator==(const command& a, const command& b) {
    return a.client_id == b.client_id && a.sequence == b.sequence
           && a.op == b.op && a.args == b.args;
  }
  friend bool operator!=(const command& a, const command& b) {
    return !(a == b);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command& x) {
  return f(caf::meta::type_name("command"), x.client_id, x.sequence, x.op,
           x.args);
}

/// The commands of a log value, shared rather than copied: a batch travels
/// from the proposer to the local acceptor, its log, the disk actor and the
/// learners of one process, and a deep copy at each of those steps (four
/// allocations per command each time) was the leader's largest CPU cost.
/// Copies share one immutable vector; a change to a shared list first makes
/// the list its own (copy on write), so it has value semantics.
class command_list {
public:
  using value_type = command;
  using const_iterator = std::vector<command>::const_iterator;
  using iterator = const_iterator;

  command_list() = default;
  command_list(std::initializer_list<command> xs)
    : command_list(std::vector<command>(xs)) {
  }
  explicit command_list(std::vector<command> xs) {
    if (!xs.empty())
      items_ = std::make_shared<std::vector<command>>(std::move(xs));
  }

  const std::vector<command>& items() const {
    static const std::vector<command> none;
    return items_ ? *items_ : none;
  }
  const_iterator begin() const { return items().begin(); }
  const_iterator end() const { return items().end(); }
  size_t size() const { return items_ ? items_->size() : 0; }
  bool empty() const { return size() == 0; }
  const command& operator[](size_t i) const { return (*items_)[i]; }
  const command& at(size_t i) const { return items().at(i); }
  const command& front() const { return items().front(); }

  void push_back(command c) { own().push_back(std::move(c)); }
  void reserve(size_t n) { own().reserve(n); }
  /// The vector, this list's own (copied first if shared).
  std::vector<command>& own() {
    if (!items_)
      items_ = std::make_shared<std::vector<command>>();
    else if (items_.use_count() > 1)
      items_ = std::make_shared<std::vector<command>>(*items_);
    return *items_;
  }

  friend bool operator==(const command_list& a, const command_list& b) {
    return a.items_ == b.items_ || a.items() == b.items();
  }
  friend bool operator!=(const command_list& a, const command_list& b) {
    return !(a == b);
  }

private:
  std::shared_ptr<std::vector<command>> items_;
};

/// Written and printed as the vector it holds; read into a list of its own.
template <class Inspector>
std::enable_if_t<Inspector::reads_state, typename Inspector::result_type>
inspect(Inspector& f, const command_list& x) {
  return f(x.items());
}

template <class Inspector>
std::enable_if_t<Inspector::writes_state, typename Inspector::result_type>
inspect(Inspector& f, command_list& x) {
  return f(x.own());
}

/// The value of one log slot: a batch of client commands, applied in order,
/// or a new configuration (membership.hpp). An empty batch is a NOP (what a
/// new leader proposes to fill a gap).
struct log_value {
  /// The commands of this batch; empty for a NOP or a configuration.
  command_list commands;
  /// A membership change (epoch 0: none). A value holding one holds no
  /// commands.
  configuration config;
  /// The leader's wall clock when it proposed the batch (Unix ms; 0: not
  /// stamped). The state machine's clock is the highest stamp applied so
  /// far, so it never goes backwards (expiry, see kv_machine.hpp).
  uint64_t time_ms = 0;

  bool is_nop() const { return commands.empty() && config.empty(); }
  bool is_config() const { return !config.empty(); }

  uint64_t size_bytes() const {
    uint64_t n = 8;
    for (auto& c : commands)
      n += c.size_bytes();
    if (is_config())
      n += 16 + 40 * config.members.size();
    return n;
  }

  friend bool operator==(const log_value& a, const log_value& b) {
    return a.commands == b.commands && a.config == b.config
           && a.time_ms == b.time_ms;
  }
  friend bool operator!=(const log_value& a, const log_value& b) {
    return !(a == b);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_value& x) {
  return f(caf::meta::type_name("log_value"), x.commands, x.config,
           x.time_ms);
}

/// A NOP value.
inline log_value nop_value() {
  return {};
}

/// What an acceptor stores for one slot.
struct accepted_entry {
  /// The log slot.
  slot_t slot = 0;
  /// The ballot under which the value was accepted.
  ballot accepted_ballot;
  /// The accepted value.
  log_value value;
  /// True once the acceptor knows the value is chosen (ballot "infinity"):
  /// it will then never change.
  bool chosen = false;

  friend bool operator==(const accepted_entry& a, const accepted_entry& b) {
    return a.slot == b.slot && a.accepted_ballot == b.accepted_ballot
           && a.value == b.value && a.chosen == b.chosen;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, accepted_entry& x) {
  return f(caf::meta::type_name("accepted_entry"), x.slot, x.accepted_ballot,
           x.value, x.chosen);
}

/// A slot together with its chosen value (what learners are told).
struct chosen_entry {
  /// The log slot.
  slot_t slot = 0;
  /// The value chosen for it.
  log_value value;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, chosen_entry& x) {
  return f(caf::meta::type_name("chosen_entry"), x.slot, x.value);
}

} // namespace paxoskv
