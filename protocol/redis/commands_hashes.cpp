// Hashes: HSET, HGET, HDEL, HGETALL, HINCRBY, HSCAN...
#include <cmath>

#include "protocol/redis/commands.hpp"
#include "protocol/redis/scan.hpp"

namespace paxoskv::redis {

namespace {

std::string w_hset(keyspace& ks, const args_t& a, const exec_env&) {
  if (a.size() % 2 == 1)
    return wrong_arity(lower(a[0]));
  bool wrong = false;
  find_as<hash_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  auto* h = find_or_create<hash_t>(ks, a[1]);
  int64_t added = 0;
  for (size_t i = 2; i < a.size(); i += 2) {
    auto [it, fresh] = h->insert_or_assign(a[i], a[i + 1]);
    added += fresh ? 1 : 0;
  }
  ks.modified(a[1]);
  return iequals(a[0], "HMSET") ? ok() : integer(added);
}

std::string w_hsetnx(keyspace& ks, const args_t& a, const exec_env&) {
  bool wrong = false;
  auto* h = find_as<hash_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  if (h != nullptr && h->count(a[2]) > 0)
    return integer(0);
  find_or_create<hash_t>(ks, a[1])->emplace(a[2], a[3]);
  ks.modified(a[1]);
  return integer(1);
}

std::string r_hget(const keyspace& ks, const args_t& a, const exec_env&) {
  bool wrong = false;
  auto* h = find_as<hash_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  if (h == nullptr)
    return nil();
  auto i = h->find(a[2]);
  return i == h->end() ? nil() : bulk(i->second);
}

std::string r_hmget(const keyspace& ks, const args_t& a, const exec_env&) {
  bool wrong = false;
  auto* h = find_as<hash_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  std::string out = array_header(a.size() - 2);
  for (size_t i = 2; i < a.size(); ++i) {
    auto f = h ? h->find(a[i]) : hash_t::const_iterator{};
    out += h && f != h->end() ? bulk(f->second) : nil();
  }
  return out;
}

std::string w_hdel(keyspace& ks, const args_t& a, const exec_env&) {
  bool wrong = false;
  auto* h = find_as<hash_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  if (h == nullptr)
    return integer(0);
  auto* m = ks.find_mut(a[1])->hash();
  int64_t n = 0;
  for (size_t i = 2; i < a.size(); ++i)
    n += static_cast<int64_t>(m->erase(a[i]));
  if (n > 0)
    ks.modified(a[1]);
  return integer(n);
}

/// HGETALL, HKEYS, HVALS.
std::string r_hgetall(const keyspace& ks, const args_t& a, const exec_env&) {
  bool wrong = false;
  auto* h = find_as<hash_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  auto name = upper(a[0]);
  bool keys = name != "HVALS", values = name != "HKEYS";
  size_t n = h ? h->size() : 0;
  std::string out = array_header(n * ((keys ? 1 : 0) + (values ? 1 : 0)));
  if (h != nullptr)
    for (auto& [f, v] : *h) {
      if (keys)
        out += bulk(f);
      if (values)
        out += bulk(v);
    }
  return out;
}

std::string r_hlen(const keyspace& ks, const args_t& a, const exec_env&) {
  bool wrong = false;
  auto* h = find_as<hash_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  return integer(h ? static_cast<int64_t>(h->size()) : 0);
}

std::string r_hexists(const keyspace& ks, const args_t& a, const exec_env&) {
  bool wrong = false;
  auto* h = find_as<hash_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  return integer(h && h->count(a[2]) > 0 ? 1 : 0);
}

std::string r_hstrlen(const keyspace& ks, const args_t& a, const exec_env&) {
  bool wrong = false;
  auto* h = find_as<hash_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  if (h == nullptr)
    return integer(0);
  auto i = h->find(a[2]);
  return integer(i == h->end() ? 0 : static_cast<int64_t>(i->second.size()));
}

std::string w_hincrby(keyspace& ks, const args_t& a, const exec_env&) {
  int64_t delta = 0;
  if (!parse_int(a[3], delta))
    return err(not_integer);
  bool wrong = false;
  auto* h = find_as<hash_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  int64_t current = 0;
  if (h != nullptr) {
    auto i = h->find(a[2]);
    if (i != h->end() && !parse_int(i->second, current))
      return err("ERR hash value is not an integer");
  }
  if ((delta > 0 && current > INT64_MAX - delta)
      || (delta < 0 && current < INT64_MIN - delta))
    return err(overflow);
  auto v = current + delta;
  (*find_or_create<hash_t>(ks, a[1]))[a[2]] = std::to_string(v);
  ks.modified(a[1]);
  return integer(v);
}

std::string w_hincrbyfloat(keyspace& ks, const args_t& a, const exec_env&) {
  long double delta = 0;
  if (!parse_float(a[3], delta))
    return err(not_float);
  bool wrong = false;
  auto* h = find_as<hash_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  long double current = 0;
  if (h != nullptr) {
    auto i = h->find(a[2]);
    if (i != h->end() && !parse_float(i->second, current))
      return err("ERR hash value is not a float");
  }
  long double v = current + delta;
  if (std::isnan(v) || std::isinf(v))
    return err(nan_or_inf);
  auto text = format_float(v);
  (*find_or_create<hash_t>(ks, a[1]))[a[2]] = text;
  ks.modified(a[1]);
  return bulk(text);
}

std::string r_hscan(const keyspace& ks, const args_t& a, const exec_env&) {
  uint64_t cursor = 0;
  if (!parse_cursor(a[2], cursor))
    return err("ERR invalid cursor");
  scan_options opt;
  if (auto e = parse_scan_options(a, 3, false, opt); !e.empty())
    return e;
  bool wrong = false;
  auto* h = find_as<hash_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  // The whole hash in one reply, cursor 0 (as Redis does for small ones).
  std::vector<std::string> out;
  if (h != nullptr)
    for (auto& [f, v] : *h)
      if (opt.match.empty() || glob_match(opt.match, f)) {
        out.push_back(f);
        out.push_back(v);
      }
  return array_header(2) + bulk("0") + bulk_array(out);
}

} // namespace

void add_hash_commands(std::vector<command_spec>& t) {
  auto r = [&t](const char* n, int arity, read_fn f, uint32_t extra = 0) {
    t.push_back({n, arity, flag_readonly | extra, 1, 1, 1, f, nullptr, "hash"});
  };
  auto w = [&t](const char* n, int arity, write_fn f, uint32_t extra = 0) {
    t.push_back({n, arity, flag_write | extra, 1, 1, 1, nullptr, f, "hash"});
  };
  w("HSET", -4, w_hset, flag_fast);
  w("HMSET", -4, w_hset, flag_fast);
  w("HSETNX", 4, w_hsetnx, flag_fast);
  r("HGET", 3, r_hget, flag_fast);
  r("HMGET", -3, r_hmget, flag_fast);
  w("HDEL", -3, w_hdel, flag_fast);
  r("HGETALL", 2, r_hgetall);
  r("HKEYS", 2, r_hgetall);
  r("HVALS", 2, r_hgetall);
  r("HLEN", 2, r_hlen, flag_fast);
  r("HEXISTS", 3, r_hexists, flag_fast);
  r("HSTRLEN", 3, r_hstrlen, flag_fast);
  w("HINCRBY", 4, w_hincrby, flag_fast);
  w("HINCRBYFLOAT", 4, w_hincrbyfloat, flag_fast);
  r("HSCAN", -3, r_hscan);
}

} // namespace paxoskv::redis
