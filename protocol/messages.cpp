#include "protocol/messages.hpp"

#include <type_traits>

#include "protocol/overload.hpp"
#include "protocol/redis/commands.hpp"

namespace paxoskv {

std::string to_string(const ballot& b) {
  return "(" + std::to_string(b.round) + "," + std::to_string(b.node) + ")";
}

bool is_read_only(op_code op) {
  switch (op) {
    case op_code::get:
    case op_code::exists:
    case op_code::mget:
    case op_code::strlen:
    case op_code::dbsize:
      return true;
    default:
      return false;
  }
}

bool is_read_only(const command& c) {
  if (c.op != op_code::redis)
    return is_read_only(c.op);
  if (c.args.empty())
    return false;
  auto* spec = redis::find_command(redis::upper(c.args[0]));
  return spec != nullptr && spec->has(redis::flag_readonly)
         && spec->arity_ok(c.args.size());
}

std::string to_string(read_level l) {
  switch (l) {
    case read_level::log:
      return "log";
    case read_level::leader:
      return "leader";
    case read_level::lease:
      return "lease";
  }
  return "?";
}

std::optional<read_level> parse_read_level(const std::string& s) {
  for (auto l : {read_level::log, read_level::leader, read_level::lease})
    if (s == to_string(l))
      return l;
  return std::nullopt;
}

std::string to_string(op_code op) {
  switch (op) {
    case op_code::nop:
      return "nop";
    case op_code::get:
      return "get";
    case op_code::set:
      return "set";
    case op_code::del:
      return "del";
    case op_code::set_nx:
      return "set_nx";
    case op_code::set_xx:
      return "set_xx";
    case op_code::exists:
      return "exists";
    case op_code::mget:
      return "mget";
    case op_code::mset:
      return "mset";
    case op_code::incrby:
      return "incrby";
    case op_code::append:
      return "append";
    case op_code::strlen:
      return "strlen";
    case op_code::dbsize:
      return "dbsize";
    case op_code::redis:
      return "redis";
  }
  return "op(" + std::to_string(static_cast<int>(op)) + ")";
}

std::string to_string(result_kind k) {
  switch (k) {
    case result_kind::ok:
      return "ok";
    case result_kind::value:
      return "value";
    case result_kind::nil:
      return "nil";
    case result_kind::integer:
      return "integer";
    case result_kind::not_applied:
      return "not_applied";
    case result_kind::unknown:
      return "unknown";
    case result_kind::error:
      return "error";
    case result_kind::array:
      return "array";
    case result_kind::raw:
      return "raw";
  }
  return "kind(" + std::to_string(static_cast<int>(k)) + ")";
}

std::string to_string(member_change c) {
  switch (c) {
    case member_change::add:
      return "add";
    case member_change::promote:
      return "promote";
    case member_change::remove:
      return "remove";
    case member_change::demote:
      return "demote";
    case member_change::seal:
      return "seal";
  }
  return "?";
}

std::string to_string(role r) {
  switch (r) {
    case role::proposer:
      return "proposer";
    case role::acceptor:
      return "acceptor";
    case role::learner:
      return "learner";
    case role::elector:
      return "elector";
    case role::client:
      return "client";
  }
  return "?";
}

namespace {

/// Catches the type name an inspect overload announces.
struct name_probe {
  using result_type = void;
  static constexpr bool reads_state = true;
  static constexpr bool writes_state = false;
  const char* name = "?";

  template <class... Ts>
  void operator()(Ts&&... xs) {
    (take(xs), ...);
  }

  template <class T>
  void take(T& x) {
    if constexpr (std::is_same_v<std::decay_t<T>, caf::meta::type_name_t>)
      name = x.value;
  }
};

} // namespace

const char* name_of(const message& m) {
  return std::visit(
    [](const auto& x) {
      name_probe f;
      inspect(f, const_cast<std::decay_t<decltype(x)>&>(x));
      return f.name;
    },
    m);
}

} // namespace paxoskv
