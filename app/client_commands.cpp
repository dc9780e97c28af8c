// What each command does on a client connection: data commands go to the
// log (or to a leader or lease read) through the command table; MULTI
// queues them for one EXEC entry; the rest (HELLO, CLIENT, CONFIG, COMMAND,
// INFO, ROLE, TIME, SELECT...) the connection answers itself.
#include <chrono>

#include "app/client_session.hpp"
#include "protocol/redis/commands.hpp"

namespace paxoskv {

namespace {

using redis::upper;
using redis::lower;

std::string ok_reply() {
  return "+OK\r\n";
}

/// A client name as Redis accepts it: printable, no spaces.
bool valid_name(const std::string& s) {
  for (unsigned char c : s)
    if (c < '!' || c > '~')
      return false;
  return true;
}

} // namespace

bool session::check_values(const std::vector<std::string>& req) {
  for (size_t i = 1; i < req.size(); ++i)
    if (req[i].size() > srv_.cfg.value_bytes_max) {
      reply_now(error_reply("ERR value too large (the limit is "
                            + std::to_string(srv_.cfg.value_bytes_max)
                            + " bytes)"));
      return false;
    }
  return true;
}

void session::on_request(std::vector<std::string>& req) {
  auto name = upper(req[0]);
  last_command_ = lower(req[0]);
  last_active_ = std::chrono::steady_clock::now();
  ++srv_.commands_processed;
  auto argc = req.size();
  auto* spec = redis::find_command(name);
  if (name == "QUIT")
    return reply_now(ok_reply(), true);
  if (name == "AUTH") {
    if (argc != 2 && argc != 3)
      return reply_now(redis::wrong_arity("auth"));
    if (srv_.cfg.password.empty())
      return reply_now(error_reply(
        "ERR AUTH <password> called without any password configured for "
        "the default user. Are you sure your configuration is correct?"));
    if (req.back() != srv_.cfg.password
        || (argc == 3 && req[1] != "default"))
      return reply_now(
        error_reply("WRONGPASS invalid username-password pair or user is "
                    "disabled."));
    authed_ = true;
    return reply_now(ok_reply());
  }
  if (!authed_ && name != "HELLO")
    return reply_now(error_reply("NOAUTH Authentication required."));
  if (in_multi_)
    return in_transaction(name, req);
  if (spec == nullptr)
    return reply_now(redis::unknown_command(req));
  if (!spec->arity_ok(argc))
    return reply_now(redis::wrong_arity(lower(spec->name)));
  if (spec->has(redis::flag_connection)) {
    if (!connection_command(name, req))
      reply_now(redis::unknown_command(req));
    return;
  }
  if (name == "EXEC")
    return reply_now(error_reply("ERR EXEC without MULTI"));
  if (name == "WATCH") {
    if (!check_values(req))
      return;
    watching_ = true;
    req[0] = name;
    return submit(op_code::redis, std::move(req));
  }
  if (name == "UNWATCH") {
    if (!watching_)
      return reply_now(ok_reply());
    watching_ = false;
    return submit(op_code::redis, {"UNWATCH"});
  }
  if (!check_values(req))
    return;
  req[0] = name;
  submit(op_code::redis, std::move(req));
}

void session::in_transaction(const std::string& name,
                             std::vector<std::string>& req) {
  auto* spec = redis::find_command(name);
  if (name == "EXEC")
    return exec();
  if (name == "DISCARD")
    return discard(ok_reply());
  if (name == "MULTI")
    return reply_now(error_reply("ERR MULTI calls can not be nested"));
  if (name == "WATCH")
    return reply_now(error_reply("ERR WATCH inside MULTI is not allowed"));
  // Refused while queuing: EXEC will answer EXECABORT.
  auto refuse = [this](std::string reply) {
    multi_failed_ = true;
    reply_now(std::move(reply));
  };
  if (spec == nullptr)
    return refuse(redis::unknown_command(req));
  if (!spec->arity_ok(req.size()))
    return refuse(redis::wrong_arity(lower(spec->name)));
  if (spec->has(redis::flag_no_multi)
      || (spec->has(redis::flag_connection) && spec->read == nullptr))
    return refuse(error_reply("ERR Command not allowed inside a transaction"));
  size_t bytes = 0;
  for (auto& a : req) {
    if (a.size() > srv_.cfg.value_bytes_max)
      return refuse(error_reply("ERR value too large (the limit is "
                                + std::to_string(srv_.cfg.value_bytes_max)
                                + " bytes)"));
    bytes += a.size() + 16;
  }
  if (queued_commands_ + 1 > srv_.cfg.transaction_commands_max
      || queued_bytes_ + bytes > srv_.cfg.transaction_bytes_max)
    return refuse(error_reply(
      "ERR transaction too large (the limits are "
      + std::to_string(srv_.cfg.transaction_commands_max) + " commands and "
      + std::to_string(srv_.cfg.transaction_bytes_max)
      + " bytes: it is one log entry)"));
  req[0] = name;
  queued_.push_back(std::to_string(req.size()));
  for (auto& a : req)
    queued_.push_back(std::move(a));
  ++queued_commands_;
  queued_bytes_ += bytes;
  reply_now("+QUEUED\r\n");
}

void session::exec() {
  bool failed = multi_failed_;
  auto args = std::move(queued_);
  in_multi_ = false;
  multi_failed_ = false;
  queued_.clear();
  queued_commands_ = 0;
  queued_bytes_ = 0;
  if (failed) {
    // Nothing runs; the watches go as with DISCARD.
    return discard(error_reply(
      "EXECABORT Transaction discarded because of previous errors."));
  }
  watching_ = false; // EXEC unwatches, whatever it answers.
  args.insert(args.begin(), "EXEC");
  submit(op_code::redis, std::move(args));
}

void session::discard(const std::string& reply) {
  in_multi_ = false;
  multi_failed_ = false;
  queued_.clear();
  queued_commands_ = 0;
  queued_bytes_ = 0;
  if (!watching_)
    return reply_now(reply);
  watching_ = false;
  submit(op_code::redis, {"UNWATCH"}, reply);
}

bool session::connection_command(const std::string& name,
                                 std::vector<std::string>& req) {
  auto argc = req.size();
  std::string out;
  if (name == "PING") {
    out = argc == 2 ? redis::bulk(req[1]) : redis::simple("PONG");
  } else if (name == "ECHO") {
    out = redis::bulk(req[1]);
  } else if (name == "MULTI") {
    in_multi_ = true;
    out = ok_reply();
  } else if (name == "DISCARD") {
    out = error_reply("ERR DISCARD without MULTI");
  } else if (name == "SELECT") {
    int64_t db = 0;
    if (!redis::parse_int(req[1], db))
      out = error_reply("ERR value is not an integer or out of range");
    else if (db != 0)
      out = error_reply("ERR DB index is out of range (paxoskv has one "
                        "database, 0)");
    else
      out = ok_reply();
  } else if (name == "READLEVEL") {
    // READLEVEL: this connection's level; READLEVEL log|leader|lease sets it.
    if (argc > 2) {
      out = redis::wrong_arity("readlevel");
    } else if (argc == 1) {
      out = redis::bulk(to_string(read_level_));
    } else if (auto level = parse_read_level(lower(req[1]))) {
      read_level_ = *level;
      out = ok_reply();
    } else {
      out = error_reply("ERR read level must be log, leader or lease");
    }
  } else if (name == "RESET") {
    discard("+RESET\r\n");
    name_.clear();
    read_level_ = srv_.cfg.read;
    authed_ = srv_.cfg.password.empty();
    return true;
  } else if (name == "TIME") {
    auto now = std::chrono::system_clock::now().time_since_epoch();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(now)
                .count();
    out = redis::array_header(2) + redis::bulk(std::to_string(us / 1000000))
          + redis::bulk(std::to_string(us % 1000000));
  } else if (name == "LASTSAVE") {
    // Every change is durable when acknowledged: "now".
    auto now = std::chrono::system_clock::now().time_since_epoch();
    out = redis::integer(
      std::chrono::duration_cast<std::chrono::seconds>(now).count());
  } else if (name == "HELLO") {
    hello(req);
    return true;
  } else if (name == "CLIENT") {
    client(req);
    return true;
  } else if (name == "CONFIG") {
    config(req);
    return true;
  } else if (name == "COMMAND") {
    command_cmd(req);
    return true;
  } else if (name == "INFO") {
    info(std::vector<std::string>(req.begin() + 1, req.end()));
    return true;
  } else if (name == "ROLE") {
    role();
    return true;
  } else {
    return false;
  }
  reply_now(std::move(out));
  return true;
}

void session::hello(std::vector<std::string>& req) {
  size_t i = 1;
  if (req.size() >= 2) {
    int64_t proto = 0;
    if (!redis::parse_int(req[1], proto))
      return reply_now(error_reply(
        "ERR Protocol version is not an integer or out of range"));
    if (proto != 2)
      return reply_now(error_reply(
        "NOPROTO sorry, this protocol version is not supported (paxoskv "
        "speaks RESP2 only)"));
    i = 2;
  }
  std::string new_name;
  bool set_name = false;
  for (; i < req.size(); ++i) {
    auto opt = upper(req[i]);
    if (opt == "AUTH" && i + 2 < req.size()) {
      if (srv_.cfg.password.empty() || req[i + 2] != srv_.cfg.password
          || req[i + 1] != "default")
        return reply_now(error_reply(
          "WRONGPASS invalid username-password pair or user is disabled."));
      authed_ = true;
      i += 2;
    } else if (opt == "SETNAME" && i + 1 < req.size()) {
      new_name = req[++i];
      set_name = true;
      if (!valid_name(new_name))
        return reply_now(error_reply(
          "ERR Client names cannot contain spaces, newlines or special "
          "characters."));
    } else {
      return reply_now(
        error_reply("ERR Syntax error in HELLO option '" + req[i] + "'"));
    }
  }
  if (!authed_)
    return reply_now(error_reply(
      "NOAUTH HELLO must be called with the client already authenticated, "
      "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
      "authenticate the client and select the RESP protocol version at the "
      "same time"));
  if (set_name)
    name_ = new_name;
  std::string out = redis::array_header(14);
  out += redis::bulk("server") + redis::bulk("redis");
  out += redis::bulk("version") + redis::bulk("7.0.0");
  out += redis::bulk("proto") + redis::integer(2);
  out += redis::bulk("id")
         + redis::integer(static_cast<int64_t>(client_id_ & INT64_MAX));
  out += redis::bulk("mode") + redis::bulk("standalone");
  out += redis::bulk("role") + redis::bulk("master");
  out += redis::bulk("modules") + redis::array_header(0);
  reply_now(std::move(out));
}

std::string session::client_line() const {
  auto now = std::chrono::steady_clock::now();
  auto secs = [&](std::chrono::steady_clock::time_point t) {
    return std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(now - t).count());
  };
  return "id=" + std::to_string(client_id_ & INT64_MAX) + " addr=" + addr_
         + " laddr=" + laddr_ + " fd=" + std::to_string(
           const_cast<tcp::socket&>(sock_).native_handle())
         + " name=" + name_ + " age=" + secs(created_) + " idle="
         + secs(last_active_) + " flags=" + (in_multi_ ? "x" : "N")
         + " db=0 sub=0 psub=0 ssub=0 multi="
         + (in_multi_ ? std::to_string(queued_commands_) : "-1")
         + " qbuf=" + std::to_string(parser_.buffered())
         + " qbuf-free=0 argv-mem=0 multi-mem=" + std::to_string(queued_bytes_)
         + " rbs=16384 rbp=0 obl=0 oll=" + std::to_string(slots_.size())
         + " omem=0 tot-mem=0 events=r cmd=" + last_command_
         + " user=default redir=-1 resp=2 lib-name=" + lib_name_
         + " lib-ver=" + lib_ver_ + "\n";
}

void session::client(std::vector<std::string>& req) {
  auto sub = upper(req[1]);
  auto argc = req.size();
  auto arity = [&] {
    reply_now(error_reply("ERR wrong number of arguments for 'client|"
                          + lower(req[1]) + "' command"));
  };
  if (sub == "ID") {
    if (argc != 2)
      return arity();
    return reply_now(
      redis::integer(static_cast<int64_t>(client_id_ & INT64_MAX)));
  }
  if (sub == "GETNAME") {
    if (argc != 2)
      return arity();
    return reply_now(name_.empty() ? redis::nil() : redis::bulk(name_));
  }
  if (sub == "SETNAME") {
    if (argc != 3)
      return arity();
    if (!valid_name(req[2]))
      return reply_now(error_reply(
        "ERR Client names cannot contain spaces, newlines or special "
        "characters."));
    name_ = req[2];
    return reply_now(ok_reply());
  }
  if (sub == "SETINFO") {
    if (argc != 4)
      return arity();
    auto attr = upper(req[2]);
    if (!valid_name(req[3]) && !req[3].empty())
      return reply_now(error_reply("ERR " + lower(attr)
                                   + " cannot contain spaces, newlines or "
                                     "special characters."));
    if (attr == "LIB-NAME")
      lib_name_ = req[3];
    else if (attr == "LIB-VER")
      lib_ver_ = req[3];
    else
      return reply_now(
        error_reply("ERR Unrecognized option '" + req[2] + "'"));
    return reply_now(ok_reply());
  }
  if (sub == "INFO") {
    if (argc != 2)
      return arity();
    return reply_now(redis::bulk(client_line()));
  }
  if (sub == "LIST") {
    // This node's connections (each node serves its own clients).
    std::string text;
    for (auto& [id, weak] : *sessions_)
      if (auto s = weak.lock())
        text += s->client_line();
    return reply_now(redis::bulk(text));
  }
  if (sub == "NO-EVICT" || sub == "NO-TOUCH") {
    if (argc != 3)
      return arity();
    auto v = upper(req[2]);
    if (v != "ON" && v != "OFF")
      return reply_now(error_reply("ERR syntax error"));
    return reply_now(ok_reply());
  }
  if (sub == "HELP") {
    std::vector<std::string> lines{
      "CLIENT <subcommand> [<arg> ...]. Subcommands are:",
      "ID", "GETNAME", "SETNAME <name>",
      "SETINFO <LIB-NAME|LIB-VER> <value>", "INFO", "LIST",
      "(paxoskv: KILL, PAUSE, REPLY, TRACKING and the rest are not "
      "supported)"};
    std::string out = redis::array_header(lines.size());
    for (auto& l : lines)
      out += redis::simple(l);
    return reply_now(std::move(out));
  }
  reply_now(error_reply("ERR unknown subcommand '" + req[1].substr(0, 128)
                        + "'. Try CLIENT HELP."));
}

void session::config(std::vector<std::string>& req) {
  auto sub = upper(req[1]);
  if (sub == "GET") {
    if (req.size() < 3)
      return reply_now(redis::wrong_arity("config|get"));
    auto& c = srv_.cfg;
    // The common read-only parameters, with paxoskv's values.
    std::vector<std::pair<std::string, std::string>> params{
      {"appendfsync", "always"},
      {"appendonly", "yes"},
      {"bind", c.host},
      {"databases", "1"},
      {"maxclients", std::to_string(c.connections_max)},
      {"maxmemory", "0"},
      {"maxmemory-policy", "noeviction"},
      {"port", std::to_string(c.port)},
      {"proto-max-bulk-len", std::to_string(c.protocol.bulk_bytes_max)},
      {"save", ""},
      {"timeout", std::to_string(c.idle_timeout.count())},
      {"cluster-enabled", "no"},
      {"lua-time-limit", "5000"},
      {"busy-reply-threshold", "5000"},
      {"notify-keyspace-events", ""},
      {"slowlog-log-slower-than", "10000"},
      {"slowlog-max-len", "128"},
      {"replica-read-only", "yes"},
      {"slave-read-only", "yes"},
    };
    std::vector<std::string> out;
    for (auto& [k, v] : params)
      for (size_t i = 2; i < req.size(); ++i)
        if (redis::glob_match(req[i], k, true)) {
          out.push_back(k);
          out.push_back(v);
          break;
        }
    return reply_now(redis::bulk_array(out));
  }
  if (sub == "SET" || sub == "REWRITE")
    return reply_now(error_reply(
      "ERR CONFIG " + sub + " is not supported by paxoskv: each node is "
      "configured by its command line or file at start"));
  if (sub == "RESETSTAT") {
    srv_.commands_processed = 0;
    srv_.connections_received = 0;
    srv_.connections_rejected = 0;
    srv_.ops_samples.clear();
    return reply_now(ok_reply());
  }
  reply_now(error_reply("ERR unknown subcommand '" + req[1].substr(0, 128)
                        + "'. Try CONFIG HELP."));
}

void session::command_cmd(std::vector<std::string>& req) {
  auto& table = redis::command_table();
  if (req.size() == 1) {
    std::string out = redis::array_header(table.size());
    for (auto& c : table)
      out += redis::command_info(c);
    return reply_now(std::move(out));
  }
  auto sub = upper(req[1]);
  if (sub == "COUNT")
    return reply_now(redis::integer(static_cast<int64_t>(table.size())));
  if (sub == "LIST") {
    std::vector<std::string> names;
    for (auto& c : table)
      names.push_back(lower(c.name));
    return reply_now(redis::bulk_array(names));
  }
  if (sub == "INFO" || sub == "DOCS") {
    bool docs = sub == "DOCS";
    std::vector<const redis::command_spec*> asked;
    if (req.size() == 2) {
      for (auto& c : table)
        asked.push_back(&c);
    } else {
      for (size_t i = 2; i < req.size(); ++i)
        asked.push_back(redis::find_command(upper(req[i])));
    }
    if (docs) {
      size_t n = 0;
      std::string body;
      for (auto* c : asked)
        if (c != nullptr) {
          body += redis::command_docs(*c);
          ++n;
        }
      return reply_now(redis::array_header(2 * n) + body);
    }
    std::string out = redis::array_header(asked.size());
    for (auto* c : asked)
      out += c ? redis::command_info(*c) : "*-1\r\n";
    return reply_now(std::move(out));
  }
  reply_now(error_reply("ERR unknown subcommand '" + req[1].substr(0, 128)
                        + "'. Try COMMAND HELP."));
}

} // namespace paxoskv
