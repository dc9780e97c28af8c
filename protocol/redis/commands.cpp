#include "protocol/redis/commands.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>

namespace paxoskv::redis {

std::string upper(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i]))
        != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string wrong_arity(std::string_view command_lower) {
  return err("ERR wrong number of arguments for '" + std::string(command_lower)
             + "' command");
}

bool parse_int(std::string_view s, int64_t& out) {
  if (s.empty() || s.size() > 20)
    return false;
  if (s == "0") {
    out = 0;
    return true;
  }
  size_t i = 0;
  bool negative = s[0] == '-';
  if (negative && ++i == s.size())
    return false;
  if (s[i] < '1' || s[i] > '9')
    return false;
  uint64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    uint64_t d = static_cast<uint64_t>(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10)
      return false;
    v = v * 10 + d;
  }
  if (negative) {
    if (v > uint64_t{1} << 63)
      return false;
    out = v == uint64_t{1} << 63 ? INT64_MIN : -static_cast<int64_t>(v);
  } else {
    if (v > static_cast<uint64_t>(INT64_MAX))
      return false;
    out = static_cast<int64_t>(v);
  }
  return true;
}

bool parse_float(std::string_view s, long double& out) {
  if (s.empty() || s.size() > 5 * 1024
      || std::isspace(static_cast<unsigned char>(s[0])))
    return false;
  std::string buf(s);
  char* end = nullptr;
  errno = 0;
  long double v = std::strtold(buf.c_str(), &end);
  if (end != buf.c_str() + buf.size() || std::isnan(v))
    return false;
  if (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || v == 0))
    return false;
  out = v;
  return true;
}

std::string format_float(long double x) {
  char buf[5 * 1024 + 64];
  int n = std::snprintf(buf, sizeof(buf), "%.17Lf", x);
  if (n < 0)
    return "0";
  size_t len = static_cast<size_t>(std::min<int>(n, sizeof(buf) - 1));
  if (std::find(buf, buf + len, '.') != buf + len) {
    while (len > 0 && buf[len - 1] == '0')
      --len;
    if (len > 0 && buf[len - 1] == '.')
      --len;
  }
  std::string out(buf, len);
  if (out == "-0")
    out = "0";
  return out;
}

namespace {

// PING and ECHO: the connection answers them, but inside a transaction
// they run with the other queued commands.
std::string r_ping(const keyspace&, const args_t& a, const exec_env&) {
  if (a.size() > 2)
    return wrong_arity("ping");
  return a.size() == 2 ? bulk(a[1]) : simple("PONG");
}

std::string r_echo(const keyspace&, const args_t& a, const exec_env&) {
  return bulk(a[1]);
}

std::vector<command_spec> build_table() {
  std::vector<command_spec> t;
  add_string_commands(t);
  add_key_commands(t);
  add_hash_commands(t);
  add_list_commands(t);
  add_set_commands(t);
  auto conn = [&t](const char* name, int arity, uint32_t extra = 0,
                   const char* group = "connection", read_fn f = nullptr) {
    t.push_back({name, arity, flag_connection | extra, 0, 0, 0, f, nullptr,
                 group});
  };
  conn("PING", -1, flag_fast, "connection", r_ping);
  conn("ECHO", 2, flag_fast, "connection", r_echo);
  conn("QUIT", -1, flag_fast);
  conn("AUTH", -2, flag_no_multi | flag_fast);
  conn("HELLO", -1, flag_no_multi | flag_fast);
  conn("SELECT", 2, flag_fast);
  conn("CLIENT", -2, 0);
  conn("RESET", 1, flag_no_multi | flag_fast);
  conn("READLEVEL", -1, 0);
  conn("COMMAND", -1, 0, "server");
  conn("CONFIG", -2, 0, "server");
  conn("INFO", -1, 0, "server");
  conn("TIME", 1, flag_fast | flag_random, "server");
  conn("ROLE", 1, flag_fast, "server");
  conn("LASTSAVE", 1, flag_fast | flag_random, "server");
  conn("MULTI", 1, flag_no_multi | flag_fast, "transactions");
  conn("DISCARD", 1, flag_no_multi | flag_fast, "transactions");
  auto session = [&t](const char* name, int arity, int first, int last,
                      int step, uint32_t extra = 0) {
    t.push_back({name, arity, flag_session | extra, first, last, step,
                 nullptr, nullptr, "transactions"});
  };
  session("EXEC", 1, 0, 0, 0, flag_no_multi);
  session("WATCH", -2, flag_no_multi | flag_fast, 1, -1, 1);
  session("UNWATCH", 1, flag_no_multi | flag_fast, 0, 0, 0);
  t.push_back({"EVAL", -3, flag_session | flag_script, 0, 0, 0, nullptr,
               nullptr, "scripting"});
  t.push_back({"EVALSHA", -3, flag_session | flag_script, 0, 0, 0, nullptr,
               nullptr, "scripting"});
  t.push_back({"SCRIPT", -2, flag_session | flag_script, 0, 0, 0, nullptr,
               nullptr, "scripting"});
  std::sort(t.begin(), t.end(), [](const command_spec& a, const command_spec& b) {
    return std::string_view(a.name) < std::string_view(b.name);
  });
  return t;
}

} // namespace

const std::vector<command_spec>& command_table() {
  static const std::vector<command_spec> table = build_table();
  return table;
}

const command_spec* find_command(std::string_view upper_name) {
  auto& t = command_table();
  auto i = std::lower_bound(t.begin(), t.end(), upper_name,
                            [](const command_spec& c, std::string_view n) {
                              return std::string_view(c.name) < n;
                            });
  if (i == t.end() || std::string_view(i->name) != upper_name)
    return nullptr;
  return &*i;
}

std::string unknown_command(const args_t& req) {
  std::string args;
  for (size_t i = 1; i < req.size() && args.size() < 128; ++i)
    args += "'" + req[i].substr(0, 128) + "' ";
  return err("ERR unknown command '" + (req.empty() ? "" : req[0].substr(0, 128))
             + "', with args beginning with: " + args);
}

std::string run_command(keyspace& ks, const args_t& args,
                        const exec_env& env) {
  if (args.empty())
    return err("ERR empty command");
  auto* c = find_command(upper(args[0]));
  if (c == nullptr || (c->read == nullptr && c->write == nullptr))
    return unknown_command(args);
  if (!c->arity_ok(args.size()))
    return wrong_arity(lower(args[0]));
  if (c->write != nullptr)
    return c->write(ks, args, env);
  return c->read(ks, args, env);
}

std::string run_read(const keyspace& ks, const args_t& args,
                     const exec_env& env) {
  if (args.empty())
    return err("ERR empty command");
  auto* c = find_command(upper(args[0]));
  if (c == nullptr || c->read == nullptr)
    return err("ERR not a read-only command");
  if (!c->arity_ok(args.size()))
    return wrong_arity(lower(args[0]));
  return c->read(ks, args, env);
}

std::string command_info(const command_spec& c) {
  std::string out = array_header(10);
  out += bulk(lower(c.name));
  out += integer(c.arity);
  std::vector<std::string> flags;
  if (c.has(flag_write))
    flags.push_back("write");
  if (c.has(flag_readonly))
    flags.push_back("readonly");
  if (c.has(flag_fast))
    flags.push_back("fast");
  if (c.has(flag_no_multi))
    flags.push_back("no-multi");
  if (c.has(flag_random))
    flags.push_back("random");
  out += array_header(flags.size());
  for (auto& f : flags)
    out += simple(f);
  out += integer(c.first_key);
  out += integer(c.last_key);
  out += integer(c.step);
  out += array_header(0); // ACL categories
  out += array_header(0); // tips
  out += array_header(0); // key specs
  out += array_header(0); // subcommands
  return out;
}

std::string command_docs(const command_spec& c) {
  std::string out = bulk(lower(c.name));
  out += array_header(4);
  out += bulk("summary");
  out += bulk(std::string("paxoskv: ") + c.name);
  out += bulk("group");
  out += bulk(c.group);
  return out;
}

} // namespace paxoskv::redis
