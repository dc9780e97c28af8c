#include "test/e2e/redis_gen.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>

namespace paxoskv::e2e {

namespace {

std::string up(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

} // namespace

std::string redis_gen::key() {
  static const char* keys[] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6"};
  return keys[pick(7)];
}

std::string redis_gen::value() {
  static const char* values[] = {"a",  "bb", "hello", "",  "0",   "1",
                                 "-1", "42", "10",    "x y", "1.5", "007"};
  return values[pick(12)];
}

std::string redis_gen::integer() {
  static const char* ints[] = {"0",  "1",  "2",  "3", "-1", "-2", "5",
                               "10", "-5", "x",  "1.5", "9223372036854775807",
                               "-9223372036854775808", "01", "+1", " 1"};
  // Mostly small valid ones.
  if (chance(80))
    return std::to_string(static_cast<int64_t>(pick(12)) - 4);
  return ints[pick(16)];
}

std::string redis_gen::ttl() {
  static const char* odd[] = {"0", "-1", "x", "1.5", "9223372036854775807",
                              "-9223372036854775808"};
  return chance(70) ? std::to_string(1000 + pick(10000)) : odd[pick(6)];
}

std::string redis_gen::field() {
  static const char* f[] = {"f0", "f1", "f2", "f3", "n"};
  return f[pick(5)];
}

std::string redis_gen::member() {
  static const char* m[] = {"m0", "m1", "m2", "m3", "1", "2", "10", ""};
  return m[pick(8)];
}

request redis_gen::string_cmd() {
  switch (pick(22)) {
    case 0:
    case 1: {
      request r{"SET", key(), value()};
      if (chance(40)) {
        // Options, sometimes in combinations Redis refuses.
        static const char* opts[] = {"NX", "XX", "GET", "KEEPTTL", "EX",
                                     "PX", "EXAT", "PXAT", "BAD"};
        for (auto n = pick(3) + 1; n > 0; --n) {
          std::string o = opts[pick(9)];
          r.push_back(chance(50) ? o : std::string(o == "BAD" ? "bad" : o));
          if (o == "EX")
            r.push_back(ttl());
          else if (o == "PX")
            r.push_back(std::to_string(1000000 + pick(1000000)));
          else if (o == "EXAT")
            r.push_back(chance(50) ? "1" : "4102444800");
          else if (o == "PXAT")
            r.push_back(chance(50) ? "1000" : "4102444800000");
        }
      }
      return r;
    }
    case 2:
      return {"GET", key()};
    case 3:
      return {"SETNX", key(), value()};
    case 4:
      return {chance(50) ? "SETEX" : "PSETEX", key(),
              chance(85) ? std::to_string(100000 + pick(100000)) : ttl(),
              value()};
    case 5:
      return {"GETSET", key(), value()};
    case 6:
      return {"GETDEL", key()};
    case 7: {
      request r{"GETEX", key()};
      switch (pick(4)) {
        case 0:
          r.insert(r.end(), {"EX", std::to_string(1000 + pick(1000))});
          break;
        case 1:
          r.push_back("PERSIST");
          break;
        case 2:
          r.insert(r.end(), {"PXAT", "1"});
          break;
        default:
          break;
      }
      return r;
    }
    case 8: {
      request r{chance(70) ? "MSET" : "MSETNX"};
      for (auto n = pick(3) + 1; n > 0; --n) {
        r.push_back(key());
        r.push_back(value());
      }
      return r;
    }
    case 9: {
      request r{"MGET"};
      for (auto n = pick(4) + 1; n > 0; --n)
        r.push_back(key());
      return r;
    }
    case 10:
      return {"INCR", key()};
    case 11:
      return {"DECR", key()};
    case 12:
      return {"INCRBY", key(), integer()};
    case 13:
      return {"DECRBY", key(), integer()};
    case 14: {
      static const char* floats[] = {"1.5", "-0.25", "1e3", "abc", "inf",
                                     "0.1", "3",     "-7", "5.0e-1"};
      return {"INCRBYFLOAT", key(), floats[pick(9)]};
    }
    case 15:
      return {"APPEND", key(), value()};
    case 16:
      return {"STRLEN", key()};
    case 17:
      return {chance(80) ? "GETRANGE" : "SUBSTR", key(),
              std::to_string(static_cast<int64_t>(pick(12)) - 5),
              std::to_string(static_cast<int64_t>(pick(12)) - 5)};
    case 18:
      return {"SETRANGE", key(),
              chance(90) ? std::to_string(pick(8)) : integer(), value()};
    case 19:
      return {"GETRANGE", key(), integer(), integer()};
    default:
      return {"SET", key(), integer()};
  }
}

request redis_gen::key_cmd() {
  switch (pick(20)) {
    case 0: {
      request r{chance(70) ? "DEL" : "UNLINK"};
      for (auto n = pick(3) + 1; n > 0; --n)
        r.push_back(key());
      return r;
    }
    case 1: {
      request r{chance(70) ? "EXISTS" : "TOUCH"};
      for (auto n = pick(3) + 1; n > 0; --n)
        r.push_back(key());
      return r;
    }
    case 2:
    case 3:
      return {"TYPE", key()};
    case 4:
      return {"RENAME", key(), key()};
    case 5:
      return {"RENAMENX", key(), key()};
    case 6: {
      request r{"COPY", key(), key()};
      if (chance(40))
        r.push_back("REPLACE");
      if (chance(10))
        r.insert(r.end(), {"DB", "0"});
      return r;
    }
    case 7:
      return {"DBSIZE"};
    case 8:
      return {"KEYS", chance(50) ? "*" : chance(50) ? "k[1-3]" : "k?"};
    case 9:
    case 10: {
      static const char* names[] = {"EXPIRE", "PEXPIRE", "EXPIREAT",
                                    "PEXPIREAT"};
      std::string name = names[pick(4)];
      std::string when;
      if (name == "EXPIRE")
        when = ttl();
      else if (name == "PEXPIRE")
        when = std::to_string(1000000 + pick(1000000));
      else if (name == "EXPIREAT")
        when = chance(50) ? "1" : std::to_string(4102444800 + pick(100));
      else
        when = chance(50) ? "1" : std::to_string(4102444800000 + pick(100000));
      request r{name, key(), when};
      if (chance(40)) {
        static const char* flags[] = {"NX", "XX", "GT", "LT", "bogus"};
        for (auto n = pick(2) + 1; n > 0; --n)
          r.push_back(flags[pick(5)]);
      }
      return r;
    }
    case 11:
    case 12:
      return {chance(50) ? "TTL" : "PTTL", key()};
    case 13:
      return {chance(50) ? "EXPIRETIME" : "PEXPIRETIME", key()};
    case 14:
      return {"PERSIST", key()};
    case 15:
      return {"FLUSHDB"};
    default:
      return {"EXISTS", key()};
  }
}

request redis_gen::hash_cmd() {
  switch (pick(16)) {
    case 0:
    case 1: {
      request r{chance(80) ? "HSET" : "HMSET", key()};
      for (auto n = pick(3) + 1; n > 0; --n) {
        r.push_back(field());
        r.push_back(chance(70) ? value() : integer());
      }
      return r;
    }
    case 2:
      return {"HSETNX", key(), field(), value()};
    case 3:
      return {"HGET", key(), field()};
    case 4:
      return {"HMGET", key(), field(), field()};
    case 5:
      return {"HDEL", key(), field(), field()};
    case 6:
      return {"HGETALL", key()};
    case 7:
      return {chance(50) ? "HKEYS" : "HVALS", key()};
    case 8:
      return {"HLEN", key()};
    case 9:
      return {"HEXISTS", key(), field()};
    case 10:
      return {"HINCRBY", key(), field(), integer()};
    case 11:
      return {"HINCRBYFLOAT", key(), field(), chance(70) ? "1.5" : "x"};
    case 12:
      return {"HSTRLEN", key(), field()};
    case 13: {
      request r{"HSCAN", key(), "0"};
      if (chance(30))
        r.insert(r.end(), {"MATCH", "f*"});
      return r;
    }
    default:
      return {"HSET", key(), field(), integer()};
  }
}

request redis_gen::list_cmd() {
  switch (pick(19)) {
    case 0:
    case 1: {
      static const char* names[] = {"LPUSH", "RPUSH", "LPUSHX", "RPUSHX"};
      request r{names[pick(4)], key()};
      for (auto n = pick(3) + 1; n > 0; --n)
        r.push_back(value());
      return r;
    }
    case 2:
    case 3: {
      request r{chance(50) ? "LPOP" : "RPOP", key()};
      if (chance(40))
        r.push_back(chance(80) ? std::to_string(pick(4)) : integer());
      return r;
    }
    case 4:
    case 5:
      return {"LRANGE", key(), std::to_string(static_cast<int64_t>(pick(8)) - 4),
              chance(90) ? std::to_string(static_cast<int64_t>(pick(8)) - 4)
                         : integer()};
    case 6:
      return {"LLEN", key()};
    case 7:
      return {"LINDEX", key(), std::to_string(static_cast<int64_t>(pick(8)) - 4)};
    case 8:
      return {"LSET", key(), std::to_string(static_cast<int64_t>(pick(6)) - 3),
              value()};
    case 9:
      return {"LREM", key(), std::to_string(static_cast<int64_t>(pick(5)) - 2),
              value()};
    case 10:
      return {"LTRIM", key(), std::to_string(static_cast<int64_t>(pick(6)) - 2),
              std::to_string(static_cast<int64_t>(pick(6)) - 2)};
    case 11:
      return {"LINSERT", key(),
              chance(45) ? "BEFORE" : chance(90) ? "AFTER" : "MIDDLE", value(),
              value()};
    case 12: {
      request r{"LPOS", key(), value()};
      if (chance(40))
        r.insert(r.end(), {"RANK", std::to_string(static_cast<int64_t>(pick(5)) - 2)});
      if (chance(40))
        r.insert(r.end(), {"COUNT", std::to_string(static_cast<int64_t>(pick(4)) - 1)});
      if (chance(20))
        r.insert(r.end(), {"MAXLEN", std::to_string(pick(3))});
      return r;
    }
    case 13: {
      static const char* sides[] = {"LEFT", "RIGHT", "left", "UP"};
      return {"LMOVE", key(), key(), sides[pick(chance(90) ? 3 : 4)],
              sides[pick(3)]};
    }
    case 14:
      return {"RPOPLPUSH", key(), key()};
    default:
      return {"RPUSH", key(), value()};
  }
}

request redis_gen::set_cmd() {
  switch (pick(16)) {
    case 0:
    case 1:
    case 2: {
      request r{"SADD", key()};
      for (auto n = pick(3) + 1; n > 0; --n)
        r.push_back(member());
      return r;
    }
    case 3:
      return {"SREM", key(), member(), member()};
    case 4:
      return {"SMEMBERS", key()};
    case 5:
      return {"SISMEMBER", key(), member()};
    case 6:
      return {"SMISMEMBER", key(), member(), member()};
    case 7:
      return {"SCARD", key()};
    case 8: {
      static const char* ops[] = {"SINTER", "SUNION", "SDIFF"};
      return {ops[pick(3)], key(), key()};
    }
    case 9: {
      static const char* ops[] = {"SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"};
      return {ops[pick(3)], key(), key(), key()};
    }
    case 10:
      return {"SMOVE", key(), key(), member()};
    case 11:
      // Counts beyond any set's size: the reply is the whole set, so
      // both systems pop and answer the same members.
      return {"SPOP", key(), chance(80) ? "100" : count_not_drawing()};
    case 12:
      return {"SRANDMEMBER", key(), "100"};
    case 13:
      return {"SINTERCARD", chance(90) ? "2" : integer(), key(), key()};
    case 14: {
      request r{"SSCAN", key(), "0"};
      if (chance(30))
        r.insert(r.end(), {"MATCH", "m*"});
      return r;
    }
    default:
      return {"SADD", key(), member()};
  }
}

std::string redis_gen::count_not_drawing() {
  // Counts that cannot pick members at random: invalid, zero, or beyond
  // any set's size.
  static const char* counts[] = {"0", "-1", "x", "1.5", "1000",
                                 "9223372036854775807"};
  return counts[pick(6)];
}

request redis_gen::script_cmd() {
  static const char* scripts[] = {
    "return redis.call('GET', KEYS[1])",
    "return redis.call('SET', KEYS[1], ARGV[1])",
    "return redis.call('INCRBY', KEYS[1], ARGV[1])",
    // A lock's release: delete only if it still holds our token.
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return "
    "redis.call('DEL', KEYS[1]) else return 0 end",
    "return {redis.call('RPUSH', KEYS[1], ARGV[1]), "
    "redis.call('LRANGE', KEYS[1], 0, -1)}",
    "return redis.pcall('HSET', KEYS[1], 'f', ARGV[1])",
    "return redis.status_reply('FINE')",
    "return {1, 'two', false, true, 3.7, {4}}",
    "return redis.call('EXISTS', KEYS[1], KEYS[2])",
    "local n = 0 for i = 1, #ARGV do n = n + redis.call('SADD', KEYS[1], "
    "ARGV[i]) end return n",
    "return redis.call('NOSUCH')",
    "return missing_global",
    "return redis.error_reply('MY failure')",
    "return x(",
  };
  return {"EVAL", scripts[pick(14)], "2", key(), key(), value(), integer()};
}

request redis_gen::invalid_cmd() {
  switch (pick(4)) {
    case 0:
      return {"GET"};
    case 1:
      return {"SET", key()};
    case 2:
      return {"HSET", key(), field()};
    default:
      return {"NOSUCHCOMMAND", key()};
  }
}

request redis_gen::command() {
  auto p = pick(100);
  if (p < 28)
    return string_cmd();
  if (p < 48)
    return key_cmd();
  if (p < 63)
    return hash_cmd();
  if (p < 80)
    return list_cmd();
  if (p < 97)
    return set_cmd();
  return invalid_cmd();
}

step redis_gen::next() {
  step s;
  auto p = pick(1000);
  if (p < 70) {
    s.kind = step::transaction;
    for (auto n = pick(4) + 1; n > 0; --n)
      s.body.push_back(chance(5) ? invalid_cmd() : command());
    s.discard = chance(10);
  } else if (p < 100) {
    s.kind = step::watched;
    s.watch_key = key();
    s.interfere = chance(50);
    s.interference = {"SET", s.watch_key, "changed"};
    for (auto n = pick(3) + 1; n > 0; --n)
      s.body.push_back(command());
  } else if (p < 115) {
    s.cmd = script_cmd();
    if (chance(40)) {
      s.kind = step::evalsha;
      s.cmd.erase(s.cmd.begin()); // The body, numkeys, keys and args.
    }
  } else if (p < 119) {
    s.kind = step::short_expiry;
    if (chance(50))
      s.cmd = {"SET", key(), value(), "PX", std::to_string(20 + pick(50))};
    else
      s.cmd = {"PEXPIRE", key(), std::to_string(20 + pick(50))};
  } else {
    s.cmd = command();
  }
  return s;
}

namespace {

bool close(const resp_value& a, const resp_value& b, int64_t slack) {
  if (a.type != ':' || b.type != ':')
    return a == b;
  auto x = std::strtoll(a.text.c_str(), nullptr, 10);
  auto y = std::strtoll(b.text.c_str(), nullptr, 10);
  if (x < 0 || y < 0)
    return x == y; // -1 and -2 are exact.
  return std::llabs(x - y) <= slack;
}

/// Sorts an array reply, or its pairs.
resp_value sorted(resp_value v, bool pairs) {
  if (v.type != '*' || v.nil)
    return v;
  if (!pairs) {
    std::sort(v.items.begin(), v.items.end());
    return v;
  }
  std::vector<std::pair<resp_value, resp_value>> p;
  for (size_t i = 0; i + 1 < v.items.size(); i += 2)
    p.emplace_back(v.items[i], v.items[i + 1]);
  std::sort(p.begin(), p.end());
  v.items.clear();
  for (auto& [a, b] : p) {
    v.items.push_back(a);
    v.items.push_back(b);
  }
  return v;
}

resp_value normal(const request& cmd, resp_value v) {
  static const std::set<std::string> unordered{
    "SMEMBERS", "SINTER", "SUNION", "SDIFF", "KEYS",
    "HKEYS",    "HVALS",  "SPOP",   "SRANDMEMBER"};
  auto name = up(cmd[0]);
  if (unordered.count(name) > 0)
    return sorted(std::move(v), false);
  if (name == "HGETALL")
    return sorted(std::move(v), true);
  if ((name == "HSCAN" || name == "SSCAN") && v.type == '*'
      && v.items.size() == 2)
    v.items[1] = sorted(std::move(v.items[1]), name == "HSCAN");
  return v;
}

} // namespace

bool same_reply(const request& cmd, const resp_value& redis,
                const resp_value& paxoskv) {
  auto name = up(cmd[0]);
  if (name == "TTL" || name == "EXPIRETIME")
    return close(redis, paxoskv, 1);
  if (name == "PTTL" || name == "PEXPIRETIME")
    return close(redis, paxoskv, 1500);
  return normal(cmd, redis) == normal(cmd, paxoskv);
}

} // namespace paxoskv::e2e
