#include "protocol/acceptor.hpp"

#include <algorithm>
#include <cassert>

namespace paxoskv {

void acceptor_write::merge(acceptor_write&& later) {
  if (later.promised)
    promised = later.promised;
  for (auto& e : later.entries)
    entries.emplace_back(std::move(e));
  for (auto s : later.chosen_marks)
    chosen_marks.push_back(s);
  if (later.log_start && (!log_start || *later.log_start > *log_start))
    log_start = later.log_start;
  if (later.configs)
    configs = std::move(later.configs);
}

void acceptor_state::apply(const acceptor_write& w) {
  if (w.promised) {
    assert(*w.promised >= promised);
    promised = *w.promised;
  }
  for (auto& e : w.entries)
    entries[e.slot] = e;
  for (auto s : w.chosen_marks) {
    auto i = entries.find(s);
    if (i != entries.end())
      i->second.chosen = true;
  }
  if (w.log_start && *w.log_start > log_start) {
    log_start = *w.log_start;
    entries.erase(entries.begin(), entries.lower_bound(log_start));
  }
  if (w.configs)
    configs = *w.configs;
}

acceptor::acceptor(acceptor_config cfg, acceptor_state restored)
  : cfg_(cfg), state_(std::move(restored)) {
  assert(cfg_.self != 0);
  assert(cfg_.promise_entries_max > 0 && cfg_.learn_entries_max > 0);
  configs_ = state_.configs.empty() ? cfg_.configs : state_.configs;
  for (auto& [slot, e] : state_.entries)
    bytes_held_ += e.value.size_bytes();
  first_unchosen_ = state_.log_start;
  advance_first_unchosen();
}

bool acceptor::is_learner(node_id learner) const {
  if (configs_.empty())
    return false;
  auto ls = configs_.latest().config.with_role(role_learner);
  return std::find(ls.begin(), ls.end(), learner) != ls.end();
}

bool acceptor::not_this_member(uint64_t expected) const {
  if (cfg_.incarnation == 0)
    return false; // Unknown (tests without data directories).
  return expected != 0 ? expected != cfg_.incarnation : !cfg_.bootstrapped;
}

acceptor_step acceptor::stamped(acceptor_step step) const {
  auto stamp = [&](envelope& e) {
    std::visit(
      [&](auto& m) {
        using type = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<type, promise>
                      || std::is_same_v<type, accepted>
                      || std::is_same_v<type, nack>
                      || std::is_same_v<type, success_ack>
                      || std::is_same_v<type, read_probe_ack>)
          m.incarnation = cfg_.incarnation;
      },
      e.msg);
  };
  for (auto& e : step.send_now)
    stamp(e);
  for (auto& e : step.after_write)
    stamp(e);
  return step;
}

void acceptor::raise_promise(const ballot& b, acceptor_write& w) {
  if (b > state_.promised) {
    state_.promised = b;
    w.promised = b;
  }
}

void acceptor::store(accepted_entry e, acceptor_write& w) {
  w.entries.push_back(e);
  bytes_held_ += e.value.size_bytes();
  auto [i, fresh] = state_.entries.try_emplace(e.slot);
  if (!fresh)
    bytes_held_ -= i->second.value.size_bytes();
  i->second = std::move(e);
}

void acceptor::truncate_below(slot_t start, acceptor_write& w) {
  assert(start <= first_unchosen_);
  if (start <= state_.log_start)
    return;
  state_.log_start = start;
  auto end = state_.entries.lower_bound(start);
  for (auto i = state_.entries.begin(); i != end; ++i)
    bytes_held_ -= i->second.value.size_bytes();
  state_.entries.erase(state_.entries.begin(), end);
  w.log_start = start;
  // H(start) is stored with it; the configurations of the chosen entries
  // kept are taken in again after a restart.
  configs_.trim(start);
  state_.configs = configs_;
  w.configs = configs_;
}

config_history acceptor::configs() const {
  auto h = configs_;
  h.trim(first_unchosen_);
  return h;
}

void acceptor::advance_first_unchosen() {
  for (;;) {
    auto i = state_.entries.find(first_unchosen_);
    if (i == state_.entries.end() || !i->second.chosen)
      break;
    if (i->second.value.is_config())
      configs_.on_chosen(first_unchosen_, i->second.value.config);
    ++first_unchosen_;
  }
}

std::string acceptor::lease_refusal(const prepare& m, clock_ms now) const {
  if (cfg_.lease_ms == 0)
    return {};
  if (now < lease_until_ && m.b > lease_ballot_
      && m.b.node != lease_ballot_.node)
    return "ballot " + to_string(lease_ballot_) + " holds a lease for "
           + std::to_string(lease_until_ - now) + " ms more";
  // A lease granted before a restart is forgotten: wait it out.
  if (now < cfg_.started_ms + cfg_.lease_ms && m.b > state_.promised)
    return "a lease granted before the restart may run for "
           + std::to_string(cfg_.started_ms + cfg_.lease_ms - now)
           + " ms more";
  return {};
}

acceptor_step acceptor::on_read_probe(const read_probe& m, clock_ms now) {
  acceptor_step out;
  if (not_this_member(m.incarnation)) {
    // No answer: this directory is not the member the sender addresses.
    out.log.push_back("ignore_read_probe: the sender addresses node "
                      + std::to_string(cfg_.self)
                      + " as another data directory");
    return out;
  }
  // A running lease of a newer ballot is not replaced by an older one; a
  // lease longer than this acceptor honours is not granted at all.
  bool granted = m.lease_ms > 0 && m.lease_ms <= cfg_.lease_ms
                 && m.b >= state_.promised
                 && (m.b >= lease_ballot_ || now >= lease_until_);
  if (granted) {
    lease_ballot_ = m.b;
    lease_until_ = now + m.lease_ms;
  }
  out.send_now.push_back({m.proposer, read_probe_ack{m.b, m.probe,
                                                     state_.promised,
                                                     cfg_.self, granted}});
  return stamped(std::move(out));
}

acceptor_step acceptor::on_prepare(const prepare& m, clock_ms now) {
  acceptor_step out;
  if (not_this_member(m.incarnation)) {
    // No answer: this directory is not the member the sender addresses.
    out.log.push_back("ignore_prepare: the sender addresses node "
                      + std::to_string(cfg_.self)
                      + " as another data directory");
    return out;
  }
  if (auto why = lease_refusal(m, now); !why.empty()) {
    // No answer: the proposer retransmits until the lease ran out.
    out.log.push_back("ignore_prepare: " + to_string(m.b) + " waits; " + why);
    return stamped(std::move(out));
  }
  if (m.b < state_.promised) {
    out.log.push_back("ignore_prepare: ballot " + to_string(m.b)
                      + " below promise " + to_string(state_.promised));
    out.send_now.push_back({m.proposer, nack{m.b, state_.promised, cfg_.self}});
    return stamped(std::move(out));
  }
  raise_promise(m.b, out.mutable_write());
  promise reply;
  reply.b = m.b;
  reply.acceptor = cfg_.self;
  reply.from_slot = m.from_slot;
  reply.first_unchosen = first_unchosen_;
  reply.configs = configs();
  // Slots below first_unchosen are chosen: a new leader has nothing to
  // re-propose there, so the report starts at the first slot that may need
  // it. Phase 1 then costs the same after a million slots as after ten.
  auto i = state_.entries.lower_bound(std::max(m.from_slot, first_unchosen_));
  for (; i != state_.entries.end()
         && reply.entries.size() < cfg_.promise_entries_max;
       ++i)
    reply.entries.push_back(i->second);
  reply.no_more_accepted = i == state_.entries.end();
  assert(reply.no_more_accepted || !reply.entries.empty());
  // Even an unchanged promise is answered after the write queue drains:
  // the promise it repeats may still be waiting for its commit.
  out.after_write.push_back({m.proposer, std::move(reply)});
  if (out.write->empty())
    out.write.reset();
  return stamped(std::move(out));
}

acceptor_step acceptor::on_accept(const accept& m) {
  acceptor_step out;
  if (not_this_member(m.incarnation)) {
    // No answer: this directory is not the member the sender addresses.
    out.log.push_back("ignore_accept: the sender addresses node "
                      + std::to_string(cfg_.self)
                      + " as another data directory");
    return out;
  }
  if (m.b < state_.promised) {
    out.log.push_back("ignore_accept: ballot " + to_string(m.b)
                      + " below promise " + to_string(state_.promised));
    out.send_now.push_back({m.proposer, accepted{m.b, m.slot, state_.promised,
                                                 first_unchosen_, cfg_.self,
                                                 configs_.epoch()}});
    return stamped(std::move(out));
  }
  auto i = state_.entries.find(m.slot);
  bool known_chosen = i != state_.entries.end() && i->second.chosen;
  if (m.slot < first_unchosen_ && !known_chosen) {
    // Chosen, and the value is not held here (below the log start): it
    // cannot be compared, and nothing is stored. Telling the leader how far the log is chosen lets
    // it move past the slot.
    out.log.push_back("ignore_accept: slot " + std::to_string(m.slot)
                      + " is chosen and its value not held here");
    out.send_now.push_back({m.proposer, success_ack{cfg_.self,
                                                    first_unchosen_,
                                                    state_.promised,
                                                    configs()}});
    return stamped(std::move(out));
  }
  if (known_chosen && i->second.value != m.value) {
    // A leader that missed a newer leadership (it was cut off, and this
    // acceptor learned the slot through `success` without promising the
    // newer ballot) proposes into a chosen slot. Never acknowledge another
    // value there; tell it how far the log is chosen instead. The majority
    // that chose the slot promised a newer ballot and will refuse it.
    out.log.push_back("ignore_accept: slot " + std::to_string(m.slot)
                      + " is chosen with another value");
    out.send_now.push_back({m.proposer, success_ack{cfg_.self,
                                                    first_unchosen_,
                                                    state_.promised,
                                                    configs()}});
    return stamped(std::move(out));
  }
  auto& w = out.mutable_write();
  raise_promise(m.b, w);
  if (!known_chosen)
    store({m.slot, m.b, m.value, false}, w);
  mark_chosen_below(m.first_unchosen, m.b, w);
  out.after_write.push_back({m.proposer, accepted{m.b, m.slot, state_.promised,
                                                  first_unchosen_, cfg_.self,
                                                  configs_.epoch()}});
  if (w.empty())
    out.write.reset();
  return stamped(std::move(out));
}

void acceptor::mark_chosen_below(slot_t leader_first_unchosen, const ballot& b,
                                 acceptor_write& w) {
  if (leader_first_unchosen <= first_unchosen_)
    return; // This acceptor already knows at least as much.
  auto i = state_.entries.lower_bound(first_unchosen_);
  auto end = state_.entries.lower_bound(leader_first_unchosen);
  for (; i != end; ++i) {
    auto& e = i->second;
    // The equal-ballot rule: only a value accepted under the leader's own
    // ballot is known to be the one it got chosen. A value accepted under
    // another ballot may have been replaced in a majority.
    if (e.chosen || e.accepted_ballot != b)
      continue;
    e.chosen = true;
    w.chosen_marks.push_back(i->first);
  }
  advance_first_unchosen();
}

acceptor_step acceptor::on_success(const success& m) {
  acceptor_step out;
  auto& w = out.mutable_write();
  if (m.jump_to > first_unchosen_ && !m.configs.empty()
      && m.configs.epoch() >= configs_.epoch()) {
    // Everything below jump_to is chosen and held elsewhere; its
    // configurations come with it.
    out.log.push_back("jump: the log is chosen below slot "
                      + std::to_string(m.jump_to));
    configs_ = m.configs;
    first_unchosen_ = m.jump_to;
    truncate_below(m.jump_to, w);
  }
  for (auto& c : m.entries) {
    if (c.slot < state_.log_start)
      continue;
    auto i = state_.entries.find(c.slot);
    if (i != state_.entries.end() && i->second.chosen) {
      assert(i->second.value == c.value);
      continue;
    }
    if (i != state_.entries.end() && i->second.value == c.value) {
      // The value is stored already: a mark suffices.
      i->second.chosen = true;
      w.chosen_marks.push_back(c.slot);
      continue;
    }
    ballot b = i != state_.entries.end() ? i->second.accepted_ballot : ballot{};
    store({c.slot, b, c.value, true}, w);
  }
  advance_first_unchosen();
  out.after_write.push_back({m.proposer, success_ack{cfg_.self,
                                                     first_unchosen_,
                                                     state_.promised,
                                                     configs()}});
  if (w.empty())
    out.write.reset();
  return stamped(std::move(out));
}

std::vector<chosen_entry> acceptor::chosen_run(slot_t from,
                                               size_t max) const {
  std::vector<chosen_entry> run;
  for (auto i = state_.entries.find(from);
       i != state_.entries.end() && i->second.chosen
       && i->first == from + run.size() && run.size() < max;
       ++i)
    run.push_back({i->first, i->second.value});
  return run;
}

acceptor_step acceptor::on_success_relay(const success_relay& m) const {
  acceptor_step out;
  auto run = chosen_run(m.from_slot, m.entries_max);
  if (run.empty() && m.from_slot < state_.log_start) {
    // Compacted away here: the lagging acceptor jumps to this log's start
    // (H comes with it), and is relayed values from there on. (Not
    // further: learners behind may still need the slots kept here.)
    success jump;
    jump.proposer = m.proposer;
    jump.jump_to = state_.log_start;
    jump.configs = configs_;
    out.send_now.push_back({m.to, std::move(jump)});
    return out;
  }
  if (run.empty()) {
    out.log.push_back("ignore_success_relay: slot "
                      + std::to_string(m.from_slot) + " not held chosen");
    return out;
  }
  // The lagging acceptor answers the leader, as for the leader's own.
  out.send_now.push_back({m.to, success{std::move(run), m.proposer}});
  return out;
}

slot_t acceptor::compaction_point() const {
  if (!cfg_.compaction || configs_.empty())
    return 0;
  auto learners = configs_.latest().config.with_role(role_learner);
  if (learners.empty())
    return 0;
  // What a majority of the learners hold durably: every slot below it is
  // chosen (learners apply nothing else) and on the disks of a majority.
  std::vector<slot_t> durable;
  for (auto l : learners) {
    auto i = learner_durable_.find(l);
    durable.push_back(i == learner_durable_.end() ? 0 : i->second);
  }
  std::sort(durable.begin(), durable.end(), std::greater<slot_t>());
  slot_t covered = durable[majority_of(durable.size()) - 1];
  slot_t point = covered > cfg_.tail_slots ? covered - cfg_.tail_slots : 0;
  // A tail holding more than tail_bytes is cut shorter (it cannot while
  // every entry held fits in tail_bytes).
  uint64_t bytes = 0;
  for (auto i = state_.entries.lower_bound(covered);
       bytes_held_ > cfg_.tail_bytes && i != state_.entries.begin();) {
    --i;
    if (i->first < point)
      break;
    bytes += i->second.value.size_bytes();
    if (bytes > cfg_.tail_bytes) {
      point = i->first + 1;
      break;
    }
  }
  // Only what this acceptor knows chosen: past that it would not know the
  // configurations (a lagging acceptor is sent a jump instead).
  return std::max(std::min(point, first_unchosen_), state_.log_start);
}

acceptor_step acceptor::on_learn_request(const learn_request& m) {
  acceptor_step out;
  // Only the cluster's learners count (and take memory here).
  bool known = is_learner(m.learner);
  if (known && m.durable > learner_durable_[m.learner]) {
    learner_durable_[m.learner] = m.durable;
    auto point = compaction_point();
    if (point > state_.log_start) {
      truncate_below(point, out.mutable_write());
      out.log.push_back("compacted the log below slot "
                        + std::to_string(point));
    }
  }
  chosen reply;
  reply.entries = chosen_run(m.from_slot, cfg_.learn_entries_max);
  if (reply.entries.empty() && m.from_slot < state_.log_start) {
    // Compacted away: the learner is told where this log starts, and which
    // learner's durable state reaches that far (a snapshot source).
    reply.serves_from = state_.log_start;
    for (auto& [l, d] : learner_durable_)
      if (l != m.learner && d >= state_.log_start
          && d > reply.snapshot_durable) {
        reply.snapshot_source = l;
        reply.snapshot_durable = d;
      }
  }
  if (!reply.entries.empty() || reply.serves_from > 0) {
    reply.acceptor = cfg_.self;
    out.send_now.push_back({m.learner, std::move(reply)});
  }
  return out;
}

} // namespace paxoskv
