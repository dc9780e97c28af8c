// The proposer's membership part (membership.hpp): which acceptors it
// talks to and which quorums it needs for the configurations governing the
// slots from first_unchosen on, and the membership changes it carries out
// as leader. The rest of the proposer is in proposer.cpp.
#include "protocol/proposer.hpp"

#include <algorithm>

namespace paxoskv {

std::vector<node_id> proposer::refresh_peers() {
  std::set<node_id> want;
  for (auto* c : configs_.governing(first_unchosen_, ~slot_t{0}))
    for (auto v : c->voters())
      want.insert(v);
  std::vector<node_id> added;
  // Acceptors no longer voting stay known (a bounded number of them): they
  // may hold chosen values the voters lack, and relay them.
  size_t retired = 0;
  for (auto& [id, p] : peers_) {
    if (want.count(id) > 0 && p.retired) {
      // Voting again: it starts over (nothing it did under an earlier
      // ballot counts).
      added.push_back(id);
      auto fu = p.first_unchosen;
      p = peer{};
      p.first_unchosen = fu;
      p.heard_tick = now_;
      p.progress_tick = now_;
    }
    p.retired = want.count(id) == 0;
    if (p.retired)
      incarnations_.erase(id);
    retired += p.retired ? 1 : 0;
  }
  for (auto i = peers_.begin(); retired > retired_max && i != peers_.end();)
    if (i->second.retired) {
      i = peers_.erase(i);
      --retired;
    } else {
      ++i;
    }
  for (auto v : want)
    if (peers_.count(v) == 0) {
      auto& p = peers_[v];
      p.heard_tick = now_;
      p.progress_tick = now_;
      added.push_back(v);
    }
  return added;
}

std::vector<node_id> proposer::learners() const {
  std::set<node_id> all;
  for (auto* c : configs_.governing(first_unchosen_, ~slot_t{0}))
    for (auto l : c->with_role(role_learner))
      all.insert(l);
  return {all.begin(), all.end()};
}

bool proposer::quorum_of_all(const std::set<node_id>& acks) const {
  for (auto* c : configs_.governing(first_unchosen_, ~slot_t{0}))
    if (!c->is_quorum(acks))
      return false;
  return true;
}

std::set<node_id> proposer::prepared() const {
  std::set<node_id> done;
  for (auto& [id, p] : peers_)
    if (p.prepare_done && !p.retired)
      done.insert(id);
  return done;
}

bool proposer::within_window(slot_t slot) const {
  return slot < first_unchosen_ + configs_.latest().config.alpha;
}

uint64_t proposer::incarnation_of(node_id acceptor) const {
  for (auto e = configs_.entries.rbegin(); e != configs_.entries.rend(); ++e)
    if (auto* m = e->config.find(acceptor))
      return m->incarnation;
  return 0;
}

bool proposer::lost_data() const {
  return lists_as_another(configs_, cfg_.self, cfg_.incarnation,
                          cfg_.bootstrapped);
}

void proposer::configs_changed(proposer_step& out) {
  auto added = refresh_peers();
  out.notices.push_back("configuration: " + to_string(configs_.latest().config)
                        + (configs_.pending(first_unchosen_)
                             ? ", in force from slot "
                                 + std::to_string(configs_.latest().effective)
                             : ""));
  if (phase_ != proposer_phase::follower && lost_data()) {
    start_phase1(out); // Says why, and follows.
    return;
  }
  if (phase_ == proposer_phase::leading) {
    // Phase 1 must hold a majority of every configuration now governing
    // the slots ahead (new voters may hold values accepted under an older
    // ballot there, and configurations learned from an acceptor may
    // replace those phase 1 covered): if not, it runs again.
    if (!quorum_of_all(prepared()))
      start_phase1(out);
    else if (round_open_)
      // The open read round needs the quorums of the new configurations:
      // it goes again, to the acceptors they have now. Its leases count
      // from its first send, as before.
      start_read_round(round_sent_ms_, out);
  } else if (phase_ == proposer_phase::preparing) {
    for (auto id : added) {
      auto& p = peers_.at(id);
      p.prepare_from = first_unchosen_;
      p.prepare_done = false;
      p.prepare_tick = now_;
      out.after_write.push_back({id, prepare{ballot_, first_unchosen_,
                                             cfg_.self, incarnation_of(id)}});
    }
  }
}

std::string proposer::change_in_progress() const {
  if (change_)
    return "a membership change is in progress (to epoch "
           + std::to_string(change_->next.epoch) + ")";
  if (configs_.pending(first_unchosen_))
    return "configuration epoch " + std::to_string(configs_.epoch())
           + " takes effect at slot "
           + std::to_string(configs_.latest().effective) + "; try again then";
  auto is_change = [](const log_value& v) { return v.is_config(); };
  for (auto& [slot, v] : reproposals_)
    if (is_change(v))
      return "a membership change of an earlier leader is being completed";
  for (auto& [slot, p] : in_flight_)
    if (is_change(p.value))
      return "a membership change of an earlier leader is being completed";
  for (auto i = chosen_.lower_bound(first_unchosen_); i != chosen_.end(); ++i)
    if (is_change(i->second))
      return "a membership change was chosen and is not yet in force";
  return {};
}

std::optional<configuration>
proposer::changed(const membership_request& m, std::string& why) const {
  auto next = configs_.latest().config;
  next.epoch += 1;
  auto id = m.target.id;
  auto name = "node " + std::to_string(id);
  auto it = std::find_if(next.members.begin(), next.members.end(),
                         [&](const member& x) { return x.id == id; });
  switch (m.change) {
    case member_change::add: {
      if (id == 0) {
        why = "member id 0 is not valid";
      } else if (it != next.members.end()) {
        why = name + " is a member already";
      } else {
        auto added = m.target;
        // Learner first; promoted by the leader once caught up when
        // `promote` is set (a learner on purpose otherwise).
        added.voter = false;
        auto at = std::find_if(next.members.begin(), next.members.end(),
                               [&](const member& x) { return x.id > id; });
        next.members.insert(at, added);
      }
      break;
    }
    case member_change::promote:
    case member_change::demote: {
      bool promote = m.change == member_change::promote;
      if (it == next.members.end())
        why = name + " is not a member";
      else if (it->voter == promote)
        why = name + " is a " + (promote ? "voter" : "learner") + " already";
      else {
        it->voter = promote;
        // A demoted voter may be marked to be promoted again once it has
        // caught up (`target.promote`).
        it->promote = !promote && m.target.promote;
      }
      break;
    }
    case member_change::seal:
      why = "sealing incarnations is the leader's own change";
      break;
    case member_change::remove:
      if (it == next.members.end())
        why = name + " is not a member";
      else
        next.members.erase(it);
      break;
  }
  if (why.empty()) {
    auto problem = check(next);
    if (!problem.empty())
      why = "the configuration would not work: " + problem;
  }
  if (!why.empty())
    return std::nullopt;
  return next;
}

void proposer::settle_change(proposer_step& out) {
  // Every slot up to the change's is chosen: it took effect if the
  // configurations hold it (a configuration that does not follow the one
  // before it, because another change was chosen first, changes nothing).
  bool took = false;
  for (auto& e : configs_.entries)
    took |= e.chosen_at == change_->slot && e.config == change_->next;
  if (took) {
    answer_change("", out);
    return;
  }
  auto i = chosen_.find(change_->slot);
  bool ours = i != chosen_.end() && i->second.is_config()
              && i->second.config == change_->next;
  answer_change(ours ? "not applied: another membership change was chosen "
                       "before it; see the member list"
                     : "outcome unknown: its slot was chosen while this "
                       "leader did not follow; see the member list",
                out);
}

void proposer::answer_change(const std::string& error, proposer_step& out) {
  if (!change_)
    return;
  if (change_->request.origin != 0) {
    membership_reply r{change_->request.id, error.empty(), error,
                       configs_.latest().config, configs_.latest().effective};
    if (error.empty()) {
      r.config = change_->next;
      r.effective = change_->slot + configs_.latest().config.alpha;
    }
    out.send_now.push_back({change_->request.origin, std::move(r)});
  }
  out.notices.push_back("membership change " + to_string(change_->request.change)
                        + " of node " + std::to_string(change_->request.target.id)
                        + ": " + (error.empty() ? "chosen" : error));
  change_.reset();
}

proposer_step proposer::on_membership_request(const membership_request& m) {
  proposer_step out;
  auto refuse = [&](const std::string& why) {
    out.log.push_back("refuse membership_request: " + why);
    if (m.origin != 0)
      out.send_now.push_back(
        {m.origin, membership_reply{m.id, false, why, configs_.latest().config,
                                    configs_.latest().effective}});
  };
  if (phase_ != proposer_phase::leading) {
    if (can_forward(m.hops)) {
      auto fwd = m;
      ++fwd.hops;
      out.send_now.push_back({leader_hint_, std::move(fwd)});
    } else {
      refuse(leader_hint_ == cfg_.self
               ? "not applied: the leader is still starting; try again"
               : "not applied: no leader known");
    }
    return out;
  }
  if (change_ && change_->request.id == m.id
      && change_->request.origin == m.origin)
    return out; // A resend of the change under way.
  std::string why;
  if (m.expected_epoch != 0 && m.expected_epoch != configs_.epoch())
    why = "the configuration is at epoch " + std::to_string(configs_.epoch())
          + ", not " + std::to_string(m.expected_epoch);
  if (why.empty())
    why = change_in_progress();
  std::optional<configuration> next;
  if (why.empty())
    next = changed(m, why);
  if (!next) {
    refuse("not applied: " + why);
    return out;
  }
  change_ = change{m, std::move(*next)};
  fill_window(out);
  return out;
}

proposer_step proposer::on_learner_progress(const learner_progress& m) {
  proposer_step out;
  auto* who = configs_.latest().config.find(m.learner);
  if (who == nullptr || who->voter || !who->promote)
    return out;
  progress_[m.learner] = {m.applied, now_};
  return out;
}

bool proposer::caught_up(slot_t applied) const {
  if (applied >= first_unchosen_)
    return true;
  if (first_unchosen_ - applied > cfg_.promote_lag_slots)
    return false;
  // Bytes still to apply, from the values kept here; a slot not kept means
  // a lag beyond what is kept.
  uint64_t bytes = 0;
  for (auto s = applied; s < first_unchosen_; ++s) {
    auto i = chosen_.find(s);
    if (i == chosen_.end())
      return false;
    bytes += i->second.size_bytes();
    if (bytes > cfg_.promote_lag_bytes)
      return false;
  }
  return true;
}

void proposer::maybe_promote(proposer_step& out) {
  if (change_)
    return;
  auto& c = configs_.latest().config;
  for (auto i = progress_.begin(); i != progress_.end();) {
    auto* m = c.find(i->first);
    if (m == nullptr || m->voter || !m->promote)
      i = progress_.erase(i);
    else
      ++i;
  }
  for (auto& [id, p] : progress_) {
    if (now_ - p.second > cfg_.progress_fresh_ticks || !caught_up(p.first))
      continue;
    if (!change_in_progress().empty())
      return;
    membership_request r;
    r.change = member_change::promote;
    r.target.id = id;
    r.expected_epoch = configs_.epoch();
    std::string why;
    auto next = changed(r, why);
    if (!next) {
      out.log.push_back("cannot promote node " + std::to_string(id) + ": "
                        + why);
      continue;
    }
    out.notices.push_back("promoting node " + std::to_string(id)
                          + ": it applied up to slot "
                          + std::to_string(p.first) + ", first unchosen "
                          + std::to_string(first_unchosen_));
    change_ = change{r, std::move(*next)};
    fill_window(out);
    return;
  }
}

bool proposer::from_member(node_id acceptor, uint64_t incarnation,
                           proposer_step& out) {
  for (auto* c : configs_.governing(first_unchosen_, ~slot_t{0})) {
    auto* m = c->find(acceptor);
    if (m != nullptr && m->incarnation != 0 && m->incarnation != incarnation) {
      out.log.push_back("ignore a reply of acceptor " + std::to_string(acceptor)
                        + ": data directory incarnation "
                        + std::to_string(incarnation) + ", the member's is "
                        + std::to_string(m->incarnation));
      return false;
    }
  }
  if (incarnation != 0 && is_acceptor(acceptor))
    incarnations_[acceptor] = incarnation;
  return true;
}

void proposer::maybe_seal(proposer_step& out) {
  if (change_ || incarnations_.empty())
    return;
  // Every tick while leading: look before copying anything.
  auto& latest = configs_.latest().config;
  auto unsealed = [&](const member& m) {
    return m.incarnation == 0 && incarnations_.count(m.id) > 0;
  };
  if (std::none_of(latest.members.begin(), latest.members.end(), unsealed)
      || !change_in_progress().empty())
    return;
  auto next = latest;
  for (auto& m : next.members)
    if (unsealed(m))
      m.incarnation = incarnations_.at(m.id);
  next.epoch += 1;
  membership_request r;
  r.change = member_change::seal;
  r.expected_epoch = configs_.epoch();
  out.notices.push_back("sealing the incarnations of the members that "
                        "answered: " + to_string(next));
  change_ = change{r, std::move(next)};
  fill_window(out);
}

} // namespace paxoskv
