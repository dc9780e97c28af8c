// The proposer's client path: commands and batches from learners, passed on
// to the leader or queued, and the adaptive batching that turns the queue
// into slots (PROTOCOL.md rules 2 and 5). The rest of the proposer is in
// proposer.cpp.
#include "protocol/proposer.hpp"

#include <algorithm>
#include <cassert>

namespace paxoskv {

void proposer::forward(const client_command& c, proposer_step& out) {
  if (!can_forward(c.hops)) {
    out.log.push_back("ignore_client_command: no leader to forward to");
    if (leader_hint_ != cfg_.self)
      refuse(c, leader_hint_ == 0 ? "no leader known" : "forwarded too often",
             out);
    return;
  }
  if (forward_buffer_.size() >= cfg_.forward_buffer_max) {
    auto flushed = flush_forwards();
    for (auto& e : flushed.send_now)
      out.send_now.push_back(std::move(e));
  }
  forward_buffer_.emplace_back(
    leader_hint_, client_command{c.cmd, c.origin, c.hops + 1, c.attempt});
}

void proposer::refuse(const client_command& c, const std::string& why,
                      proposer_step& out) {
  // This copy is dropped: its origin learns that it will never be applied.
  if (c.origin != 0)
    out.send_now.push_back(
      {c.origin, command_refused{c.cmd.client_id, c.cmd.sequence, c.attempt,
                                 why}});
}

proposer_step proposer::flush_forwards() {
  proposer_step out;
  std::map<node_id, client_batch> batches;
  for (auto& [to, c] : forward_buffer_)
    batches[to].commands.push_back(std::move(c));
  forward_buffer_.clear();
  for (auto& [to, b] : batches)
    out.send_now.push_back({to, std::move(b)});
  return out;
}

proposer_step proposer::on_client_batch(const client_batch& m) {
  proposer_step out;
  for (auto& c : m.commands) {
    auto step = on_client_command(c);
    assert(!step.write && step.after_write.empty()); // Commands never write.
    for (auto& e : step.send_now)
      out.send_now.push_back(std::move(e));
    for (auto& l : step.log)
      out.log.push_back(std::move(l));
    for (auto& l : step.notices)
      out.notices.push_back(std::move(l));
  }
  return out;
}

proposer_step proposer::on_client_command(const client_command& m) {
  proposer_step out;
  if (phase_ == proposer_phase::follower) {
    forward(m, out);
    return out;
  }
  auto id = std::make_pair(m.cmd.client_id, m.cmd.sequence);
  if (pending_ids_.count(id) > 0) {
    // A resend of a command queued or in flight: a second copy would only
    // take another log entry.
    out.log.push_back("ignore_client_command: already queued or in flight");
    return out;
  }
  if (queue_.size() >= cfg_.queue_commands_max) {
    out.log.push_back("ignore_client_command: queue full");
    refuse(m, "the leader's queue is full", out);
    return out;
  }
  pending_ids_.insert(id);
  queue_bytes_ += m.cmd.size_bytes();
  queue_.push_back(m);
  fill_window(out);
  return out;
}

bool proposer::full_batch_queued() const {
  return queue_.size() >= cfg_.batch_commands_max
         || queue_bytes_ >= cfg_.batch_bytes_max;
}

void proposer::fill_window(proposer_step& out) {
  while (phase_ == proposer_phase::leading
         && in_flight_.size() < cfg_.window_slots_max && !reproposals_.empty()
         && within_window(reproposals_.begin()->first)) {
    auto first = reproposals_.begin();
    auto slot = first->first;
    auto value = std::move(first->second);
    reproposals_.erase(first);
    if (chosen_.count(slot) == 0)
      propose(slot, std::move(value), out);
  }
  if (!reproposals_.empty())
    return; // Client batches go above the phase 1 slots.
  if (phase_ == proposer_phase::leading && change_ && !change_->proposed
      && in_flight_.size() < cfg_.window_slots_max
      && within_window(next_slot_)) {
    log_value v;
    v.config = change_->next;
    change_->proposed = true;
    change_->slot = next_slot_;
    propose(next_slot_++, std::move(v), out);
  }
  while (phase_ == proposer_phase::leading
         && in_flight_.size() < cfg_.window_slots_max && !queue_.empty()
         && (in_flight_.empty() || full_batch_queued())
         && within_window(next_slot_)) {
    log_value batch;
    uint64_t bytes = batch.size_bytes();
    while (!queue_.empty()
           && batch.commands.size() < cfg_.batch_commands_max
           && (batch.commands.empty()
               || bytes + queue_.front().cmd.size_bytes()
                    <= cfg_.batch_bytes_max)) {
      auto size = queue_.front().cmd.size_bytes();
      bytes += size;
      queue_bytes_ -= size;
      batch.commands.push_back(std::move(queue_.front().cmd));
      queue_.pop_front();
    }
    batch.time_ms = stamp();
    propose(next_slot_++, std::move(batch), out);
  }
  // A configuration chosen but not yet in force: NOPs bring the log to
  // where it governs, so that a change takes effect at once when idle.
  while (phase_ == proposer_phase::leading
         && in_flight_.size() < cfg_.window_slots_max && queue_.empty()
         && next_slot_ < configs_.latest().effective
         && within_window(next_slot_))
    propose(next_slot_++, nop_value(), out);
}

} // namespace paxoskv
