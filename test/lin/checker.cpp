#include "test/lin/checker.hpp"

#include <algorithm>
#include <functional>
#include <set>
#include <unordered_set>

namespace paxoskv::lin {

namespace {

constexpr uint64_t never = std::numeric_limits<uint64_t>::max();

struct key_search {
  std::vector<operation> ops; // sorted by invocation
  std::vector<uint64_t> done; // bitset of linearized ops
  size_t required_left = 0;
  uint64_t states = 0;
  uint64_t max_states = 0;
  std::unordered_set<std::string> seen;
  /// For each op, the other ops of its session (same key).
  std::vector<std::vector<size_t>> same_session;

  bool is_done(size_t i) const { return (done[i / 64] >> (i % 64)) & 1; }
  void flip(size_t i) { done[i / 64] ^= uint64_t{1} << (i % 64); }

  uint64_t returns(size_t i) const {
    return ops[i].result == outcome::unknown ? never : ops[i].complete;
  }

  std::string memo_key(const std::optional<std::string>& state) const {
    std::string k(reinterpret_cast<const char*>(done.data()),
                  done.size() * sizeof(uint64_t));
    k += state ? "=" + *state : "#";
    return k;
  }

  /// Session order: every earlier op of i's session that must take effect
  /// did, and no later one did yet (an earlier op of unknown outcome left
  /// out now is then left out for good).
  bool in_order(size_t i) const {
    for (auto j : same_session[i]) {
      if (ops[j].order < ops[i].order && !is_done(j)
          && ops[j].result == outcome::ok)
        return false;
      if (ops[j].order > ops[i].order && is_done(j))
        return false;
    }
    return true;
  }

  /// Depth-first search over linearization orders.
  bool search(const std::optional<std::string>& state) {
    if (required_left == 0)
      return true;
    if (++states > max_states)
      return false;
    if (!seen.insert(memo_key(state)).second)
      return false;
    // An op may go next only if it was invoked before every pending op
    // returned.
    uint64_t min_return = never;
    for (size_t i = 0; i < ops.size(); ++i)
      if (!is_done(i))
        min_return = std::min(min_return, returns(i));
    for (size_t i = 0; i < ops.size(); ++i) {
      if (is_done(i) || ops[i].invoke > min_return || !in_order(i))
        continue;
      auto& op = ops[i];
      std::optional<std::string> next = state;
      if (op.write)
        next = op.value;
      else if (op.value != state)
        continue; // This read cannot happen now.
      flip(i);
      bool required = op.result == outcome::ok;
      if (required)
        --required_left;
      if (search(next))
        return true;
      if (required)
        ++required_left;
      flip(i);
    }
    return false;
  }
};

} // namespace

verdict check(const std::vector<operation>& history, uint64_t max_states) {
  std::map<std::string, std::vector<operation>> by_key;
  for (auto& op : history) {
    if (op.result == outcome::failed)
      continue; // Certainly did not take effect.
    if (!op.write && op.result == outcome::unknown)
      continue; // A read nobody saw constrains nothing.
    by_key[op.key].push_back(op);
  }
  verdict v;
  for (auto& [key, all] : by_key) {
    // A write of unknown outcome whose value no read returned may as well
    // never have taken effect: placing it cannot make any read possible.
    // Leaving it out keeps the search small.
    std::set<std::optional<std::string>> read_values;
    for (auto& op : all)
      if (!op.write)
        read_values.insert(op.value);
    std::vector<operation> ops;
    for (auto& op : all)
      if (op.write == false || op.result != outcome::unknown
          || read_values.count(op.value) > 0)
        ops.push_back(op);
    key_search s;
    s.ops = std::move(ops);
    std::sort(s.ops.begin(), s.ops.end(),
              [](const operation& a, const operation& b) {
                return a.invoke < b.invoke;
              });
    s.done.assign((s.ops.size() + 63) / 64, 0);
    s.same_session.resize(s.ops.size());
    std::map<uint64_t, std::vector<size_t>> sessions;
    for (size_t i = 0; i < s.ops.size(); ++i)
      if (s.ops[i].session != 0)
        sessions[s.ops[i].session].push_back(i);
    for (auto& [id, members] : sessions)
      for (auto i : members)
        for (auto j : members)
          if (i != j)
            s.same_session[i].push_back(j);
    s.max_states = max_states;
    for (auto& op : s.ops)
      if (op.result == outcome::ok)
        ++s.required_left;
    bool ok = s.search(std::nullopt);
    v.states += s.states;
    if (!ok) {
      v.linearizable = false;
      v.explanation = "key '" + key + "': "
                      + (s.states > max_states
                           ? "search gave up after " + std::to_string(max_states)
                               + " states"
                           : "no linearization of its "
                               + std::to_string(s.ops.size()) + " operations");
      return v;
    }
  }
  return v;
}

} // namespace paxoskv::lin
