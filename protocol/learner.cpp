#include "protocol/learner.hpp"

#include <algorithm>
#include <cassert>
#include <climits>
#include <cstdint>

namespace paxoskv {

learner::learner(learner_config cfg)
  : cfg_(std::move(cfg)), read_request_id_(cfg_.read_id_base) {
  assert(cfg_.self != 0 && cfg_.poll_ticks > 0);
  assert(cfg_.buffer_slots_max > 0 && cfg_.replies_per_client_max > 0);
}

learner_step learner::on_chosen(const chosen& m) {
  learner_step out;
  auto before = next_slot_;
  for (auto& e : m.entries) {
    known_end_ = std::max(known_end_, e.slot + 1);
    if (e.slot < next_slot_ || e.slot >= next_slot_ + cfg_.buffer_slots_max)
      continue; // Applied already, or too far ahead to buffer.
    auto i = buffer_.find(e.slot);
    if (i == buffer_.end())
      buffer_.emplace(e.slot, e.value);
    else
      assert(i->second == e.value); // One value per slot, or safety broke.
  }
  apply_ready(out);
  if (next_slot_ > before && next_slot_ < known_end_)
    catch_up(out);
  else if (m.acceptor != 0 && m.serves_from > next_slot_)
    ask_elsewhere(m.acceptor, m.serves_from, out);
  return out;
}

void learner::ask_elsewhere(node_id acceptor, slot_t serves_from,
                            learner_step& out) {
  // That acceptor does not hold the next slot (it forgot it, or never had
  // its value): the next one is asked at once, each at most once per slot,
  // so acceptors that all lack it cannot keep the learner asking in a loop.
  known_end_ = std::max(known_end_, serves_from);
  if (unserved_slot_ != next_slot_) {
    unserved_slot_ = next_slot_;
    unserved_by_.clear();
  }
  unserved_by_.insert(acceptor);
  for (size_t n = 0; n < cfg_.acceptors.size(); ++n) {
    auto target = cfg_.acceptors[poll_index_++ % cfg_.acceptors.size()];
    if (unserved_by_.count(target) == 0) {
      out.send_now.push_back({target, learn_request{cfg_.self, next_slot_}});
      return;
    }
  }
}

void learner::catch_up(learner_step& out) {
  if (cfg_.acceptors.empty())
    return;
  auto target = cfg_.acceptors[(poll_index_ + cfg_.acceptors.size() - 1)
                               % cfg_.acceptors.size()];
  out.send_now.push_back({target, learn_request{cfg_.self, next_slot_}});
}

learner_step learner::on_read(const command& c, read_level level) {
  assert(is_read_only(c.op) && level != read_level::log);
  learner_step out;
  waiting_read r{c, now_ + cfg_.read_timeout_ticks, now_};
  if (reads_count_ >= cfg_.reads_max) {
    out.outcomes.push_back({next_slot_, c.client_id, c.sequence,
                            {result_kind::not_applied,
                             "too many reads waiting; retry later", 0},
                            false, true});
    return out;
  }
  ++reads_count_;
  auto lv = static_cast<size_t>(level);
  reads_new_[lv].push_back(std::move(r));
  for (auto& [id, g] : read_groups_)
    if (g.level == level)
      return out; // The next request carries it.
  request_index(level, out);
  return out;
}

void learner::request_index(read_level level, learner_step& out) {
  auto lv = static_cast<size_t>(level);
  if (reads_new_[lv].empty())
    return;
  auto id = ++read_request_id_;
  auto& g = read_groups_[id];
  g.level = level;
  g.reads = std::move(reads_new_[lv]);
  reads_new_[lv].clear();
  g.sent_tick = now_;
  // To this node's proposer, which passes it on to the leader.
  out.send_now.push_back({cfg_.self, read_request{id, cfg_.self, level, 0}});
}

learner_step learner::on_read_index(const read_index& m) {
  learner_step out;
  auto g = read_groups_.find(m.id);
  if (g == read_groups_.end())
    return out; // Answered already (by another copy of a resend).
  auto level = g->second.level;
  for (auto& r : g->second.reads)
    reads_indexed_.emplace(m.index, std::move(r));
  read_groups_.erase(g);
  serve_reads(out);
  if (m.index > next_slot_) {
    // Behind the leader: fetch what is missing now, not at the next poll.
    known_end_ = std::max(known_end_, m.index);
    catch_up(out);
  }
  request_index(level, out);
  return out;
}

learner_step learner::on_read_refused(const read_refused& m) {
  learner_step out;
  auto g = read_groups_.find(m.id);
  if (g == read_groups_.end())
    return out;
  auto& reads = g->second.reads;
  auto end = std::remove_if(reads.begin(), reads.end(), [&](waiting_read& r) {
    if (now_ - r.arrived < cfg_.read_refuse_after_ticks)
      return false;
    fail_read(r, m.reason, out);
    return true;
  });
  reads.erase(end, reads.end());
  // The rest are asked for again at the next resend.
  return out;
}

void learner::serve_reads(learner_step& out) {
  auto end = reads_indexed_.upper_bound(next_slot_);
  for (auto i = reads_indexed_.begin(); i != end; ++i) {
    auto& c = i->second.cmd;
    // The slot is the state it was served from: every slot below it.
    out.outcomes.push_back(
      {next_slot_, c.client_id, c.sequence, execute(c), false, true});
    --reads_count_;
  }
  reads_indexed_.erase(reads_indexed_.begin(), end);
}

void learner::fail_read(const waiting_read& r, const std::string& why,
                        learner_step& out) {
  out.outcomes.push_back({next_slot_, r.cmd.client_id, r.cmd.sequence,
                          {result_kind::not_applied, why, 0}, false, true});
  --reads_count_;
}

learner_step learner::on_tick() {
  learner_step out;
  ++now_;
  // Reads: time out, and ask again where the leader did not answer.
  const std::string late = "read not confirmed by a leader in time";
  auto expire = [&](std::vector<waiting_read>& v) {
    auto end = std::remove_if(v.begin(), v.end(), [&](waiting_read& r) {
      if (now_ < r.deadline)
        return false;
      fail_read(r, late, out);
      return true;
    });
    v.erase(end, v.end());
  };
  for (auto& v : reads_new_)
    expire(v);
  for (auto i = reads_indexed_.begin(); i != reads_indexed_.end();)
    if (now_ >= i->second.deadline) {
      fail_read(i->second, "read index not applied in time", out);
      i = reads_indexed_.erase(i);
    } else {
      ++i;
    }
  for (auto i = read_groups_.begin(); i != read_groups_.end();) {
    auto& g = i->second;
    expire(g.reads);
    if (g.reads.empty()) {
      auto level = g.level;
      i = read_groups_.erase(i);
      request_index(level, out);
    } else if (now_ - g.sent_tick >= cfg_.read_resend_ticks) {
      // Ask again under the same id: whichever copy is answered first
      // serves the group. (A new id would make an answer that is merely
      // slower than the resend period useless, and a network that slow
      // would never serve a read.) Reads that came since wait for the
      // next request.
      g.sent_tick = now_;
      out.send_now.push_back(
        {cfg_.self, read_request{i->first, cfg_.self, g.level, 0}});
      ++i;
    } else {
      ++i;
    }
  }
  if (now_ % cfg_.poll_ticks != 0 || cfg_.acceptors.empty())
    return out;
  auto target = cfg_.acceptors[poll_index_++ % cfg_.acceptors.size()];
  out.send_now.push_back({target, learn_request{cfg_.self, next_slot_}});
  return out;
}

void learner::apply_ready(learner_step& out) {
  for (auto i = buffer_.begin();
       i != buffer_.end() && i->first == next_slot_;
       i = buffer_.erase(i)) {
    for (auto& c : i->second.commands)
      apply_command(i->first, c, out);
    out.applied.push_back({i->first, std::move(i->second)});
    ++next_slot_;
  }
  serve_reads(out);
}

void learner::apply_command(slot_t slot, const command& c,
                            learner_step& out) {
  auto& s = sessions_[c.client_id];
  if (c.sequence <= s.applied_upto) {
    // A duplicate: applied before, its state change is not repeated.
    auto r = s.replies.find(c.sequence);
    out.outcomes.push_back(
      {slot, c.client_id, c.sequence,
       r != s.replies.end()
         ? r->second
         : command_result{result_kind::error,
                          "ERR command applied earlier; its reply is no "
                          "longer kept",
                          0},
       true});
    return;
  }
  if (c.sequence != s.applied_upto + 1) {
    // Its predecessor is not applied yet: applying it now would break the
    // client's order. Deterministic on every replica.
    command_outcome o{slot, c.client_id, c.sequence,
                      {result_kind::not_applied,
                       "an earlier command of this client is not applied yet",
                       0},
                      false};
    o.out_of_order = true;
    out.outcomes.push_back(std::move(o));
    return;
  }
  auto result = execute(c);
  s.applied_upto = c.sequence;
  s.replies.emplace(c.sequence, result);
  while (s.replies.size() > cfg_.replies_per_client_max)
    s.replies.erase(s.replies.begin());
  out.outcomes.push_back({slot, c.client_id, c.sequence, std::move(result),
                          false});
}

namespace {

command_result ok() {
  return {result_kind::ok, {}, 0};
}

command_result integer(int64_t n) {
  return {result_kind::integer, {}, n};
}

command_result error(const char* text) {
  return {result_kind::error, text, 0};
}

/// Parses a whole decimal int64, as Redis does for INCRBY.
bool parse_int64(const std::string& s, int64_t& out) {
  if (s.empty() || s.size() > 20)
    return false;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size())
    return false;
  // Accumulate negatively: INT64_MIN has no positive counterpart.
  int64_t x = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    int digit = s[i] - '0';
    if (x < (INT64_MIN + digit) / 10)
      return false;
    x = x * 10 - digit;
  }
  if (s[0] != '-') {
    if (x == INT64_MIN)
      return false;
    x = -x;
  }
  out = x;
  return true;
}

} // namespace

command_result learner::execute(const command& c) {
  auto& a = c.args;
  // Arity is checked by the client service; a command that reaches the log
  // with another one still gets a deterministic answer on every replica.
  auto arity = [&](size_t n, bool at_least = false) {
    return at_least ? a.size() >= n : a.size() == n;
  };
  switch (c.op) {
    case op_code::nop:
      return ok();
    case op_code::get: {
      if (!arity(1))
        break;
      auto i = data_.find(a[0]);
      if (i == data_.end())
        return {result_kind::nil, {}, 0};
      return {result_kind::value, i->second, 0};
    }
    case op_code::set:
    case op_code::set_nx:
    case op_code::set_xx: {
      if (!arity(2))
        break;
      bool exists = data_.count(a[0]) > 0;
      if ((c.op == op_code::set_nx && exists)
          || (c.op == op_code::set_xx && !exists))
        return {result_kind::nil, {}, 0};
      data_[a[0]] = a[1];
      return ok();
    }
    case op_code::del:
    case op_code::exists: {
      if (!arity(1, true))
        break;
      int64_t n = 0;
      for (auto& k : a)
        n += static_cast<int64_t>(c.op == op_code::del ? data_.erase(k)
                                                        : data_.count(k));
      return integer(n);
    }
    case op_code::mget: {
      if (!arity(1, true))
        break;
      command_result r{result_kind::array, {}, 0};
      for (auto& k : a) {
        auto i = data_.find(k);
        r.items.push_back(i == data_.end() ? std::string{} : i->second);
        r.present.push_back(i == data_.end() ? 0 : 1);
      }
      return r;
    }
    case op_code::mset: {
      if (a.empty() || a.size() % 2 != 0)
        break;
      for (size_t i = 0; i < a.size(); i += 2)
        data_[a[i]] = a[i + 1];
      return ok();
    }
    case op_code::incrby: {
      if (!arity(2))
        break;
      int64_t delta = 0, current = 0;
      if (!parse_int64(a[1], delta))
        return error("ERR value is not an integer or out of range");
      auto i = data_.find(a[0]);
      if (i != data_.end() && !parse_int64(i->second, current))
        return error("ERR value is not an integer or out of range");
      if ((delta > 0 && current > INT64_MAX - delta)
          || (delta < 0 && current < INT64_MIN - delta))
        return error("ERR increment or decrement would overflow");
      data_[a[0]] = std::to_string(current + delta);
      return integer(current + delta);
    }
    case op_code::append: {
      if (!arity(2))
        break;
      auto& v = data_[a[0]];
      v += a[1];
      return integer(static_cast<int64_t>(v.size()));
    }
    case op_code::strlen: {
      if (!arity(1))
        break;
      auto i = data_.find(a[0]);
      return integer(i == data_.end() ? 0
                                      : static_cast<int64_t>(i->second.size()));
    }
    case op_code::dbsize:
      return integer(static_cast<int64_t>(data_.size()));
  }
  return error("ERR wrong number of arguments");
}

std::optional<command_result> learner::saved_reply(uint64_t client_id,
                                                   uint64_t sequence) const {
  auto s = sessions_.find(client_id);
  if (s == sessions_.end())
    return std::nullopt;
  auto r = s->second.replies.find(sequence);
  if (r == s->second.replies.end())
    return std::nullopt;
  return r->second;
}

uint64_t learner::applied_upto(uint64_t client_id) const {
  auto s = sessions_.find(client_id);
  return s == sessions_.end() ? 0 : s->second.applied_upto;
}

} // namespace paxoskv
