// Lists: LPUSH, RPOP, LRANGE, LREM, LINSERT, LPOS, LMOVE...
#include <algorithm>

#include "protocol/redis/commands.hpp"

namespace paxoskv::redis {

namespace {

const char* const positive = "ERR value is out of range, must be positive";

/// An index (negative: from the tail) made absolute; false if outside.
bool absolute_index(int64_t& index, int64_t len) {
  if (index < 0)
    index += len;
  return index >= 0 && index < len;
}

/// A start..end range (negatives from the tail) clipped to the list;
/// false if it holds nothing.
bool clip_range(int64_t& start, int64_t& end, int64_t len) {
  if (start < 0)
    start = len + start;
  if (end < 0)
    end = len + end;
  if (start < 0)
    start = 0;
  if (start > end || start >= len)
    return false;
  if (end >= len)
    end = len - 1;
  return true;
}

/// LPUSH, RPUSH, LPUSHX, RPUSHX.
std::string w_push(keyspace& ks, const args_t& a, const exec_env&) {
  auto name = upper(a[0]);
  bool left = name[0] == 'L', only_existing = name.back() == 'X';
  bool wrong = false;
  auto* l = find_as<list_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  if (l == nullptr && only_existing)
    return integer(0);
  auto* m = find_or_create<list_t>(ks, a[1]);
  for (size_t i = 2; i < a.size(); ++i)
    if (left)
      m->push_front(a[i]);
    else
      m->push_back(a[i]);
  auto n = static_cast<int64_t>(m->size());
  ks.modified(a[1]);
  return integer(n);
}

/// LPOP, RPOP.
std::string w_pop(keyspace& ks, const args_t& a, const exec_env&) {
  if (a.size() > 3)
    return wrong_arity(lower(a[0]));
  bool left = iequals(a[0], "LPOP");
  bool has_count = a.size() == 3;
  int64_t count = 1;
  if (has_count && (!parse_int(a[2], count) || count < 0))
    return err(positive);
  bool wrong = false;
  auto* l = find_as<list_t>(ks, a[1], wrong);
  if (l == nullptr && !wrong)
    return has_count ? nil_array() : nil();
  if (wrong)
    return err(wrongtype);
  if (has_count && count == 0)
    return array_header(0);
  auto* m = ks.find_mut(a[1])->list();
  std::vector<std::string> out;
  while (!m->empty() && static_cast<int64_t>(out.size()) < count) {
    if (left) {
      out.push_back(std::move(m->front()));
      m->pop_front();
    } else {
      out.push_back(std::move(m->back()));
      m->pop_back();
    }
  }
  ks.modified(a[1]);
  return has_count ? bulk_array(out) : bulk(out.front());
}

std::string r_lrange(const keyspace& ks, const args_t& a, const exec_env&) {
  int64_t start = 0, end = 0;
  if (!parse_int(a[2], start) || !parse_int(a[3], end))
    return err(not_integer);
  bool wrong = false;
  auto* l = find_as<list_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  if (!clip_range(start, end, static_cast<int64_t>(l ? l->size() : 0)))
    return array_header(0);
  std::string out = array_header(static_cast<size_t>(end - start + 1));
  for (auto i = start; i <= end; ++i)
    out += bulk((*l)[static_cast<size_t>(i)]);
  return out;
}

std::string r_llen(const keyspace& ks, const args_t& a, const exec_env&) {
  bool wrong = false;
  auto* l = find_as<list_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  return integer(l ? static_cast<int64_t>(l->size()) : 0);
}

std::string r_lindex(const keyspace& ks, const args_t& a, const exec_env&) {
  int64_t index = 0;
  if (!parse_int(a[2], index))
    return err(not_integer);
  bool wrong = false;
  auto* l = find_as<list_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  if (l == nullptr)
    return nil();
  if (!absolute_index(index, static_cast<int64_t>(l->size())))
    return nil();
  return bulk((*l)[static_cast<size_t>(index)]);
}

std::string w_lset(keyspace& ks, const args_t& a, const exec_env&) {
  int64_t index = 0;
  if (!parse_int(a[2], index))
    return err(not_integer);
  bool wrong = false;
  auto* l = find_as<list_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  if (l == nullptr)
    return err(no_such_key);
  if (!absolute_index(index, static_cast<int64_t>(l->size())))
    return err(out_of_range);
  (*ks.find_mut(a[1])->list())[static_cast<size_t>(index)] = a[3];
  ks.modified(a[1]);
  return ok();
}

std::string w_lrem(keyspace& ks, const args_t& a, const exec_env&) {
  int64_t count = 0;
  if (!parse_int(a[2], count))
    return err(not_integer);
  bool wrong = false;
  auto* l = find_as<list_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  if (l == nullptr)
    return integer(0);
  auto* m = ks.find_mut(a[1])->list();
  uint64_t limit = count == 0 ? UINT64_MAX
                   : count > 0 ? static_cast<uint64_t>(count)
                               : static_cast<uint64_t>(-(count + 1)) + 1;
  uint64_t removed = 0;
  // Each element is tested once, in order (from the tail when count < 0).
  auto match = [&](const std::string& e) {
    if (removed < limit && e == a[3]) {
      ++removed;
      return true;
    }
    return false;
  };
  if (count >= 0)
    m->erase(std::remove_if(m->begin(), m->end(), match), m->end());
  else
    m->erase(m->begin(),
             std::remove_if(m->rbegin(), m->rend(), match).base());
  if (removed > 0)
    ks.modified(a[1]);
  return integer(static_cast<int64_t>(removed));
}

std::string w_ltrim(keyspace& ks, const args_t& a, const exec_env&) {
  int64_t start = 0, end = 0;
  if (!parse_int(a[2], start) || !parse_int(a[3], end))
    return err(not_integer);
  bool wrong = false;
  auto* l = find_as<list_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  if (l == nullptr)
    return ok();
  auto* m = ks.find_mut(a[1])->list();
  if (!clip_range(start, end, static_cast<int64_t>(m->size()))) {
    m->clear();
  } else {
    m->erase(m->begin() + end + 1, m->end());
    m->erase(m->begin(), m->begin() + start);
  }
  ks.modified(a[1]);
  return ok();
}

std::string w_linsert(keyspace& ks, const args_t& a, const exec_env&) {
  bool after = iequals(a[2], "AFTER");
  if (!after && !iequals(a[2], "BEFORE"))
    return err(syntax_error);
  bool wrong = false;
  auto* l = find_as<list_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  if (l == nullptr)
    return integer(0);
  auto* m = ks.find_mut(a[1])->list();
  for (auto i = m->begin(); i != m->end(); ++i)
    if (*i == a[3]) {
      m->insert(after ? i + 1 : i, a[4]);
      ks.modified(a[1]);
      return integer(static_cast<int64_t>(m->size()));
    }
  return integer(-1);
}

std::string r_lpos(const keyspace& ks, const args_t& a, const exec_env&) {
  int64_t rank = 1, count = -1, maxlen = 0;
  for (size_t i = 3; i < a.size(); ++i) {
    bool has_next = i + 1 < a.size();
    auto opt = upper(a[i]);
    if (opt == "RANK" && has_next) {
      if (!parse_int(a[++i], rank))
        return err(not_integer);
      if (rank == 0)
        return err("ERR RANK can't be zero: use 1 to start from the first "
                   "match, 2 from the second ... or use negative to start "
                   "from the end of the list");
      if (rank == INT64_MIN)
        return err("ERR value is out of range");
    } else if (opt == "COUNT" && has_next) {
      if (!parse_int(a[++i], count))
        return err(not_integer);
      if (count < 0)
        return err("ERR COUNT can't be negative");
    } else if (opt == "MAXLEN" && has_next) {
      if (!parse_int(a[++i], maxlen))
        return err(not_integer);
      if (maxlen < 0)
        return err("ERR MAXLEN can't be negative");
    } else {
      return err(syntax_error);
    }
  }
  bool wrong = false;
  auto* l = find_as<list_t>(ks, a[1], wrong);
  if (wrong)
    return err(wrongtype);
  bool many = count >= 0;
  if (l == nullptr)
    return many ? array_header(0) : nil();
  std::vector<int64_t> found;
  auto len = static_cast<int64_t>(l->size());
  int64_t skip = (rank > 0 ? rank : -rank) - 1;
  int64_t seen = 0;
  for (int64_t k = 0; k < len && (maxlen == 0 || k < maxlen); ++k) {
    int64_t idx = rank > 0 ? k : len - 1 - k;
    if ((*l)[static_cast<size_t>(idx)] != a[2])
      continue;
    if (seen++ < skip)
      continue;
    found.push_back(idx);
    if (!many || (count > 0 && static_cast<int64_t>(found.size()) >= count))
      break;
  }
  if (!many)
    return found.empty() ? nil() : integer(found.front());
  std::string out = array_header(found.size());
  for (auto i : found)
    out += integer(i);
  return out;
}

std::string move_element(keyspace& ks, const std::string& src,
                         const std::string& dst, bool from_left,
                         bool to_left) {
  bool wrong = false;
  auto* l = find_as<list_t>(ks, src, wrong);
  if (wrong)
    return err(wrongtype);
  if (l == nullptr)
    return nil();
  find_as<list_t>(ks, dst, wrong);
  if (wrong)
    return err(wrongtype);
  auto* m = ks.find_mut(src)->list();
  std::string e = from_left ? m->front() : m->back();
  if (from_left)
    m->pop_front();
  else
    m->pop_back();
  // Onto the same list: it never becomes empty (nor loses its expiry).
  if (src != dst)
    ks.modified(src);
  auto* d = src == dst ? m : find_or_create<list_t>(ks, dst);
  if (to_left)
    d->push_front(e);
  else
    d->push_back(e);
  ks.modified(dst);
  return bulk(e);
}

std::string w_lmove(keyspace& ks, const args_t& a, const exec_env&) {
  auto side = [](const std::string& s, bool& left) {
    left = iequals(s, "LEFT");
    return left || iequals(s, "RIGHT");
  };
  bool from_left = false, to_left = false;
  if (!side(a[3], from_left) || !side(a[4], to_left))
    return err(syntax_error);
  return move_element(ks, a[1], a[2], from_left, to_left);
}

std::string w_rpoplpush(keyspace& ks, const args_t& a, const exec_env&) {
  return move_element(ks, a[1], a[2], false, true);
}

} // namespace

void add_list_commands(std::vector<command_spec>& t) {
  auto r = [&t](const char* n, int arity, read_fn f, uint32_t extra = 0) {
    t.push_back({n, arity, flag_readonly | extra, 1, 1, 1, f, nullptr, "list"});
  };
  auto w = [&t](const char* n, int arity, write_fn f, uint32_t extra = 0,
                int last = 1) {
    t.push_back({n, arity, flag_write | extra, 1, last, 1, nullptr, f, "list"});
  };
  w("LPUSH", -3, w_push, flag_fast);
  w("RPUSH", -3, w_push, flag_fast);
  w("LPUSHX", -3, w_push, flag_fast);
  w("RPUSHX", -3, w_push, flag_fast);
  w("LPOP", -2, w_pop, flag_fast);
  w("RPOP", -2, w_pop, flag_fast);
  r("LRANGE", 4, r_lrange);
  r("LLEN", 2, r_llen, flag_fast);
  r("LINDEX", 3, r_lindex);
  w("LSET", 4, w_lset);
  w("LREM", 4, w_lrem);
  w("LTRIM", 4, w_ltrim);
  w("LINSERT", 5, w_linsert);
  r("LPOS", -3, r_lpos);
  w("LMOVE", 5, w_lmove, 0, 2);
  w("RPOPLPUSH", 3, w_rpoplpush, 0, 2);
}

} // namespace paxoskv::redis
