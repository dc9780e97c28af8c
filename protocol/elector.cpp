#include "protocol/elector.hpp"

#include <algorithm>
#include <cassert>
#include <set>

namespace paxoskv {

elector::elector(elector_config cfg) : cfg_(std::move(cfg)) {
  if (cfg_.acceptors.empty())
    cfg_.acceptors = cfg_.nodes;
  acceptors_apart_ = !hosts_all_acceptors();
  assert(cfg_.self != 0 && cfg_.heartbeat_ticks > 0);
  assert(cfg_.election_timeout_ticks >= cfg_.heartbeat_ticks);
  for (auto n : cfg_.nodes)
    if (n != cfg_.self)
      peers_[n];
}

bool elector::hosts_all_acceptors() const {
  for (auto a : cfg_.acceptors)
    if (std::find(cfg_.nodes.begin(), cfg_.nodes.end(), a) == cfg_.nodes.end())
      return false;
  return true;
}

bool elector::fresh(const peer& p) const {
  return p.heard && now_ - p.heard_tick <= cfg_.election_timeout_ticks;
}

std::vector<node_id> elector::heard_directly() const {
  std::vector<node_id> result;
  for (auto& [id, p] : peers_)
    if (fresh(p))
      result.push_back(id);
  return result;
}

void elector::set_reachable_acceptors(std::vector<node_id> reachable) {
  if (acceptors_apart_)
    reachable_ = std::move(reachable);
}

void elector::set_members(std::vector<node_id> nodes,
                          std::vector<node_id> acceptors, bool candidate) {
  std::sort(nodes.begin(), nodes.end());
  std::sort(acceptors.begin(), acceptors.end());
  cfg_.nodes = std::move(nodes);
  cfg_.acceptors = acceptors.empty() ? cfg_.nodes : std::move(acceptors);
  cfg_.candidate = candidate;
  acceptors_apart_ = !hosts_all_acceptors();
  if (!acceptors_apart_)
    reachable_.reset();
  for (auto i = peers_.begin(); i != peers_.end();)
    if (std::find(cfg_.nodes.begin(), cfg_.nodes.end(), i->first)
        == cfg_.nodes.end())
      i = peers_.erase(i);
    else
      ++i;
  for (auto n : cfg_.nodes)
    if (n != cfg_.self)
      peers_[n];
}

bool elector::follow(const configuration& c) {
  auto voters = c.voters();
  if (voters.empty())
    return false;
  std::vector<node_id> nodes;
  for (auto& m : c.members)
    if (m.has(role_elector))
      nodes.push_back(m.id);
  auto* me = c.find(cfg_.self);
  config_history h;
  h.entries.push_back({0, 0, c});
  bool candidate = me != nullptr && me->voter && me->has(role_elector)
                   && me->has(role_proposer)
                   && !lists_as_another(h, cfg_.self, cfg_.incarnation,
                                        cfg_.bootstrapped);
  set_members(std::move(nodes), std::move(voters), candidate);
  return true;
}

bool elector::eligible() const {
  if (!cfg_.candidate)
    return false;
  auto is_acceptor = [&](node_id n) {
    return std::find(cfg_.acceptors.begin(), cfg_.acceptors.end(), n)
           != cfg_.acceptors.end();
  };
  size_t reached = is_acceptor(cfg_.self) ? 1 : 0;
  for (auto n : reachable_ ? *reachable_ : heard_directly())
    if (n != cfg_.self && is_acceptor(n))
      ++reached;
  return reached >= majority_of(cfg_.acceptors.size());
}

std::vector<node_id> elector::eligible_directly() const {
  std::vector<node_id> result;
  if (eligible())
    result.push_back(cfg_.self);
  // A peer is eligible when its own newest heartbeat says so.
  for (auto& [id, p] : peers_)
    if (fresh(p) && p.have_latest
        && std::find(p.latest.eligible.begin(), p.latest.eligible.end(), id)
             != p.latest.eligible.end())
      result.push_back(id);
  return result;
}

elector_step elector::on_tick() {
  elector_step out;
  ++now_;
  if (now_ % cfg_.heartbeat_ticks == 0) {
    heartbeat hb{cfg_.self, leader_,    heard_directly(), eligible_directly(),
                 false,     ++sent_,    cfg_.boot};
    for (auto& [id, p] : peers_)
      out.send_now.push_back({id, hb});
    // Repeating the current decision is harmless and lets a restarted
    // proposer (possibly in another process) learn it without asking.
    if (leader_ != 0)
      out.send_now.push_back({cfg_.self, leader_change{leader_}});
  }
  decide(out);
  return out;
}

elector_step elector::on_heartbeat(const heartbeat& m) {
  elector_step out;
  auto i = peers_.find(m.from);
  if (i == peers_.end())
    return out; // Not a member.
  auto& p = i->second;
  if (!m.relayed) {
    // The link works, whatever the copy says.
    p.heard = true;
    p.heard_tick = now_;
  }
  // Only the newest copy of this incarnation speaks for the sender: a
  // relayed copy may arrive after a newer direct one.
  bool newer = !p.have_latest || m.boot != p.latest.boot
               || m.seq > p.latest.seq;
  if (newer) {
    p.have_latest = true;
    p.latest = m;
    p.latest_tick = now_;
  }
  decide(out);
  return out;
}

void elector::decide(elector_step& out) {
  if (now_ < cfg_.election_timeout_ticks)
    return;
  std::set<node_id> eligible;
  for (auto id : eligible_directly())
    eligible.insert(id);
  // What fresh heartbeats say, direct or relayed: each peer's newest.
  std::vector<const heartbeat*> views;
  for (auto& [id, p] : peers_)
    if (p.have_latest && now_ - p.latest_tick <= cfg_.election_timeout_ticks)
      views.push_back(&p.latest);
  for (auto* h : views)
    for (auto relayed : h->eligible)
      if (peers_.count(relayed) > 0 || relayed == cfg_.self)
        eligible.insert(relayed);
  // A leader still eligible keeps leading, even when a higher id comes
  // back (a restarted node must not take the lead back and cost a second
  // failover). Among the leaders named by this node and the peers it
  // hears, the highest eligible one, so that differing views converge;
  // with none, the highest eligible id (the bully rule at cold start).
  node_id best = 0;
  auto consider_named = [&](node_id n) {
    if (n != 0 && eligible.count(n) > 0)
      best = std::max(best, n);
  };
  consider_named(leader_);
  for (auto* h : views)
    consider_named(h->leader);
  if (best == 0 && !eligible.empty())
    best = *eligible.rbegin();
  if (best == leader_)
    return;
  leader_ = best;
  out.leader_changed = true;
  out.send_now.push_back({cfg_.self, leader_change{leader_}});
}

} // namespace paxoskv
