// Sets: SADD, SREM, SMEMBERS, SPOP, SINTER/SUNION/SDIFF and their STORE
// forms, SSCAN...
#include <algorithm>

#include "protocol/redis/commands.hpp"
#include "protocol/redis/scan.hpp"

namespace paxoskv::redis {

namespace {

std::string w_sadd(keyspace& ks, const args_t& a, const exec_env&) {
  bool wrong = false;
  find_as<set_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  auto* s = find_or_create<set_t>(ks, a[1]);
  int64_t n = 0;
  for (size_t i = 2; i < a.size(); ++i)
    n += s->insert(a[i]).second ? 1 : 0;
  ks.modified(a[1]);
  return integer(n);
}

std::string w_srem(keyspace& ks, const args_t& a, const exec_env&) {
  bool wrong = false;
  auto* s = find_as<set_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  if (s == nullptr)
    return integer(0);
  auto* m = ks.find_mut(a[1])->set();
  int64_t n = 0;
  for (size_t i = 2; i < a.size(); ++i)
    n += static_cast<int64_t>(m->erase(a[i]));
  if (n > 0)
    ks.modified(a[1]);
  return integer(n);
}

std::string r_smembers(const keyspace& ks, const args_t& a, const exec_env&) {
  bool wrong = false;
  auto* s = find_as<set_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  return s ? bulk_array(*s) : array_header(0);
}

std::string r_sismember(const keyspace& ks, const args_t& a,
                        const exec_env&) {
  bool wrong = false;
  auto* s = find_as<set_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  return integer(s && s->count(a[2]) > 0 ? 1 : 0);
}

std::string r_smismember(const keyspace& ks, const args_t& a,
                         const exec_env&) {
  bool wrong = false;
  auto* s = find_as<set_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  std::string out = array_header(a.size() - 2);
  for (size_t i = 2; i < a.size(); ++i)
    out += integer(s && s->count(a[i]) > 0 ? 1 : 0);
  return out;
}

std::string r_scard(const keyspace& ks, const args_t& a, const exec_env&) {
  bool wrong = false;
  auto* s = find_as<set_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  return integer(s ? static_cast<int64_t>(s->size()) : 0);
}

/// `n` distinct members drawn with `rnd` (all when n >= size).
std::vector<std::string> draw(const set_t& s, uint64_t n, det_random& rnd) {
  std::vector<std::string> all(s.begin(), s.end());
  if (n >= all.size())
    return all;
  // A partial Fisher-Yates shuffle.
  for (size_t i = 0; i < n; ++i)
    std::swap(all[i], all[i + rnd.below(all.size() - i)]);
  all.resize(n);
  return all;
}

std::string w_spop(keyspace& ks, const args_t& a, const exec_env& env) {
  if (a.size() > 3)
    return err(syntax_error);
  bool has_count = a.size() == 3;
  int64_t count = 1;
  if (has_count && (!parse_int(a[2], count) || count < 0))
    return err("ERR value is out of range, must be positive");
  bool wrong = false;
  auto* s = find_as<set_t>(ks, a[1], wrong);
  if (s == nullptr && !wrong)
    return has_count ? array_header(0) : nil();
  if (wrong)
    return err(wrongtype);
  if (has_count && count == 0)
    return array_header(0);
  det_random rnd{env.seed};
  auto picked = draw(*s, static_cast<uint64_t>(count), rnd);
  auto* m = ks.find_mut(a[1])->set();
  for (auto& e : picked)
    m->erase(e);
  ks.modified(a[1]);
  return has_count ? bulk_array(picked) : bulk(picked.front());
}

std::string r_srandmember(const keyspace& ks, const args_t& a,
                          const exec_env& env) {
  if (a.size() > 3)
    return err(syntax_error);
  bool has_count = a.size() == 3;
  int64_t count = 1;
  if (has_count) {
    if (!parse_int(a[2], count))
      return err(not_integer);
    if (count == INT64_MIN)
      return err("ERR value is out of range");
  }
  bool wrong = false;
  auto* s = find_as<set_t>(ks, a[1], wrong);
  if (s == nullptr && !wrong)
    return has_count ? array_header(0) : nil();
  if (wrong)
    return err(wrongtype);
  det_random rnd{env.seed};
  if (!has_count)
    return bulk(draw(*s, 1, rnd).front());
  if (count >= 0)
    return bulk_array(draw(*s, static_cast<uint64_t>(count), rnd));
  // Negative: -count members, repeats allowed.
  std::vector<std::string> all(s->begin(), s->end());
  std::string out = array_header(static_cast<size_t>(-count));
  for (int64_t i = 0; i < -count; ++i)
    out += bulk(all[rnd.below(all.size())]);
  return out;
}

enum class set_op { inter, union_, diff };

/// The result of a set operation over `keys`, or an error reply in `error`.
set_t combine(const keyspace& ks, set_op op, const args_t& a, size_t first,
              size_t end, std::string& error) {
  set_t result;
  // Every key's type is checked before any is used (Redis 7).
  for (size_t i = first; i < end; ++i) {
    bool wrong = false;
    find_as<set_t>(ks, a[i], wrong);
    if (wrong) {
      error = err(wrongtype);
      return {};
    }
  }
  for (size_t i = first; i < end; ++i) {
    bool wrong = false;
    auto* s = find_as<set_t>(ks, a[i], wrong);
    if (op == set_op::inter) {
      if (s == nullptr)
        return {}; // Empty, whatever the remaining keys hold.
      if (i == first) {
        result = *s;
      } else {
        set_t kept;
        for (auto& e : result)
          if (s->count(e) > 0)
            kept.insert(e);
        result.swap(kept);
      }
    } else if (op == set_op::union_) {
      if (s != nullptr)
        result.insert(s->begin(), s->end());
    } else if (i == first) {
      if (s != nullptr)
        result = *s;
    } else if (s != nullptr) {
      for (auto& e : *s)
        result.erase(e);
    }
  }
  return result;
}

set_op op_of(const std::string& name) {
  auto n = upper(name);
  if (n.rfind("SINTER", 0) == 0)
    return set_op::inter;
  if (n.rfind("SUNION", 0) == 0)
    return set_op::union_;
  return set_op::diff;
}

std::string r_setop(const keyspace& ks, const args_t& a, const exec_env&) {
  std::string error;
  auto r = combine(ks, op_of(a[0]), a, 1, a.size(), error);
  return error.empty() ? bulk_array(r) : error;
}

std::string w_setop_store(keyspace& ks, const args_t& a, const exec_env&) {
  std::string error;
  auto r = combine(ks, op_of(a[0]), a, 2, a.size(), error);
  if (!error.empty())
    return error;
  auto n = static_cast<int64_t>(r.size());
  if (r.empty()) {
    ks.erase(a[1]);
  } else {
    object o;
    o.value = std::move(r);
    ks.put(a[1], std::move(o));
  }
  return integer(n);
}

std::string r_sintercard(const keyspace& ks, const args_t& a,
                         const exec_env&) {
  int64_t numkeys = 0;
  if (!parse_int(a[1], numkeys) || numkeys <= 0)
    return err("ERR numkeys should be greater than 0");
  if (numkeys > static_cast<int64_t>(a.size()) - 2)
    return err("ERR Number of keys can't be greater than number of args");
  int64_t limit = 0;
  for (size_t i = 2 + static_cast<size_t>(numkeys); i < a.size(); ++i) {
    if (iequals(a[i], "LIMIT") && i + 1 < a.size()) {
      if (!parse_int(a[++i], limit))
        return err(not_integer);
      if (limit < 0)
        return err("ERR LIMIT can't be negative");
    } else {
      return err(syntax_error);
    }
  }
  std::string error;
  auto r = combine(ks, set_op::inter, a, 2, 2 + static_cast<size_t>(numkeys),
                   error);
  if (!error.empty())
    return error;
  auto n = static_cast<int64_t>(r.size());
  return integer(limit > 0 ? std::min(n, limit) : n);
}

std::string w_smove(keyspace& ks, const args_t& a, const exec_env&) {
  bool wrong_src = false, wrong_dst = false;
  auto* src = find_as<set_t>(ks, a[1], wrong_src);
  find_as<set_t>(ks, a[2], wrong_dst);
  if (src == nullptr && !wrong_src)
    return integer(0);
  if (wrong_src || wrong_dst)
    return err(wrongtype);
  if (a[1] == a[2])
    return integer(src->count(a[3]) > 0 ? 1 : 0);
  auto* m = ks.find_mut(a[1])->set();
  if (m->erase(a[3]) == 0)
    return integer(0);
  ks.modified(a[1]);
  find_or_create<set_t>(ks, a[2])->insert(a[3]);
  ks.modified(a[2]);
  return integer(1);
}

std::string r_sscan(const keyspace& ks, const args_t& a, const exec_env&) {
  uint64_t cursor = 0;
  if (!parse_cursor(a[2], cursor))
    return err("ERR invalid cursor");
  scan_options opt;
  if (auto e = parse_scan_options(a, 3, false, opt); !e.empty())
    return e;
  bool wrong = false;
  auto* s = find_as<set_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  // The whole set in one reply, cursor 0 (as Redis does for small ones).
  std::vector<std::string> out;
  if (s != nullptr)
    for (auto& e : *s)
      if (opt.match.empty() || glob_match(opt.match, e))
        out.push_back(e);
  return array_header(2) + bulk("0") + bulk_array(out);
}

} // namespace

void add_set_commands(std::vector<command_spec>& t) {
  auto r = [&t](const char* n, int arity, read_fn f, uint32_t extra = 0,
                int first = 1, int last = 1) {
    t.push_back({n, arity, flag_readonly | extra, first, last, 1, f, nullptr,
                 "set"});
  };
  auto w = [&t](const char* n, int arity, write_fn f, uint32_t extra = 0,
                int last = 1) {
    t.push_back({n, arity, flag_write | extra, 1, last, 1, nullptr, f, "set"});
  };
  w("SADD", -3, w_sadd, flag_fast);
  w("SREM", -3, w_srem, flag_fast);
  r("SMEMBERS", 2, r_smembers);
  r("SISMEMBER", 3, r_sismember, flag_fast);
  r("SMISMEMBER", -3, r_smismember, flag_fast);
  r("SCARD", 2, r_scard, flag_fast);
  w("SPOP", -2, w_spop, flag_fast | flag_random);
  r("SRANDMEMBER", -2, r_srandmember, flag_random);
  r("SINTER", -2, r_setop, 0, 1, -1);
  r("SUNION", -2, r_setop, 0, 1, -1);
  r("SDIFF", -2, r_setop, 0, 1, -1);
  w("SINTERSTORE", -3, w_setop_store, 0, -1);
  w("SUNIONSTORE", -3, w_setop_store, 0, -1);
  w("SDIFFSTORE", -3, w_setop_store, 0, -1);
  r("SINTERCARD", -3, r_sintercard, 0, 0, 0);
  w("SMOVE", 4, w_smove, flag_fast, 2);
  r("SSCAN", -3, r_sscan);
}

} // namespace paxoskv::redis
