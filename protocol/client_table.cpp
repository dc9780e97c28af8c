#include "protocol/client_table.hpp"

#include <algorithm>
#include <cassert>

namespace paxoskv {

namespace {

command_result not_applied(std::string why) {
  return {result_kind::not_applied, std::move(why), 0};
}

} // namespace

client_table::client_table(client_table_config cfg) : cfg_(std::move(cfg)) {
  assert(cfg_.resend_ticks > 0 && cfg_.timeout_ticks > 0);
  assert(cfg_.window_max > 0 && cfg_.sessions_max > 0);
}

size_t client_table::unapplied() const {
  size_t n = 0;
  for (auto& [id, s] : sessions_)
    n += s.unapplied.size();
  return n;
}

client_table_step client_table::on_request(client_request_in in,
                                           uint64_t applied_upto) {
  client_table_step out;
  auto refuse = [&](std::string why) {
    out.answers.push_back({in.client_id, in.request, not_applied(std::move(why))});
    return out;
  };
  auto si = sessions_.find(in.client_id);
  if (si == sessions_.end()) {
    if (sessions_.size() >= cfg_.sessions_max)
      return refuse("too many client sessions on this node; retry later");
    session fresh;
    fresh.applied_seq = applied_upto;
    fresh.next_seq = applied_upto + 1;
    si = sessions_.emplace(in.client_id, std::move(fresh)).first;
  }
  auto& s = si->second;
  s.active_tick = now_;
  if (waiting_ >= cfg_.requests_max)
    return refuse("too many requests waiting on this node; retry later");
  if (s.requests.size() >= cfg_.session_requests_max)
    return refuse("too many requests waiting on this connection");
  request r;
  r.number = in.request;
  r.level = in.level;
  r.deadline = now_ + cfg_.timeout_ticks;
  r.cmd = command{in.client_id, 0, in.op, std::move(in.args)};
  ++waiting_;
  if (is_read_only(r.cmd) && in.level != read_level::log) {
    r.cmd.sequence = read_tag | in.request;
    r.after_seq = s.next_seq - 1;
    s.requests.push_back(std::move(r));
    release_reads(s, out);
    return out;
  }
  if (s.unapplied.size() >= cfg_.window_max) {
    // Answered in its turn, after the requests before it.
    r.answered = true;
    r.result = not_applied("too many commands in flight on this connection");
    s.requests.push_back(std::move(r));
    release(in.client_id, s, out);
    return out;
  }
  r.seq = s.next_seq++;
  r.cmd.sequence = r.seq;
  // Behind a read not yet served it waits: sent now, it could be applied
  // before the leader fixes that read's index, and the read would see it.
  bool after_read = std::any_of(
    s.requests.begin(), s.requests.end(),
    [](const request& q) { return q.seq == 0 && !q.answered; });
  auto& p = s.unapplied[r.seq];
  p.cmd = r.cmd;
  p.created = now_;
  p.held = after_read;
  if (!after_read)
    send(p, out);
  s.requests.push_back(std::move(r));
  return out;
}

void client_table::keep_reads_monotonic(session& s) {
  // Reads of one connection may be served out of order (different levels,
  // resent index requests). One served from an older state than a read
  // sent before it is served again: reads change nothing, and its answer
  // has not left (answers leave in order).
  uint64_t floor = 0;
  for (auto& r : s.requests) {
    if (r.seq != 0 || !r.answered || !r.served)
      continue;
    if (r.state < floor) {
      r.answered = false;
      r.read_sent = false;
      r.served = false;
      continue;
    }
    floor = r.state;
  }
}

void client_table::release_writes(session& s, client_table_step& out) {
  // Log commands held behind reads go once every read before them was
  // answered, in sequence order.
  uint64_t blocked_from = UINT64_MAX;
  for (auto& q : s.requests)
    if (q.seq == 0 && !q.answered) {
      blocked_from = q.after_seq + 1;
      break;
    }
  for (auto& [seq, p] : s.unapplied) {
    if (seq >= blocked_from)
      break;
    if (p.held) {
      p.held = false;
      send(p, out);
    }
  }
}

client_table_step
client_table::on_outcomes(const std::vector<command_outcome>& outs) {
  client_table_step out;
  for (auto& o : outs)
    on_outcome(o, out);
  return out;
}

void client_table::on_outcome(const command_outcome& o,
                              client_table_step& out) {
  auto si = sessions_.find(o.client_id);
  if (si == sessions_.end())
    return; // Another node's client, or a closed connection.
  auto& s = si->second;
  s.active_tick = now_;
  if (o.read) {
    if (auto* r = find_request(s, o.sequence & ~read_tag, true)) {
      r->answered = true;
      r->result = o.result;
      r->served = o.result.kind != result_kind::not_applied;
      r->state = o.slot;
    }
    keep_reads_monotonic(s);
    release_reads(s, out);
    release_writes(s, out);
    release(o.client_id, s, out);
    return;
  }
  auto u = s.unapplied.find(o.sequence);
  if (o.out_of_order) {
    // Sent again as soon as its predecessor is applied.
    if (u != s.unapplied.end())
      u->second.behind = true;
    return;
  }
  s.applied_seq = std::max(s.applied_seq, o.sequence);
  if (u != s.unapplied.end())
    s.unapplied.erase(u);
  if (auto* r = find_request(s, o.sequence, false))
    r->answered = true, r->result = o.result;
  auto next = s.unapplied.find(o.sequence + 1);
  if (next != s.unapplied.end() && next->second.behind) {
    next->second.behind = false;
    send(next->second, out);
  }
  release_reads(s, out);
  release(o.client_id, s, out);
}

void client_table::send(pending_command& p, client_table_step& out) {
  p.resend_at = now_ + cfg_.resend_ticks;
  ++p.attempts;
  out.submit.push_back(client_command{p.cmd, cfg_.self, 0, p.attempts});
}

client_table_step client_table::on_refused(const command_refused& m) {
  client_table_step out;
  auto si = sessions_.find(m.client_id);
  if (si == sessions_.end())
    return out;
  auto& s = si->second;
  auto u = s.unapplied.find(m.sequence);
  if (u == s.unapplied.end() || m.attempt == 0 || m.attempt > 64
      || m.attempt > u->second.attempts)
    return out;
  u->second.refused_mask |= uint64_t{1} << (m.attempt - 1);
  u->second.refused_why = m.reason;
  fail_refused(s, out);
  release(m.client_id, s, out);
  return out;
}

bool client_table::certainly_unapplied(const pending_command& p) const {
  // A command held behind a read was never sent, but it is waiting, not
  // refused: it is sent once the read is answered.
  if (p.held || p.attempts == 0 || p.attempts > 64)
    return false;
  auto all = p.attempts == 64 ? ~uint64_t{0}
                              : (uint64_t{1} << p.attempts) - 1;
  return p.refused_mask == all;
}

void client_table::fail_refused(session& s, client_table_step& out) {
  // Only from the top: a sequence number given back must be the newest,
  // so that numbering stays without gaps for the state machine.
  auto top = s.next_seq - 1;
  while (top > s.applied_seq) {
    auto u = s.unapplied.find(top);
    if (u == s.unapplied.end() || !certainly_unapplied(u->second)
        || now_ - u->second.created < cfg_.refuse_after_ticks)
      break;
    if (auto* r = find_request(s, top, false)) {
      r->answered = true;
      r->result = not_applied(
        u->second.refused_why.empty() ? "no leader known"
                                      : u->second.refused_why);
      r->seq = 0;
      r->read_sent = true; // Not a read: never hand it to the learner.
      r->served = false;
    }
    s.unapplied.erase(u);
    --top;
  }
  if (top + 1 == s.next_seq)
    return;
  s.next_seq = top + 1;
  for (auto& r : s.requests)
    if (r.seq == 0 && !r.answered)
      r.after_seq = std::min(r.after_seq, top);
  release_reads(s, out);
}

client_table::request* client_table::find_request(session& s, uint64_t key,
                                                  bool read) {
  for (auto& r : s.requests)
    if (!r.answered && (read ? r.seq == 0 && r.number == key : r.seq == key))
      return &r;
  return nullptr;
}

void client_table::release_reads(session& s, client_table_step& out) {
  for (auto& r : s.requests)
    if (r.seq == 0 && !r.answered && !r.read_sent
        && s.applied_seq >= r.after_seq) {
      r.read_sent = true;
      out.reads.emplace_back(r.cmd, r.level);
    }
}

void client_table::release(uint64_t client_id, session& s,
                           client_table_step& out) {
  while (!s.requests.empty() && s.requests.front().answered) {
    auto& r = s.requests.front();
    out.answers.push_back({client_id, r.number, std::move(r.result), r.seq});
    s.requests.pop_front();
    --waiting_;
  }
}

void client_table::on_close(uint64_t client_id) {
  auto si = sessions_.find(client_id);
  if (si == sessions_.end())
    return;
  waiting_ -= si->second.requests.size();
  sessions_.erase(si);
}

client_table_step client_table::on_tick() {
  client_table_step out;
  ++now_;
  for (auto i = sessions_.begin(); i != sessions_.end();) {
    auto& s = i->second;
    if (s.requests.empty() && s.unapplied.empty()
        && now_ - s.active_tick >= cfg_.session_idle_ticks)
      i = sessions_.erase(i);
    else
      ++i;
  }
  for (auto& [id, s] : sessions_) {
    bool read_expired = false;
    for (auto& r : s.requests) {
      if (r.answered || now_ < r.deadline)
        continue;
      read_expired = read_expired || r.seq == 0;
      r.answered = true;
      r.result = r.seq == 0
                   ? not_applied("read not served in time")
                   : command_result{result_kind::unknown,
                                    "outcome unknown: not confirmed in time; "
                                    "it may still take effect",
                                    0};
    }
    if (read_expired)
      release_writes(s, out);
    // Unapplied commands keep going out, timed-out ones included: their
    // successors cannot be applied before them.
    for (auto& [seq, p] : s.unapplied)
      if (!p.held && now_ >= p.resend_at) {
        p.behind = false;
        send(p, out);
      }
    fail_refused(s, out);
    release(id, s, out);
  }
  return out;
}

} // namespace paxoskv
