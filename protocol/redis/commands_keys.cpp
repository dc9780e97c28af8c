// The keyspace: DEL, EXISTS, TYPE, RENAME, COPY, KEYS, SCAN, RANDOMKEY,
// FLUSHALL, DBSIZE, and the expiry commands (EXPIRE family, TTL, PERSIST).
#include <cerrno>
#include <cstdlib>

#include "protocol/redis/commands.hpp"
#include "protocol/redis/scan.hpp"

namespace paxoskv::redis {

namespace {

std::string w_del(keyspace& ks, const args_t& a, const exec_env&) {
  int64_t n = 0;
  for (size_t i = 1; i < a.size(); ++i)
    n += ks.erase(a[i]) ? 1 : 0;
  return integer(n);
}

std::string r_exists(const keyspace& ks, const args_t& a, const exec_env&) {
  int64_t n = 0;
  for (size_t i = 1; i < a.size(); ++i)
    n += ks.find(a[i]) != nullptr ? 1 : 0;
  return integer(n);
}

std::string r_type(const keyspace& ks, const args_t& a, const exec_env&) {
  auto* o = ks.find(a[1]);
  return simple(o ? type_name(o->type()) : "none");
}

std::string w_rename(keyspace& ks, const args_t& a, const exec_env&) {
  bool nx = iequals(a[0], "RENAMENX");
  auto* src = ks.find_mut(a[1]);
  if (src == nullptr)
    return err(no_such_key);
  if (a[1] == a[2])
    return nx ? integer(0) : ok();
  if (nx && ks.find(a[2]) != nullptr)
    return integer(0);
  object moved = std::move(*src);
  ks.erase(a[1]);
  ks.put(a[2], std::move(moved));
  return nx ? integer(1) : ok();
}

std::string w_copy(keyspace& ks, const args_t& a, const exec_env&) {
  bool replace = false;
  for (size_t i = 3; i < a.size(); ++i) {
    if (iequals(a[i], "REPLACE")) {
      replace = true;
    } else if (iequals(a[i], "DB") && i + 1 < a.size()) {
      int64_t db = 0;
      if (!parse_int(a[++i], db))
        return err(not_integer);
      if (db != 0)
        return err("ERR DB index is out of range");
    } else {
      return err(syntax_error);
    }
  }
  if (a[1] == a[2])
    return err("ERR source and destination objects are the same");
  auto* src = ks.find(a[1]);
  if (src == nullptr)
    return integer(0);
  if (ks.find(a[2]) != nullptr && !replace)
    return integer(0);
  object copy = *src;
  ks.put(a[2], std::move(copy));
  return integer(1);
}

std::string r_keys(const keyspace& ks, const args_t& a, const exec_env&) {
  std::vector<std::string> out;
  bool all = a[1] == "*";
  for (auto& [k, o] : ks.objects())
    if ((o.expire_at == 0 || o.expire_at > ks.now())
        && (all || glob_match(a[1], k)))
      out.push_back(k);
  return bulk_array(out);
}

std::string r_scan(const keyspace& ks, const args_t& a, const exec_env&) {
  uint64_t cursor = 0;
  if (!parse_cursor(a[1], cursor))
    return err("ERR invalid cursor");
  scan_options opt;
  if (auto e = parse_scan_options(a, 2, true, opt); !e.empty())
    return e;
  std::vector<std::string> keys;
  auto& m = ks.objects();
  auto i = m.lower_bound(hash_probe{cursor});
  size_t visited = 0;
  while (i != m.end() && visited < opt.count) {
    auto h = key_hash(i->first);
    // Every key of one hash together: the cursor cannot split them.
    for (; i != m.end() && key_hash(i->first) == h; ++i, ++visited) {
      auto& o = i->second;
      if (o.expire_at != 0 && o.expire_at <= ks.now())
        continue;
      if (opt.type && o.type() != *opt.type)
        continue;
      if (!opt.match.empty() && !glob_match(opt.match, i->first))
        continue;
      keys.push_back(i->first);
    }
  }
  uint64_t next = i == m.end() ? 0 : key_hash(i->first);
  return array_header(2) + bulk(std::to_string(next)) + bulk_array(keys);
}

std::string r_randomkey(const keyspace& ks, const args_t&,
                        const exec_env& env) {
  auto& m = ks.objects();
  if (m.empty())
    return nil();
  det_random rnd{env.seed};
  auto start = m.lower_bound(hash_probe{rnd.next()});
  // The first live key at or after a random point, wrapping around.
  for (int pass = 0; pass < 2; ++pass) {
    for (auto i = pass == 0 ? start : m.begin();
         i != (pass == 0 ? m.end() : start); ++i)
      if (i->second.expire_at == 0 || i->second.expire_at > ks.now())
        return bulk(i->first);
  }
  return nil();
}

std::string w_flush(keyspace& ks, const args_t& a, const exec_env&) {
  if (a.size() > 2
      || (a.size() == 2 && !iequals(a[1], "ASYNC") && !iequals(a[1], "SYNC")))
    return err(syntax_error);
  ks.clear();
  return ok();
}

std::string r_dbsize(const keyspace& ks, const args_t&, const exec_env&) {
  return integer(static_cast<int64_t>(ks.live_count()));
}

enum expire_flag { ex_nx = 1, ex_xx = 2, ex_gt = 4, ex_lt = 8 };

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT.
std::string w_expire(keyspace& ks, const args_t& a, const exec_env&) {
  auto name = upper(a[0]);
  int flags = 0;
  for (size_t i = 3; i < a.size(); ++i) {
    auto opt = upper(a[i]);
    if (opt == "NX")
      flags |= ex_nx;
    else if (opt == "XX")
      flags |= ex_xx;
    else if (opt == "GT")
      flags |= ex_gt;
    else if (opt == "LT")
      flags |= ex_lt;
    else
      return err("ERR Unsupported option " + a[i]);
  }
  if ((flags & ex_nx) && (flags & (ex_xx | ex_gt | ex_lt)))
    return err("ERR NX and XX, GT or LT options at the same time are not "
               "compatible");
  if ((flags & ex_gt) && (flags & ex_lt))
    return err("ERR GT and LT options at the same time are not compatible");
  int64_t when = 0;
  if (!parse_int(a[2], when))
    return err(not_integer);
  bool seconds = name == "EXPIRE" || name == "EXPIREAT";
  int64_t base = name == "EXPIRE" || name == "PEXPIRE"
                   ? static_cast<int64_t>(ks.now())
                   : 0;
  auto invalid = err("ERR invalid expire time in '" + lower(a[0])
                     + "' command");
  if (seconds) {
    if (when > INT64_MAX / 1000 || when < INT64_MIN / 1000)
      return invalid;
    when *= 1000;
  }
  if (when > INT64_MAX - base)
    return invalid;
  when += base;
  auto* o = ks.find_mut(a[1]);
  if (o == nullptr)
    return integer(0);
  int64_t current = o->expire_at == 0 ? -1 : static_cast<int64_t>(o->expire_at);
  if ((flags & ex_nx) && current != -1)
    return integer(0);
  if ((flags & ex_xx) && current == -1)
    return integer(0);
  if ((flags & ex_gt) && (when <= current || current == -1))
    return integer(0);
  if ((flags & ex_lt) && current != -1 && when >= current)
    return integer(0);
  if (when <= static_cast<int64_t>(ks.now()))
    ks.erase(a[1]);
  else
    ks.set_expire(a[1], static_cast<uint64_t>(when));
  return integer(1);
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME.
std::string r_ttl(const keyspace& ks, const args_t& a, const exec_env&) {
  auto name = upper(a[0]);
  auto* o = ks.find(a[1]);
  if (o == nullptr)
    return integer(-2);
  if (o->expire_at == 0)
    return integer(-1);
  auto at = static_cast<int64_t>(o->expire_at);
  if (name == "EXPIRETIME")
    return integer(at / 1000);
  if (name == "PEXPIRETIME")
    return integer(at);
  int64_t ttl = at - static_cast<int64_t>(ks.now());
  if (ttl < 0)
    ttl = 0;
  return integer(name == "PTTL" ? ttl : (ttl + 500) / 1000);
}

std::string w_persist(keyspace& ks, const args_t& a, const exec_env&) {
  auto* o = ks.find_mut(a[1]);
  if (o == nullptr || o->expire_at == 0)
    return integer(0);
  ks.set_expire(a[1], 0);
  return integer(1);
}

} // namespace

bool parse_cursor(const std::string& s, uint64_t& out) {
  if (s.empty() || s.size() > 20)
    return false;
  for (char c : s)
    if (c < '0' || c > '9')
      return false;
  errno = 0;
  char* end = nullptr;
  out = std::strtoull(s.c_str(), &end, 10);
  return errno == 0 && end == s.c_str() + s.size();
}

std::string parse_scan_options(const args_t& a, size_t from, bool allow_type,
                               scan_options& opt) {
  for (size_t i = from; i < a.size(); ++i) {
    bool has_next = i + 1 < a.size();
    if (iequals(a[i], "COUNT") && has_next) {
      int64_t n = 0;
      if (!parse_int(a[++i], n))
        return err(not_integer);
      if (n < 1)
        return err(syntax_error);
      opt.count = static_cast<size_t>(n);
    } else if (iequals(a[i], "MATCH") && has_next) {
      opt.match = a[++i];
      if (opt.match == "*")
        opt.match.clear();
    } else if (allow_type && iequals(a[i], "TYPE") && has_next) {
      auto t = lower(a[++i]);
      opt.type = t == "string" ? kind::string
                 : t == "hash" ? kind::hash
                 : t == "list" ? kind::list
                 : t == "set"  ? kind::set
                               : static_cast<kind>(255);
    } else {
      return err(syntax_error);
    }
  }
  return {};
}

void add_key_commands(std::vector<command_spec>& t) {
  auto r = [&t](const char* n, int arity, int first, int last, int step,
                read_fn f, uint32_t extra = 0) {
    t.push_back({n, arity, flag_readonly | extra, first, last, step, f,
                 nullptr, "generic"});
  };
  auto w = [&t](const char* n, int arity, int first, int last, int step,
                write_fn f, uint32_t extra = 0) {
    t.push_back({n, arity, flag_write | extra, first, last, step, nullptr, f,
                 "generic"});
  };
  w("DEL", -2, 1, -1, 1, w_del);
  w("UNLINK", -2, 1, -1, 1, w_del, flag_fast);
  r("EXISTS", -2, 1, -1, 1, r_exists, flag_fast);
  r("TOUCH", -2, 1, -1, 1, r_exists, flag_fast);
  r("TYPE", 2, 1, 1, 1, r_type, flag_fast);
  w("RENAME", 3, 1, 2, 1, w_rename);
  w("RENAMENX", 3, 1, 2, 1, w_rename, flag_fast);
  w("COPY", -3, 1, 2, 1, w_copy);
  r("KEYS", 2, 0, 0, 0, r_keys);
  r("SCAN", -2, 0, 0, 0, r_scan);
  r("RANDOMKEY", 1, 0, 0, 0, r_randomkey, flag_random);
  w("FLUSHDB", -1, 0, 0, 0, w_flush);
  w("FLUSHALL", -1, 0, 0, 0, w_flush);
  r("DBSIZE", 1, 0, 0, 0, r_dbsize, flag_fast);
  w("EXPIRE", -3, 1, 1, 1, w_expire, flag_fast);
  w("PEXPIRE", -3, 1, 1, 1, w_expire, flag_fast);
  w("EXPIREAT", -3, 1, 1, 1, w_expire, flag_fast);
  w("PEXPIREAT", -3, 1, 1, 1, w_expire, flag_fast);
  r("TTL", 2, 1, 1, 1, r_ttl, flag_fast);
  r("PTTL", 2, 1, 1, 1, r_ttl, flag_fast);
  r("EXPIRETIME", 2, 1, 1, 1, r_ttl, flag_fast);
  r("PEXPIRETIME", 2, 1, 1, 1, r_ttl, flag_fast);
  w("PERSIST", 2, 1, 1, 1, w_persist, flag_fast);
}

} // namespace paxoskv::redis
