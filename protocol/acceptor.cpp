#include "protocol/acceptor.hpp"

#include <algorithm>
#include <cassert>

namespace paxoskv {

void acceptor_write::merge(acceptor_write&& later) {
  if (later.promised)
    promised = later.promised;
  for (auto& e : later.entries)
    entries.emplace_back(std::move(e));
}

void acceptor_state::apply(const acceptor_write& w) {
  if (w.promised) {
    assert(*w.promised >= promised);
    promised = *w.promised;
  }
  for (auto& e : w.entries)
    entries[e.slot] = e;
}

acceptor::acceptor(acceptor_config cfg, acceptor_state restored)
  : cfg_(cfg), state_(std::move(restored)) {
  assert(cfg_.self != 0);
  assert(cfg_.promise_entries_max > 0 && cfg_.learn_entries_max > 0);
  advance_first_unchosen();
}

void acceptor::raise_promise(const ballot& b, acceptor_write& w) {
  if (b > state_.promised) {
    state_.promised = b;
    w.promised = b;
  }
}

void acceptor::store(accepted_entry e, acceptor_write& w) {
  w.entries.push_back(e);
  state_.entries[e.slot] = std::move(e);
}

void acceptor::advance_first_unchosen() {
  for (;;) {
    auto i = state_.entries.find(first_unchosen_);
    if (i == state_.entries.end() || !i->second.chosen)
      return;
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
  return out;
}

acceptor_step acceptor::on_prepare(const prepare& m, clock_ms now) {
  acceptor_step out;
  if (auto why = lease_refusal(m, now); !why.empty()) {
    // No answer: the proposer retransmits until the lease ran out.
    out.log.push_back("ignore_prepare: " + to_string(m.b) + " waits; " + why);
    return out;
  }
  if (m.b < state_.promised) {
    out.log.push_back("ignore_prepare: ballot " + to_string(m.b)
                      + " below promise " + to_string(state_.promised));
    out.send_now.push_back({m.proposer, nack{m.b, state_.promised, cfg_.self}});
    return out;
  }
  raise_promise(m.b, out.mutable_write());
  promise reply;
  reply.b = m.b;
  reply.acceptor = cfg_.self;
  reply.from_slot = m.from_slot;
  reply.first_unchosen = first_unchosen_;
  auto i = state_.entries.lower_bound(m.from_slot);
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
  return out;
}

acceptor_step acceptor::on_accept(const accept& m) {
  acceptor_step out;
  if (m.b < state_.promised) {
    out.log.push_back("ignore_accept: ballot " + to_string(m.b)
                      + " below promise " + to_string(state_.promised));
    out.send_now.push_back({m.proposer, accepted{m.b, m.slot, state_.promised,
                                                 first_unchosen_, cfg_.self}});
    return out;
  }
  auto i = state_.entries.find(m.slot);
  bool known_chosen = i != state_.entries.end() && i->second.chosen;
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
                                                    state_.promised}});
    return out;
  }
  auto& w = out.mutable_write();
  raise_promise(m.b, w);
  if (!known_chosen)
    store({m.slot, m.b, m.value, false}, w);
  mark_chosen_below(m.first_unchosen, m.b, w);
  out.after_write.push_back({m.proposer, accepted{m.b, m.slot, state_.promised,
                                                  first_unchosen_, cfg_.self}});
  if (w.empty())
    out.write.reset();
  return out;
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
    w.entries.push_back(e);
  }
  advance_first_unchosen();
}

acceptor_step acceptor::on_success(const success& m) {
  acceptor_step out;
  auto& w = out.mutable_write();
  for (auto& c : m.entries) {
    auto i = state_.entries.find(c.slot);
    if (i != state_.entries.end() && i->second.chosen) {
      assert(i->second.value == c.value);
      continue;
    }
    ballot b = i != state_.entries.end() ? i->second.accepted_ballot : ballot{};
    store({c.slot, b, c.value, true}, w);
  }
  advance_first_unchosen();
  out.after_write.push_back({m.proposer, success_ack{cfg_.self,
                                                     first_unchosen_,
                                                     state_.promised}});
  if (w.empty())
    out.write.reset();
  return out;
}

acceptor_step acceptor::on_learn_request(const learn_request& m) const {
  acceptor_step out;
  chosen reply;
  for (auto i = state_.entries.find(m.from_slot);
       i != state_.entries.end() && i->second.chosen
       && i->first == m.from_slot + reply.entries.size()
       && reply.entries.size() < cfg_.learn_entries_max;
       ++i)
    reply.entries.push_back({i->first, i->second.value});
  if (!reply.entries.empty())
    out.send_now.push_back({m.learner, std::move(reply)});
  return out;
}

} // namespace paxoskv
