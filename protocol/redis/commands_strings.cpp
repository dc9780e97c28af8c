// Strings: GET/SET and friends, counters, ranges, and the expiry options
// SET and GETEX take.
#include <cmath>

#include "protocol/redis/commands.hpp"
#include "protocol/redis/expiry.hpp"

namespace paxoskv::redis {

namespace {

std::string r_get(const keyspace& ks, const args_t& a, const exec_env&) {
  bool wrong = false;
  auto* s = find_as<std::string>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  return s ? bulk(*s) : nil();
}

std::string r_strlen(const keyspace& ks, const args_t& a, const exec_env&) {
  bool wrong = false;
  auto* s = find_as<std::string>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  return integer(s ? static_cast<int64_t>(s->size()) : 0);
}

std::string r_mget(const keyspace& ks, const args_t& a, const exec_env&) {
  std::string out = array_header(a.size() - 1);
  for (size_t i = 1; i < a.size(); ++i) {
    bool wrong = false;
    auto* s = find_as<std::string>(ks, a[i], wrong);
    out += s ? bulk(*s) : nil();
  }
  return out;
}

std::string r_getrange(const keyspace& ks, const args_t& a, const exec_env&) {
  int64_t start = 0, end = 0;
  if (!parse_int(a[2], start) || !parse_int(a[3], end))
    return err(not_integer);
  bool wrong = false;
  auto* s = find_as<std::string>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  if (start < 0 && end < 0 && start > end)
    return bulk("");
  auto len = static_cast<int64_t>(s ? s->size() : 0);
  if (start < 0)
    start = len + start;
  if (end < 0)
    end = len + end;
  if (start < 0)
    start = 0;
  if (end < 0)
    end = 0;
  if (end >= len)
    end = len - 1;
  if (start > end || len == 0)
    return bulk("");
  return bulk(std::string_view(*s).substr(static_cast<size_t>(start),
                                          static_cast<size_t>(end - start + 1)));
}

/// An expiry option may follow none, or the same option (the last wins),
/// as Redis parses them.
bool repeatable(const expiry_option& ex, const std::string& opt) {
  return ex.kind == expiry_kind::none
         || (ex.kind == expiry_kind::at && ex.unit == opt);
}

/// Sets a plain string, dropping any expiry.
void put_string(keyspace& ks, const std::string& key, std::string value,
                uint64_t expire_at = 0) {
  object o;
  o.value = std::move(value);
  o.expire_at = expire_at;
  ks.put(key, std::move(o));
}

std::string w_set(keyspace& ks, const args_t& a, const exec_env&) {
  bool nx = false, xx = false, get = false;
  expiry_option ex;
  for (size_t i = 3; i < a.size(); ++i) {
    auto opt = upper(a[i]);
    bool has_next = i + 1 < a.size();
    if (opt == "NX" && !xx) {
      nx = true;
    } else if (opt == "XX" && !nx) {
      xx = true;
    } else if (opt == "GET") {
      get = true;
    } else if (opt == "KEEPTTL"
               && (ex.kind == expiry_kind::none
                   || ex.kind == expiry_kind::keep)) {
      ex.kind = expiry_kind::keep;
    } else if ((opt == "EX" || opt == "PX" || opt == "EXAT" || opt == "PXAT")
               && repeatable(ex, opt) && has_next) {
      ex.kind = expiry_kind::at;
      ex.unit_arg = a[++i];
      ex.unit = opt;
    } else {
      return err(syntax_error);
    }
  }
  uint64_t at = 0;
  if (ex.kind == expiry_kind::at) {
    auto e = resolve_expiry(ex.unit, ex.unit_arg, ks.now(), "set", at);
    if (!e.empty())
      return e;
  }
  bool wrong = false;
  auto* old = find_as<std::string>(ks, a[1], wrong);
  if (get && wrong)
    return err(wrongtype);
  bool exists = ks.find(a[1]) != nullptr;
  std::string reply = get ? (old ? bulk(*old) : nil()) : ok();
  if ((nx && exists) || (xx && !exists))
    return get ? reply : nil();
  uint64_t keep = 0;
  if (ex.kind == expiry_kind::keep && exists)
    keep = ks.find(a[1])->expire_at;
  put_string(ks, a[1], a[2], ex.kind == expiry_kind::at ? at : keep);
  if (ex.kind == expiry_kind::at && at <= ks.now())
    ks.erase(a[1]); // Already expired: Redis deletes it at once.
  return reply;
}

std::string w_setnx(keyspace& ks, const args_t& a, const exec_env&) {
  if (ks.find(a[1]) != nullptr)
    return integer(0);
  put_string(ks, a[1], a[2]);
  return integer(1);
}

std::string w_setex(keyspace& ks, const args_t& a, const exec_env&) {
  bool ms = iequals(a[0], "PSETEX");
  uint64_t at = 0;
  auto e = resolve_expiry(ms ? "PX" : "EX", a[2], ks.now(),
                          ms ? "psetex" : "setex", at);
  if (!e.empty())
    return e;
  put_string(ks, a[1], a[3], at);
  return ok();
}

std::string w_mset(keyspace& ks, const args_t& a, const exec_env&) {
  if (a.size() % 2 == 0)
    return wrong_arity(lower(a[0]));
  bool nx = iequals(a[0], "MSETNX");
  if (nx)
    for (size_t i = 1; i < a.size(); i += 2)
      if (ks.find(a[i]) != nullptr)
        return integer(0);
  for (size_t i = 1; i < a.size(); i += 2)
    put_string(ks, a[i], a[i + 1]);
  return nx ? integer(1) : ok();
}

std::string w_getset(keyspace& ks, const args_t& a, const exec_env&) {
  bool wrong = false;
  auto* old = find_as<std::string>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  auto reply = old ? bulk(*old) : nil();
  put_string(ks, a[1], a[2]);
  return reply;
}

std::string w_getdel(keyspace& ks, const args_t& a, const exec_env&) {
  bool wrong = false;
  auto* old = find_as<std::string>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  if (old == nullptr)
    return nil();
  auto reply = bulk(*old);
  ks.erase(a[1]);
  return reply;
}

std::string w_getex(keyspace& ks, const args_t& a, const exec_env&) {
  expiry_option ex;
  for (size_t i = 2; i < a.size(); ++i) {
    auto opt = upper(a[i]);
    if (opt == "PERSIST"
        && (ex.kind == expiry_kind::none || ex.kind == expiry_kind::persist)) {
      ex.kind = expiry_kind::persist;
    } else if ((opt == "EX" || opt == "PX" || opt == "EXAT" || opt == "PXAT")
               && repeatable(ex, opt) && i + 1 < a.size()) {
      ex.kind = expiry_kind::at;
      ex.unit = opt;
      ex.unit_arg = a[++i];
    } else {
      return err(syntax_error);
    }
  }
  uint64_t at = 0;
  if (ex.kind == expiry_kind::at) {
    auto e = resolve_expiry(ex.unit, ex.unit_arg, ks.now(), "getex", at);
    if (!e.empty())
      return e;
  }
  bool wrong = false;
  auto* s = find_as<std::string>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  if (s == nullptr)
    return nil();
  auto reply = bulk(*s);
  if (ex.kind == expiry_kind::at) {
    if (at <= ks.now())
      ks.erase(a[1]);
    else
      ks.set_expire(a[1], at);
  } else if (ex.kind == expiry_kind::persist && ks.find(a[1])->expire_at != 0) {
    ks.set_expire(a[1], 0);
  }
  return reply;
}

/// INCR, DECR, INCRBY, DECRBY.
std::string w_incr(keyspace& ks, const args_t& a, const exec_env&) {
  auto name = upper(a[0]);
  int64_t delta = 1;
  if (name == "DECR") {
    delta = -1;
  } else if (name == "INCRBY" || name == "DECRBY") {
    if (!parse_int(a[2], delta))
      return err(not_integer);
    if (name == "DECRBY") {
      if (delta == INT64_MIN)
        return err("ERR decrement would overflow");
      delta = -delta;
    }
  }
  bool wrong = false;
  auto* s = find_as<std::string>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  int64_t current = 0;
  if (s != nullptr && !parse_int(*s, current))
    return err(not_integer);
  if ((delta > 0 && current > INT64_MAX - delta)
      || (delta < 0 && current < INT64_MIN - delta))
    return err(overflow);
  auto v = current + delta;
  if (s != nullptr) {
    *ks.find_mut(a[1])->str() = std::to_string(v);
    ks.modified(a[1]);
  } else {
    put_string(ks, a[1], std::to_string(v));
  }
  return integer(v);
}

std::string w_incrbyfloat(keyspace& ks, const args_t& a, const exec_env&) {
  bool wrong = false;
  auto* s = find_as<std::string>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  long double current = 0, delta = 0;
  if ((s != nullptr && !parse_float(*s, current)) || !parse_float(a[2], delta))
    return err(not_float);
  long double v = current + delta;
  if (std::isnan(v) || std::isinf(v))
    return err(nan_or_inf);
  auto text = format_float(v);
  if (s != nullptr) {
    *ks.find_mut(a[1])->str() = text;
    ks.modified(a[1]);
  } else {
    put_string(ks, a[1], text);
  }
  return bulk(text);
}

std::string w_append(keyspace& ks, const args_t& a, const exec_env&) {
  bool wrong = false;
  auto* s = find_as<std::string>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  if (s == nullptr) {
    put_string(ks, a[1], a[2]);
    return integer(static_cast<int64_t>(a[2].size()));
  }
  if (s->size() + a[2].size() > string_bytes_max)
    return err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
  auto* m = ks.find_mut(a[1])->str();
  *m += a[2];
  ks.modified(a[1]);
  return integer(static_cast<int64_t>(m->size()));
}

std::string w_setrange(keyspace& ks, const args_t& a, const exec_env&) {
  int64_t offset = 0;
  if (!parse_int(a[2], offset))
    return err(not_integer);
  if (offset < 0)
    return err("ERR offset is out of range");
  bool wrong = false;
  auto* s = find_as<std::string>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  auto& v = a[3];
  if (s == nullptr && v.empty())
    return integer(0);
  if (s != nullptr && v.empty())
    return integer(static_cast<int64_t>(s->size()));
  if (static_cast<uint64_t>(offset) + v.size() > string_bytes_max)
    return err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
  if (s == nullptr) {
    put_string(ks, a[1], "");
  }
  auto* m = ks.find_mut(a[1])->str();
  auto need = static_cast<size_t>(offset) + v.size();
  if (m->size() < need)
    m->resize(need, '\0');
  m->replace(static_cast<size_t>(offset), v.size(), v);
  ks.modified(a[1]);
  return integer(static_cast<int64_t>(m->size()));
}

} // namespace

void add_string_commands(std::vector<command_spec>& t) {
  auto r = [&t](const char* n, int arity, int first, int last, int step,
                read_fn f, uint32_t extra = flag_fast) {
    t.push_back({n, arity, flag_readonly | extra, first, last, step, f,
                 nullptr, "string"});
  };
  auto w = [&t](const char* n, int arity, int first, int last, int step,
                write_fn f, uint32_t extra = 0) {
    t.push_back({n, arity, flag_write | extra, first, last, step, nullptr, f,
                 "string"});
  };
  r("GET", 2, 1, 1, 1, r_get);
  r("STRLEN", 2, 1, 1, 1, r_strlen);
  r("MGET", -2, 1, -1, 1, r_mget, 0);
  r("GETRANGE", 4, 1, 1, 1, r_getrange, 0);
  r("SUBSTR", 4, 1, 1, 1, r_getrange, 0);
  w("SET", -3, 1, 1, 1, w_set);
  w("SETNX", 3, 1, 1, 1, w_setnx, flag_fast);
  w("SETEX", 4, 1, 1, 1, w_setex);
  w("PSETEX", 4, 1, 1, 1, w_setex);
  w("MSET", -3, 1, -1, 2, w_mset);
  w("MSETNX", -3, 1, -1, 2, w_mset);
  w("GETSET", 3, 1, 1, 1, w_getset, flag_fast);
  w("GETDEL", 2, 1, 1, 1, w_getdel, flag_fast);
  w("GETEX", -2, 1, 1, 1, w_getex, flag_fast);
  w("INCR", 2, 1, 1, 1, w_incr, flag_fast);
  w("DECR", 2, 1, 1, 1, w_incr, flag_fast);
  w("INCRBY", 3, 1, 1, 1, w_incr, flag_fast);
  w("DECRBY", 3, 1, 1, 1, w_incr, flag_fast);
  w("INCRBYFLOAT", 3, 1, 1, 1, w_incrbyfloat, flag_fast);
  w("APPEND", 3, 1, 1, 1, w_append, flag_fast);
  w("SETRANGE", 4, 1, 1, 1, w_setrange);
}

} // namespace paxoskv::redis
