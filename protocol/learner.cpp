#include "protocol/learner.hpp"

#include <cassert>

namespace paxoskv {

learner::learner(learner_config cfg) : cfg_(std::move(cfg)) {
  assert(cfg_.self != 0 && cfg_.poll_ticks > 0);
  assert(cfg_.buffer_slots_max > 0 && cfg_.replies_per_client_max > 0);
}

learner_step learner::on_chosen(const chosen& m) {
  learner_step out;
  for (auto& e : m.entries) {
    if (e.slot < next_slot_ || e.slot >= next_slot_ + cfg_.buffer_slots_max)
      continue; // Applied already, or too far ahead to buffer.
    auto i = buffer_.find(e.slot);
    if (i == buffer_.end())
      buffer_.emplace(e.slot, e.value);
    else
      assert(i->second == e.value); // One value per slot, or safety broke.
  }
  apply_ready(out);
  return out;
}

learner_step learner::on_tick() {
  learner_step out;
  if (++now_ % cfg_.poll_ticks != 0 || cfg_.acceptors.empty())
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
}

void learner::apply_command(slot_t slot, const command& c,
                            learner_step& out) {
  auto& s = sessions_[c.client_id];
  if (auto r = s.replies.find(c.sequence); r != s.replies.end()) {
    out.outcomes.push_back({slot, c.client_id, c.sequence, r->second, true});
    return;
  }
  if (c.sequence <= s.forgotten_upto)
    return; // Too old to tell; applying again could apply it twice.
  auto result = execute(c);
  s.replies.emplace(c.sequence, result);
  while (s.replies.size() > cfg_.replies_per_client_max) {
    s.forgotten_upto = std::max(s.forgotten_upto, s.replies.begin()->first);
    s.replies.erase(s.replies.begin());
  }
  out.outcomes.push_back({slot, c.client_id, c.sequence, std::move(result),
                          false});
}

command_result learner::execute(const command& c) {
  switch (c.op) {
    case op_code::nop:
      return {result_kind::ok, {}, 0};
    case op_code::get: {
      auto i = data_.find(c.key);
      if (i == data_.end())
        return {result_kind::nil, {}, 0};
      return {result_kind::value, i->second, 0};
    }
    case op_code::set:
      data_[c.key] = c.value;
      return {result_kind::ok, {}, 0};
    case op_code::del:
      return {result_kind::integer, {},
              static_cast<int64_t>(data_.erase(c.key))};
  }
  return {result_kind::not_applied, "unknown operation", 0};
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

} // namespace paxoskv
