#include "protocol/proposer.hpp"

#include <algorithm>
#include <cassert>

namespace paxoskv {

std::string to_string(proposer_phase p) {
  switch (p) {
    case proposer_phase::follower:
      return "follower";
    case proposer_phase::backoff:
      return "backoff";
    case proposer_phase::preparing:
      return "preparing";
    case proposer_phase::leading:
      return "leading";
  }
  return "?";
}

proposer::proposer(proposer_config cfg, uint64_t restored_round)
  : cfg_(std::move(cfg)),
    round_(restored_round),
    seen_round_(restored_round),
    jitter_state_(cfg_.jitter_seed) {
  assert(cfg_.self != 0
         && (!cfg_.configs.empty() || !cfg_.acceptors.empty()));
  assert(cfg_.window_slots_max > 0 && cfg_.batch_commands_max > 0);
  assert(cfg_.retransmit_ticks > 0 && cfg_.backoff_ticks_max > 0);
  assert(cfg_.lease_ms == 0
         || (cfg_.lease_margin_ms < cfg_.lease_ms && cfg_.lease_renew_ms > 0
             && cfg_.lease_renew_ms < cfg_.lease_ms - cfg_.lease_margin_ms));
  configs_ = cfg_.configs.empty()
               ? bootstrap_history(configuration_from_lists(
                   cfg_.acceptors, cfg_.learners, {}, {}))
               : cfg_.configs;
  refresh_peers();
}

uint64_t proposer::next_jitter() {
  // splitmix64: small, seeded, deterministic.
  uint64_t z = (jitter_state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

proposer_step proposer::on_leader_change(const leader_change& m) {
  proposer_step out;
  leader_hint_ = m.leader;
  if (m.leader == cfg_.self) {
    if (phase_ == proposer_phase::follower)
      start_phase1(out);
  } else if (phase_ != proposer_phase::follower) {
    become_follower(out);
  }
  return out;
}

void proposer::start_phase1(proposer_step& out) {
  if (lost_data()) {
    out.notices.push_back(
      "node " + std::to_string(cfg_.self)
      + " is known to the cluster with another data directory (this one's "
        "incarnation is "
      + std::to_string(cfg_.incarnation)
      + "): its data was lost, so it does not lead; replace it (paxoskv-cli "
        "member replace)");
    if (phase_ != proposer_phase::follower)
      become_follower(out);
    return;
  }
  round_ = std::max(round_, seen_round_) + 1;
  marks_below_ = ~slot_t{0};
  seen_round_ = round_;
  ballot_ = ballot{round_, cfg_.self};
  out.mutable_write().round = round_;
  phase_ = proposer_phase::preparing;
  drop_reads();
  drop_in_flight(out);
  reported_.clear();
  for (auto& [id, p] : peers_) {
    if (p.retired)
      continue;
    p.prepare_from = first_unchosen_;
    p.prepare_done = false;
    p.prepare_tick = now_;
    // The round must be durable before its ballot is used.
    out.after_write.push_back({id, prepare{ballot_, first_unchosen_,
                                           cfg_.self, incarnation_of(id)}});
  }
}

void proposer::become_follower(proposer_step& out) {
  phase_ = proposer_phase::follower;
  drop_reads();
  drop_in_flight(out);
  reported_.clear();
  // Commands never proposed go to the new leader rather than being lost.
  for (auto& c : queue_)
    forward(c, out);
  queue_.clear();
  queue_bytes_ = 0;
  pending_ids_.clear();
}

void proposer::step_down(const ballot& newer, proposer_step& out) {
  seen_round_ = std::max(seen_round_, newer.round);
  if (phase_ != proposer_phase::preparing && phase_ != proposer_phase::leading)
    return;
  out.notices.push_back("step_down: ballot " + to_string(ballot_)
                    + " superseded by " + to_string(newer));
  phase_ = proposer_phase::backoff;
  drop_reads();
  backoff_until_ = now_ + 1 + next_jitter() % cfg_.backoff_ticks_max;
  drop_in_flight(out);
  reported_.clear();
}

void proposer::heard_from(node_id acceptor) {
  auto pi = peers_.find(acceptor);
  if (pi == peers_.end())
    return;
  pi->second.heard_tick = now_;
  pi->second.retry_interval = cfg_.retransmit_ticks;
}

bool proposer::may_retransmit(peer& p) {
  auto interval = std::max(p.retry_interval, cfg_.retransmit_ticks);
  if (p.retry_tick != 0 && now_ - p.retry_tick < interval)
    return false;
  // Silent since the previous retransmission: wait longer next time.
  if (p.retry_tick != 0 && p.heard_tick < p.retry_tick)
    interval = std::min<uint32_t>(
      std::max(cfg_.retransmit_backoff_max, cfg_.retransmit_ticks),
      2 * interval);
  p.retry_interval = interval;
  p.retry_tick = now_;
  return true;
}

proposer_step proposer::on_promise(const promise& m) {
  proposer_step out;
  if (!from_member(m.acceptor, m.incarnation, out))
    return out;
  heard_from(m.acceptor);
  auto pi = peers_.find(m.acceptor);
  if (phase_ != proposer_phase::preparing || m.b != ballot_
      || pi == peers_.end() || pi->second.prepare_done
      || m.from_slot != pi->second.prepare_from) {
    out.log.push_back("ignore_promise: stale or duplicate");
    return out;
  }
  assert(m.no_more_accepted || !m.entries.empty());
  note_acceptor_progress(m.acceptor, m.first_unchosen, &m.configs,
                         m.configs.epoch(), out);
  // Learning configurations may have restarted phase 1 or dropped this
  // acceptor: the report counts only if it still answers this round.
  pi = peers_.find(m.acceptor);
  if (phase_ != proposer_phase::preparing || pi == peers_.end()
      || pi->second.prepare_done || m.from_slot != pi->second.prepare_from)
    return out;
  auto& p = pi->second;
  std::vector<chosen_entry> learned;
  for (auto& e : m.entries) {
    assert(e.slot >= m.from_slot);
    if (e.slot < first_unchosen_)
      continue; // Chosen, as another acceptor reported.
    if (e.chosen) {
      record_chosen(e.slot, e.value, learned, out);
      continue;
    }
    auto& r = reported_[e.slot];
    if (r.accepted_ballot.is_zero() || e.accepted_ballot > r.accepted_ballot)
      r = e;
  }
  notify_learners(std::move(learned), out);
  if (phase_ != proposer_phase::preparing || peers_.count(m.acceptor) == 0)
    return out; // A configuration among the chosen values restarted it.
  if (!m.no_more_accepted) {
    // Slots below first_unchosen need no report (they are chosen).
    p.prepare_from = std::max(m.entries.back().slot + 1, first_unchosen_);
    p.prepare_tick = now_;
    out.send_now.push_back({m.acceptor,
                            prepare{ballot_, p.prepare_from, cfg_.self,
                                    incarnation_of(m.acceptor)}});
    return out;
  }
  p.prepare_done = true;
  if (quorum_of_all(prepared()))
    finish_phase1(out);
  return out;
}

void proposer::finish_phase1(proposer_step& out) {
  phase_ = proposer_phase::leading;
  slot_t end = first_unchosen_;
  if (!reported_.empty())
    end = std::max(end, reported_.rbegin()->first + 1);
  if (!chosen_.empty())
    end = std::max(end, chosen_.rbegin()->first + 1);
  // Every slot that may hold a chosen value is below `end`. Re-propose the
  // highest-ballot value reported for it; fill the gaps with NOPs. They
  // enter the window first, as it has room; client batches go above `end`.
  for (slot_t s = first_unchosen_; s < end; ++s) {
    if (chosen_.count(s) > 0)
      continue;
    auto r = reported_.find(s);
    reproposals_[s] = r != reported_.end() ? r->second.value : nop_value();
  }
  reported_.clear();
  next_slot_ = end;
  fill_window(out);
}

proposer_step proposer::on_nack(const nack& m) {
  proposer_step out;
  if (!from_member(m.acceptor, m.incarnation, out))
    return out;
  heard_from(m.acceptor);
  seen_round_ = std::max(seen_round_, m.promised.round);
  if (m.b == ballot_ && m.promised > ballot_)
    step_down(m.promised, out);
  return out;
}

proposer_step proposer::on_accepted(const accepted& m) {
  proposer_step out;
  if (!from_member(m.acceptor, m.incarnation, out))
    return out;
  heard_from(m.acceptor);
  if (m.promised > ballot_) {
    step_down(m.promised, out);
    return out;
  }
  note_acceptor_progress(m.acceptor, m.first_unchosen, nullptr,
                         m.config_epoch, out);
  if (phase_ != proposer_phase::leading || m.b != ballot_)
    return out;
  auto it = in_flight_.find(m.slot);
  if (it == in_flight_.end() || !is_acceptor(m.acceptor))
    return out; // Already chosen, or a duplicate.
  it->second.acks.insert(m.acceptor);
  if (!configs_.at(m.slot).is_quorum(it->second.acks))
    return out;
  std::vector<chosen_entry> learned;
  for (auto& c : it->second.value.commands)
    pending_ids_.erase({c.client_id, c.sequence});
  auto value = std::move(it->second.value);
  in_flight_.erase(it);
  record_chosen(m.slot, std::move(value), learned, out);
  notify_learners(std::move(learned), out);
  fill_window(out);
  return out;
}

proposer_step proposer::on_success_ack(const success_ack& m) {
  proposer_step out;
  if (!from_member(m.acceptor, m.incarnation, out))
    return out;
  heard_from(m.acceptor);
  if (m.promised > ballot_) {
    step_down(m.promised, out);
    return out;
  }
  // Keep sending success until the acceptor has caught up, but only on an
  // answer that shows progress: a duplicated answer must not fork a second
  // chain of successes (duplicates would then grow without bound).
  bool progressed = note_acceptor_progress(m.acceptor, m.first_unchosen,
                                           &m.configs, m.configs.epoch(), out);
  auto pi = peers_.find(m.acceptor);
  if (progressed && phase_ == proposer_phase::leading && pi != peers_.end()
      && !pi->second.retired && pi->second.first_unchosen < first_unchosen_)
    send_success(m.acceptor, out);
  return out;
}

proposer_step proposer::on_tick(clock_ms now) {
  proposer_step out;
  ++now_;
  switch (phase_) {
    case proposer_phase::follower:
      break;
    case proposer_phase::backoff:
      if (now_ >= backoff_until_) {
        if (leader_hint_ == cfg_.self)
          start_phase1(out);
        else
          become_follower(out);
      }
      break;
    case proposer_phase::preparing:
      // The round of this ballot may still wait in an open group commit:
      // a retransmitted prepare leaves only after it, like the first one.
      // (A continuation prepare answers a promise, which already proves
      // the round durable.)
      for (auto& [id, p] : peers_)
        if (!p.retired && !p.prepare_done
            && now_ - p.prepare_tick >= cfg_.retransmit_ticks
            && may_retransmit(p)) {
          p.prepare_tick = now_;
          out.after_write.push_back({id, prepare{ballot_, p.prepare_from,
                                                 cfg_.self,
                                                 incarnation_of(id)}});
        }
      break;
    case proposer_phase::leading:
      retransmit(out);
      maybe_seal(out);
      maybe_promote(out);
      if (round_open_) {
        if (now_ - round_tick_ >= cfg_.retransmit_ticks)
          resend_read_round(out);
      } else if (cfg_.lease_ms > 0
                 && now - last_round_ms_ >= cfg_.lease_renew_ms) {
        start_read_round(now, out);
      }
      break;
  }
  return out;
}

void proposer::drop_in_flight(proposer_step& out) {
  if (change_)
    answer_change(change_->proposed
                    ? "outcome unknown: the leadership changed while the "
                      "change was being chosen; see the member list"
                    : "not applied: the leadership changed; try again",
                  out);
  reproposals_.clear();
  for (auto& [slot, prop] : in_flight_)
    for (auto& c : prop.value.commands)
      pending_ids_.erase({c.client_id, c.sequence});
  in_flight_.clear();
}

void proposer::retransmit(proposer_step& out) {
  // What each acceptor is owed: accepts it has not acknowledged for a
  // while, and (when its first_unchosen is behind and has not moved for a
  // while) the chosen values it misses, or a keepalive. Under steady load
  // accepts carry first_unchosen and no success is needed.
  auto stale = [&](const proposal& prop) {
    return now_ - prop.sent_tick >= cfg_.retransmit_ticks;
  };
  auto wants_success = [&](const peer& p) {
    bool lagging = p.first_unchosen < first_unchosen_
                   && now_ - p.progress_tick >= cfg_.retransmit_ticks
                   && now_ - p.success_tick >= cfg_.retransmit_ticks;
    return lagging || now_ - p.sent_tick >= cfg_.keepalive_ticks;
  };
  // Who gets them this tick, decided once per acceptor: one that stays
  // silent ever less often (a dead one costs little), one that answers at
  // the normal rate. Everything it is owed goes together, so that one kind
  // of retransmission never starves another.
  std::set<node_id> due;
  for (auto& [id, p] : peers_) {
    if (p.retired)
      continue;
    bool owed = wants_success(p);
    for (auto i = in_flight_.begin(); !owed && i != in_flight_.end(); ++i)
      owed = stale(i->second) && i->second.acks.count(id) == 0
             && configs_.at(i->first).is_voter(id);
    if (owed && may_retransmit(p))
      due.insert(id);
  }
  for (auto& [slot, prop] : in_flight_) {
    if (!stale(prop))
      continue;
    bool all = true;
    auto& config = configs_.at(slot);
    for (auto& [id, p] : peers_) {
      if (prop.acks.count(id) > 0 || !config.is_voter(id))
        continue;
      if (due.count(id) > 0)
        send_accept(id, slot, prop.value, out);
      else
        all = false;
    }
    // Stale until every acceptor that did not acknowledge it got it again.
    if (all)
      prop.sent_tick = now_;
  }
  for (auto& [id, p] : peers_)
    if (due.count(id) > 0 && wants_success(p))
      send_success(id, out);
}

uint64_t proposer::stamp() {
  if (cfg_.wall_clock)
    last_stamp_ = std::max(last_stamp_, cfg_.wall_clock());
  return last_stamp_;
}

void proposer::propose(slot_t slot, log_value value, proposer_step& out) {
  assert(phase_ == proposer_phase::leading);
  assert(chosen_.count(slot) == 0 && in_flight_.count(slot) == 0);
  auto& prop = in_flight_[slot];
  prop.value = std::move(value);
  prop.sent_tick = now_;
  // Only the voters of the configuration governing the slot.
  for (auto id : configs_.at(slot).voters())
    if (peers_.count(id) > 0)
      send_accept(id, slot, prop.value, out);
}

void proposer::send_accept(node_id acceptor, slot_t slot,
                           const log_value& value, proposer_step& out) {
  peers_.at(acceptor).sent_tick = now_;
  out.send_now.push_back(
    {acceptor, accept{ballot_, slot, value,
                      std::min(first_unchosen_, marks_below_), cfg_.self,
                      incarnation_of(acceptor)}});
}

void proposer::record_chosen(slot_t slot, log_value value,
                             std::vector<chosen_entry>& learned,
                             proposer_step& out) {
  if (slot < first_unchosen_ && chosen_.count(slot) == 0)
    return; // Known chosen, and its value no longer kept.
  auto i = chosen_.find(slot);
  if (i != chosen_.end()) {
    assert(i->second == value);
    return;
  }
  // The change is answered once first_unchosen passes its slot (a
  // configuration takes effect only if it follows the one before it).
  if (change_ && change_->proposed && change_->slot == slot
      && !(value.is_config() && value.config == change_->next))
    answer_change("not applied: another value took its slot", out);
  last_stamp_ = std::max(last_stamp_, value.time_ms);
  learned.push_back({slot, value});
  chosen_bytes_ += value.size_bytes();
  chosen_.emplace(slot, std::move(value));
  advance_first_unchosen(out);
  prune_chosen();
}

void proposer::advance_first_unchosen(proposer_step& out) {
  auto epoch = configs_.epoch();
  for (auto i = chosen_.find(first_unchosen_); i != chosen_.end();
       i = chosen_.find(++first_unchosen_)) {
    if (i->second.is_config())
      configs_.on_chosen(i->first, i->second.config);
    if (change_ && change_->proposed && change_->slot == i->first)
      settle_change(out);
  }
  configs_.trim(first_unchosen_);
  if (configs_.epoch() != epoch)
    configs_changed(out);
}

void proposer::prune_chosen() {
  // Every acceptor knows these chosen: none will ask for them.
  std::vector<slot_t> known;
  for (auto& [id, p] : peers_)
    if (!p.retired)
      known.push_back(p.first_unchosen);
  std::sort(known.begin(), known.end(), std::greater<slot_t>());
  slot_t all_know = std::min(first_unchosen_, known.back());
  // A majority holds these as chosen values: beyond the bounds they are
  // dropped here, and relayed from one of those acceptors when needed.
  slot_t majority_holds = std::min(first_unchosen_,
                                   known[majority_of(known.size()) - 1]);
  auto drop = [&](slot_t s) {
    return s < all_know
           || ((chosen_.size() > cfg_.chosen_kept_max
                || chosen_bytes_ > cfg_.chosen_kept_bytes_max)
               && s < majority_holds);
  };
  // Never at or above first_unchosen: a chosen value there must stay, or
  // phase 1 would fill its slot with a NOP.
  while (!chosen_.empty() && drop(chosen_.begin()->first)) {
    chosen_bytes_ -= chosen_.begin()->second.size_bytes();
    chosen_.erase(chosen_.begin());
  }
}

void proposer::adopt_first_unchosen(slot_t fu, proposer_step& out) {
  if (fu <= first_unchosen_)
    return;
  out.log.push_back("first_unchosen: " + std::to_string(first_unchosen_)
                    + " -> " + std::to_string(fu) + " (an acceptor knows it)");
  first_unchosen_ = fu;
  advance_first_unchosen(out);
  // What this leader proposed below it is decided, one way or the other:
  // its commands may come again, and are told apart as duplicates if they
  // were applied.
  for (auto i = in_flight_.begin();
       i != in_flight_.end() && i->first < first_unchosen_;) {
    // Decided, but not seen decided here: acceptors may hold this ballot's
    // value at the slot while another was chosen, so accepts no longer
    // say that what this ballot left below first_unchosen is chosen.
    marks_below_ = std::min(marks_below_, i->first);
    for (auto& c : i->second.value.commands)
      pending_ids_.erase({c.client_id, c.sequence});
    i = in_flight_.erase(i);
  }
  reproposals_.erase(reproposals_.begin(),
                     reproposals_.lower_bound(first_unchosen_));
  if (change_ && change_->proposed && change_->slot < first_unchosen_)
    settle_change(out);
  next_slot_ = std::max(next_slot_, first_unchosen_);
  prune_chosen();
  if (phase_ == proposer_phase::leading)
    fill_window(out);
}

void proposer::notify_learners(std::vector<chosen_entry> entries,
                               proposer_step& out) {
  if (entries.empty())
    return;
  for (auto l : learners())
    out.send_now.push_back({l, chosen{entries}});
}

bool proposer::note_acceptor_progress(node_id acceptor, slot_t first_unchosen,
                                      const config_history* configs,
                                      uint64_t epoch, proposer_step& out) {
  auto pi = peers_.find(acceptor);
  if (pi == peers_.end())
    return false;
  bool progressed = first_unchosen > pi->second.first_unchosen;
  if (progressed) {
    pi->second.first_unchosen = first_unchosen;
    pi->second.progress_tick = now_;
  }
  // Even a report heard before (and not adopted then, for want of the
  // configurations): a promise's entries start at the acceptor's
  // first_unchosen, so phase 1 must move past the slots it skips.
  if (first_unchosen > first_unchosen_) {
    if (configs != nullptr && !configs->empty()
        && configs->epoch() > configs_.epoch()) {
      // The acceptor's H(first_unchosen) is what governs from there on.
      configs_ = *configs;
      adopt_first_unchosen(first_unchosen, out);
      configs_changed(out);
    } else if (epoch <= configs_.epoch()) {
      // No configuration was chosen between the two points (it would have
      // a newer epoch): what governs from here governs from there.
      adopt_first_unchosen(first_unchosen, out);
    } else {
      out.log.push_back("first_unchosen " + std::to_string(first_unchosen)
                        + " of acceptor " + std::to_string(acceptor)
                        + " not adopted: configuration epoch "
                        + std::to_string(epoch) + " unknown here");
    }
  }
  prune_chosen();
  return progressed;
}

void proposer::send_success(node_id acceptor, proposer_step& out) {
  auto& p = peers_.at(acceptor);
  p.success_tick = now_;
  p.sent_tick = now_;
  success msg;
  msg.proposer = cfg_.self;
  slot_t from = p.first_unchosen;
  if (from < first_unchosen_ && chosen_.count(from) == 0) {
    // The value is not kept here: an acceptor that holds it chosen sends
    // it instead (the one furthest ahead, turning among equals).
    node_id best = 0;
    slot_t best_fu = from;
    for (size_t n = 0; n < peers_.size(); ++n) {
      auto it = std::next(peers_.begin(),
                          static_cast<long>((relay_cursor_ + n)
                                            % peers_.size()));
      if (it->first != acceptor && it->second.first_unchosen > best_fu) {
        best = it->first;
        best_fu = it->second.first_unchosen;
      }
    }
    ++relay_cursor_;
    if (best == 0)
      out.log.push_back("success to acceptor " + std::to_string(acceptor)
                        + ": slot " + std::to_string(from)
                        + " is not kept here and no acceptor is known to "
                          "hold it chosen (kept: "
                        + (chosen_.empty() ? std::string("none")
                                           : std::to_string(chosen_.begin()->first)
                                               + ".." + std::to_string(chosen_.rbegin()->first))
                        + ", first_unchosen " + std::to_string(first_unchosen_) + ")");
    if (best != 0)
      out.send_now.push_back(
        {best, success_relay{acceptor, from,
                             static_cast<uint32_t>(cfg_.success_entries_max),
                             cfg_.self}});
    return;
  }
  for (auto i = chosen_.find(from);
       i != chosen_.end() && i->first == from && from < first_unchosen_
       && msg.entries.size() < cfg_.success_entries_max;
       ++i, ++from)
    msg.entries.push_back({i->first, i->second});
  out.send_now.push_back({acceptor, std::move(msg)});
}

} // namespace paxoskv
