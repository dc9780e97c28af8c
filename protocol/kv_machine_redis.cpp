// The Redis side of the state machine's sessions: WATCH, EXEC and
// scripting (kv_machine.hpp).
#include "protocol/kv_machine.hpp"

#include "protocol/kv_records.hpp"
#include "protocol/redis/commands.hpp"

namespace paxoskv {

using namespace kv_records;

std::string kv_machine::watch_value(const session& s) {
  std::string v;
  codec::put_u8(v, s.watch_dirty ? 1 : 0);
  codec::put_u32(v, static_cast<uint32_t>(s.watched.size()));
  for (auto& [k, live] : s.watched) {
    codec::put_bytes(v, k);
    codec::put_u8(v, live ? 1 : 0);
  }
  return v;
}

void kv_machine::bind_keyspace() {
  ks_.on_touch = [this](const std::string* key) { on_touched(key); };
}

void kv_machine::on_touched(const std::string* key) {
  if (watchers_.empty())
    return;
  auto w = watchers_.find(*key);
  if (w == watchers_.end())
    return;
  bool gone = ks_.objects().count(*key) == 0;
  for (auto client : w->second) {
    auto s = sessions_.find(client);
    if (s == sessions_.end() || s->second.watch_dirty)
      continue;
    // A key already expired (or absent) when watched that is now deleted
    // did not change, as Redis sees it.
    auto k = s->second.watched.find(*key);
    if (gone && k != s->second.watched.end() && !k->second)
      continue;
    s->second.watch_dirty = true;
    note_watch(client);
  }
}

void kv_machine::note_watch(uint64_t client) {
  auto s = sessions_.find(client);
  if (s == sessions_.end() || s->second.watched.empty()) {
    note(watch_record(client), std::nullopt);
    return;
  }
  note(watch_record(client), watch_value(s->second));
}

std::string kv_machine::watch(uint64_t client,
                              const std::vector<std::string>& keys) {
  auto& s = sessions_[client];
  size_t added = 0;
  for (size_t i = 1; i < keys.size(); ++i)
    added += s.watched.count(keys[i]) == 0 ? 1 : 0;
  if (s.watched.size() + added > cfg_.watched_keys_max)
    return redis::err("ERR too many watched keys (the limit is "
                      + std::to_string(cfg_.watched_keys_max)
                      + " per connection); nothing watched");
  for (size_t i = 1; i < keys.size(); ++i)
    if (s.watched.emplace(keys[i], ks_.find(keys[i]) != nullptr).second)
      watchers_[keys[i]].insert(client);
  note_watch(client);
  return redis::ok();
}

void kv_machine::unwatch(uint64_t client) {
  auto s = sessions_.find(client);
  if (s == sessions_.end())
    return;
  if (s->second.watched.empty() && !s->second.watch_dirty)
    return;
  for (auto& [k, live] : s->second.watched)
    if (auto w = watchers_.find(k); w != watchers_.end()) {
      w->second.erase(client);
      if (w->second.empty())
        watchers_.erase(w);
    }
  s->second.watched.clear();
  s->second.watch_dirty = false;
  note_watch(client);
}

command_result kv_machine::execute_redis(slot_t slot, const command& c) {
  if (c.args.empty())
    return {result_kind::raw, redis::err("ERR empty command"), 0};
  auto name = redis::upper(c.args[0]);
  std::string reply;
  if (name == "EXEC")
    reply = exec_transaction(slot, c);
  else if (name == "WATCH" && c.args.size() >= 2)
    reply = watch(c.client_id, c.args);
  else if (name == "UNWATCH" && c.args.size() == 1)
    reply = (unwatch(c.client_id), redis::ok());
  else if ((name == "EVAL" || name == "EVALSHA") && c.args.size() >= 3)
    reply = scripting(c.args, command_seed(slot, c, 0));
  else if (name == "SCRIPT" && c.args.size() >= 2)
    reply = scripting(c.args, command_seed(slot, c, 0));
  else
    reply = redis::run_command(ks_, c.args, {command_seed(slot, c, 0)});
  return {result_kind::raw, std::move(reply), 0};
}

std::string kv_machine::exec_transaction(slot_t slot, const command& c) {
  // EXEC's arguments: each queued command as its argument count, then its
  // arguments ("EXEC", "3", "SET", "k", "v", "2", "GET", "k").
  std::vector<std::vector<std::string>> queued;
  auto& a = c.args;
  for (size_t i = 1; i < a.size();) {
    int64_t n = 0;
    if (!redis::parse_int(a[i], n) || n < 1
        || static_cast<uint64_t>(n) > a.size() - i - 1)
      return redis::err("ERR malformed transaction");
    queued.emplace_back(a.begin() + static_cast<long>(i) + 1,
                        a.begin() + static_cast<long>(i) + 1 + n);
    i += 1 + static_cast<size_t>(n);
  }
  auto s = sessions_.find(c.client_id);
  bool aborted = false;
  if (s != sessions_.end()) {
    aborted = s->second.watch_dirty;
    // A key live when watched and expired since counts as changed.
    for (auto& [k, live] : s->second.watched)
      aborted = aborted || (live && ks_.find(k) == nullptr);
    unwatch(c.client_id);
  }
  if (aborted)
    return redis::nil_array();
  std::string out = redis::array_header(queued.size());
  for (size_t i = 0; i < queued.size(); ++i) {
    auto& q = queued[i];
    auto* spec = redis::find_command(redis::upper(q[0]));
    if (spec != nullptr && spec->has(redis::flag_script))
      out += scripting(q, command_seed(slot, c, i + 1));
    else if (spec != nullptr && spec->has(redis::flag_session))
      out += redis::err("ERR " + redis::upper(q[0])
                        + " is not allowed inside a transaction");
    else
      out += redis::run_command(ks_, q, {command_seed(slot, c, i + 1)});
  }
  return out;
}

std::string kv_machine::scripting(const std::vector<std::string>& a,
                                  uint64_t seed) {
  auto name = redis::upper(a[0]);
  if (name == "SCRIPT") {
    auto sub = redis::upper(a[1]);
    if (sub == "LOAD" && a.size() == 3) {
      auto e = redis::compile_error(a[2]);
      return e.empty() ? redis::bulk(scripts_.add(a[2])) : e;
    }
    if (sub == "EXISTS" && a.size() >= 3) {
      std::string out = redis::array_header(a.size() - 2);
      for (size_t i = 2; i < a.size(); ++i)
        out += redis::integer(scripts_.find(redis::lower(a[i])) ? 1 : 0);
      return out;
    }
    if (sub == "FLUSH" && a.size() <= 3) {
      if (a.size() == 3 && !redis::iequals(a[2], "ASYNC")
          && !redis::iequals(a[2], "SYNC"))
        return redis::err(redis::syntax_error);
      scripts_.clear();
      return redis::ok();
    }
    if (sub == "KILL" && a.size() == 2)
      return redis::err("NOTBUSY No scripts in execution right now.");
    if (sub == "LOAD" || sub == "EXISTS" || sub == "FLUSH" || sub == "KILL")
      return redis::err("ERR wrong number of arguments for 'script|"
                        + redis::lower(a[1]) + "' command");
    return redis::err("ERR unknown subcommand '" + a[1].substr(0, 128)
                      + "'. Try SCRIPT HELP.");
  }
  int64_t numkeys = 0;
  if (!redis::parse_int(a[2], numkeys))
    return redis::err(redis::not_integer);
  if (numkeys < 0)
    return redis::err("ERR Number of keys can't be negative");
  if (static_cast<uint64_t>(numkeys) > a.size() - 3)
    return redis::err(
      "ERR Number of keys can't be greater than number of args");
  std::vector<std::string> keys(a.begin() + 3, a.begin() + 3 + numkeys);
  std::vector<std::string> argv(a.begin() + 3 + numkeys, a.end());
  std::string body;
  std::string sha;
  if (name == "EVAL") {
    body = a[1];
    if (auto e = redis::compile_error(body); !e.empty())
      return e;
    sha = scripts_.add(body);
  } else {
    sha = redis::lower(a[1]);
    auto* known = scripts_.find(sha);
    if (known == nullptr)
      return redis::err("NOSCRIPT No matching script. Please use EVAL.");
    body = *known;
  }
  return redis::run_script(ks_, body, sha, keys, argv, {seed});
}

} // namespace paxoskv
