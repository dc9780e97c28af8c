#include "protocol/learner.hpp"

#include "protocol/kv_machine.hpp"
#include "protocol/snapshot_format.hpp"

#include <algorithm>
#include <cassert>
#include <climits>
#include <cstdint>

namespace paxoskv {

learner::learner(learner_config cfg)
  : learner(cfg, std::make_unique<kv_machine>(kv_machine_config{
                   cfg.replies_per_client_max})) {}

learner::learner(learner_config cfg, std::unique_ptr<state_machine> sm)
  : cfg_(std::move(cfg)),
    next_slot_(sm->applied()),
    durable_(next_slot_),
    known_end_(next_slot_),
    unserved_slot_(next_slot_),
    sm_(std::move(sm)),
    read_request_id_(cfg_.read_id_base) {
  assert(cfg_.self != 0 && cfg_.poll_ticks > 0);
  assert(cfg_.buffer_slots_max > 0 && cfg_.replies_per_client_max > 0);
  load_configs();
}

void learner::load_configs() {
  configs_ = {};
  if (!sm_->membership().empty())
    if (auto h = decode_history(sm_->membership()))
      configs_ = std::move(*h);
  if (configs_.empty())
    configs_ = cfg_.configs.empty()
                 ? bootstrap_history(configuration_from_lists(
                     cfg_.acceptors, {cfg_.self}, {}, {}))
                 : cfg_.configs;
  configs_.trim(next_slot_);
  refresh_acceptors();
}

void learner::refresh_acceptors() {
  // Every acceptor of those configurations, not only the voters: a voter
  // of the next slot may have been removed since and lag for good, while
  // members that vote again later hold the values.
  std::set<node_id> acceptors;
  for (auto* c : configs_.governing(next_slot_, ~slot_t{0}))
    for (auto& m : c->members)
      if (m.has(role_acceptor))
        acceptors.insert(m.id);
  acceptors_.assign(acceptors.begin(), acceptors.end());
}

node_id learner::next_acceptor() {
  if (acceptors_.empty())
    return 0;
  return acceptors_[poll_index_++ % acceptors_.size()];
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
    ask_elsewhere(m, out);
  return out;
}

void learner::ask_elsewhere(const chosen& m, learner_step& out) {
  // That acceptor does not hold the next slot: the next one is asked at
  // once, each at most once per slot, so acceptors that all lack it cannot
  // keep the learner asking in a loop.
  known_end_ = std::max(known_end_, m.serves_from);
  if (unserved_slot_ != next_slot_) {
    unserved_slot_ = next_slot_;
    unserved_by_.clear();
    unserved_source_ = 0;
    unserved_since_ = now_;
  }
  unserved_by_.insert(m.acceptor);
  if (m.snapshot_source != 0) {
    unserved_source_ = m.snapshot_source;
    unserved_log_start_ = m.serves_from;
  }
  if (configs_.at(next_slot_).is_quorum(unserved_by_)
      && take_snapshot(out))
    return;
  for (size_t n = 0; n < acceptors_.size(); ++n) {
    auto target = next_acceptor();
    if (unserved_by_.count(target) == 0) {
      out.send_now.push_back(
        {target, learn_request{cfg_.self, next_slot_, durable_}});
      return;
    }
  }
}

bool learner::take_snapshot(learner_step& out) {
  if (transfer_ || unserved_source_ == 0 || unserved_slot_ != next_slot_)
    return false;
  // A majority of the voters compacted past what this learner applied, or
  // the slot stayed unserved for long (the voters that did not compact
  // lag and will not get it): the log alone can no longer bring it up to
  // date. A learner whose durable state reaches the log start gives it a
  // snapshot.
  transfer_ = snapshot_transfer{unserved_source_, 0, 0, 0, 0};
  out.notices.push_back(
    "snapshot needed: slot " + std::to_string(next_slot_)
    + " was compacted away (a log starts at "
    + std::to_string(unserved_log_start_) + "); taking one from learner "
    + std::to_string(unserved_source_));
  request_chunk(out);
  return true;
}

void learner::request_chunk(learner_step& out) {
  auto& t = *transfer_;
  if (!chunk_requested_)
    chunk_resends_ = 0;
  chunk_requested_ = true;
  chunk_tick_ = now_;
  out.send_now.push_back(
    {t.source, snapshot_request{cfg_.self, t.snapshot, t.received,
                                cfg_.snapshot_chunk_bytes}});
}

learner_step learner::resume_snapshot(const snapshot_transfer& t) {
  learner_step out;
  if (t.snapshot <= next_slot_)
    return out; // Installed already, or of no use.
  transfer_ = t;
  chunk_requested_ = chunk_storing_ = installing_ = false;
  next_chunk_tick_ = 0;
  out.notices.push_back("resuming the snapshot transfer from learner "
                        + std::to_string(t.source) + " at byte "
                        + std::to_string(t.received) + " of "
                        + std::to_string(t.total));
  if (t.total > 0 && t.received == t.total) {
    installing_ = true;
    out.install_snapshot = true;
  } else {
    request_chunk(out);
  }
  return out;
}

learner_step learner::on_snapshot_chunk(const snapshot_chunk& m) {
  learner_step out;
  if (!transfer_ || m.source != transfer_->source || chunk_storing_
      || installing_)
    return out; // Not asked for, or a duplicate.
  auto& t = *transfer_;
  if (!m.error.empty()) {
    out.notices.push_back("snapshot from learner "
                          + std::to_string(m.source)
                          + " not available: " + m.error);
    transfer_.reset();
    chunk_requested_ = false;
    return out; // The next compacted answer names a source again.
  }
  if (m.snapshot != t.snapshot) {
    // The source serves another snapshot than the one asked for (it had
    // none yet, or restarted and made a newer one): start that one over.
    if (m.offset != 0)
      return out;
    t = snapshot_transfer{t.source, m.snapshot, m.total, m.checksum, 0};
  }
  if (m.offset != t.received || m.total != t.total || m.checksum != t.checksum
      || m.data.empty() || m.offset + m.data.size() > t.total
      || snapshot::fnv1a(m.data) != m.data_checksum)
    return out; // Stale, duplicated or damaged: asked for again.
  if (t.snapshot <= next_slot_) {
    out.notices.push_back("snapshot at slot " + std::to_string(t.snapshot)
                          + " is not ahead of this learner; dropped");
    transfer_.reset();
    chunk_requested_ = false;
    return out;
  }
  chunk_requested_ = false;
  chunk_storing_ = true;
  out.store_chunks.push_back(m);
  return out;
}

learner_step learner::on_chunk_stored(slot_t snapshot, uint64_t end,
                                      bool ok) {
  learner_step out;
  if (!transfer_ || !chunk_storing_ || transfer_->snapshot != snapshot)
    return out;
  chunk_storing_ = false;
  auto& t = *transfer_;
  if (!ok)
    return out; // Asked for again at the next tick.
  auto len = end - t.received;
  t.received = end;
  if (t.received == t.total) {
    if (t.snapshot <= next_slot_) {
      // The log brought this learner that far meanwhile: installing would
      // take its state back in time.
      out.notices.push_back("snapshot at slot " + std::to_string(t.snapshot)
                            + " is no longer ahead of this learner; dropped");
      transfer_.reset();
      return out;
    }
    installing_ = true;
    out.install_snapshot = true;
    return out;
  }
  // Pace: the next chunk once this one's share of the rate has passed.
  next_chunk_tick_
    = now_ + len / std::max<uint64_t>(1, cfg_.snapshot_bytes_per_tick);
  if (now_ >= next_chunk_tick_)
    request_chunk(out);
  return out;
}

learner_step learner::on_snapshot_installed(std::unique_ptr<state_machine> sm,
                                            const std::string& error) {
  learner_step out;
  if (!transfer_ || !installing_)
    return out;
  installing_ = false;
  auto t = *transfer_;
  transfer_.reset();
  if (!sm) {
    out.notices.push_back("snapshot at slot " + std::to_string(t.snapshot)
                          + " not installed: " + error
                          + "; a new transfer follows");
    return out;
  }
  out.notices.push_back("snapshot installed: slots below "
                        + std::to_string(sm->applied()) + ", "
                        + std::to_string(t.total) + " bytes from learner "
                        + std::to_string(t.source));
  sm_ = std::move(sm);
  next_slot_ = sm_->applied();
  load_configs();
  durable_ = std::max(durable_, next_slot_);
  known_end_ = std::max(known_end_, next_slot_);
  buffer_.erase(buffer_.begin(), buffer_.lower_bound(next_slot_));
  apply_ready(out);
  catch_up(out);
  return out;
}

void learner::catch_up(learner_step& out) {
  if (acceptors_.empty())
    return;
  // The acceptor asked last, again (it just answered).
  auto target = acceptors_[(poll_index_ + acceptors_.size() - 1)
                           % acceptors_.size()];
  out.send_now.push_back({target, learn_request{cfg_.self, next_slot_, durable_}});
}

learner_step learner::on_read(const command& c, read_level level) {
  assert(is_read_only(c) && level != read_level::log);
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
  if (cfg_.wall_clock && reads_indexed_.begin() != end)
    sm_->observe_clock(cfg_.wall_clock());
  for (auto i = reads_indexed_.begin(); i != end; ++i) {
    auto& c = i->second.cmd;
    // The slot is the state it was served from: every slot below it.
    out.outcomes.push_back(
      {next_slot_, c.client_id, c.sequence, sm_->read(c), false, true});
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

learner_step learner::on_snapshot_request(const snapshot_request& m) {
  learner_step out;
  out.serve.push_back(m);
  return out;
}

learner_step learner::on_tick() {
  learner_step out;
  ++now_;
  if (transfer_ && !chunk_storing_ && !installing_) {
    if (!chunk_requested_) {
      if (now_ >= next_chunk_tick_)
        request_chunk(out);
    } else if (now_ - chunk_tick_ >= cfg_.read_resend_ticks) {
      if (++chunk_resends_ > snapshot_resends_max) {
        // The source is gone for long: another one is named by the next
        // acceptor that says the log was compacted (what was stored stays
        // and is resumed if that source serves the same snapshot).
        out.notices.push_back("snapshot source learner "
                              + std::to_string(transfer_->source)
                              + " does not answer; looking for another");
        transfer_.reset();
        chunk_requested_ = false;
        unserved_by_.clear();
      } else {
        request_chunk(out);
      }
    }
  }
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
  if (unserved_slot_ == next_slot_
      && now_ - unserved_since_ >= snapshot_wait_polls * cfg_.poll_ticks
      && take_snapshot(out))
    return out;
  if (now_ % cfg_.poll_ticks != 0)
    return out;
  report_progress(out);
  if (acceptors_.empty())
    return out;
  auto target = next_acceptor();
  out.send_now.push_back({target, learn_request{cfg_.self, next_slot_, durable_}});
  return out;
}

void learner::report_progress(learner_step& out) const {
  if (configs_.empty())
    return;
  auto& c = configs_.latest().config;
  auto* me = c.find(cfg_.self);
  if (me == nullptr || me->voter || !me->promote)
    return;
  for (auto& m : c.members)
    if (m.voter && m.has(role_proposer))
      out.send_now.push_back({m.id, learner_progress{cfg_.self, next_slot_}});
}

void learner::apply_ready(learner_step& out) {
  if (installing_)
    return; // The state is about to be replaced.
  for (auto i = buffer_.begin();
       i != buffer_.end() && i->first == next_slot_;
       i = buffer_.erase(i)) {
    sm_->begin_slot(i->first, i->second.time_ms);
    auto need = out.outcomes.size() + i->second.commands.size();
    if (need > out.outcomes.capacity())
      out.outcomes.reserve(std::max(need, 2 * out.outcomes.capacity()));
    for (auto& c : i->second.commands)
      apply_command(i->first, c, out);
    bool config = i->second.is_config();
    if (config) {
      if (configs_.on_chosen(i->first, i->second.config)) {
        out.notices.push_back("configuration " + to_string(i->second.config)
                              + ", chosen at slot " + std::to_string(i->first));
        sm_->set_membership(encode_history(configs_));
      } else {
        out.notices.push_back("configuration epoch "
                              + std::to_string(i->second.config.epoch)
                              + " at slot " + std::to_string(i->first)
                              + " does not follow epoch "
                              + std::to_string(configs_.epoch()));
      }
    }
    sm_->end_slot(i->first);
    out.applied.push_back({i->first, std::move(i->second)});
    ++next_slot_;
    if (configs_.entries.size() > 1
        && configs_.entries[1].effective <= next_slot_) {
      configs_.trim(next_slot_);
      refresh_acceptors();
    } else if (config) {
      refresh_acceptors();
    }
  }
  if (auto w = sm_->take_changes()) {
    if (out.state)
      out.state->merge(std::move(*w));
    else
      out.state = std::move(w);
  }
  serve_reads(out);
}

void learner::apply_command(slot_t slot, const command& c,
                            learner_step& out) {
  auto r = sm_->apply(slot, c);
  command_outcome o{slot, c.client_id, c.sequence, std::move(r.result),
                    r.duplicate};
  o.out_of_order = r.out_of_order;
  out.outcomes.push_back(std::move(o));
}

std::optional<command_result> learner::saved_reply(uint64_t client_id,
                                                   uint64_t sequence) const {
  return sm_->saved_reply(client_id, sequence);
}

uint64_t learner::applied_upto(uint64_t client_id) const {
  return sm_->applied_upto(client_id);
}

} // namespace paxoskv
