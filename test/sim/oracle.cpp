// The simulator's safety oracle at every step: what is chosen, computed from
// the acceptors' durable commits, and what every message and node may claim.
#include <algorithm>
#include <functional>

#include "test/sim/cluster_parts.hpp"
#include "test/sim/trace.hpp"

namespace paxoskv::sim {

void cluster::note_truth(slot_t slot, const log_value& v,
                         const std::string& who) {
  auto [it, inserted] = truth_.emplace(slot, v);
  if (!inserted && it->second != v)
    fail("two different values chosen at slot " + std::to_string(slot)
         + " (seen by " + who + ")");
  if (!inserted || slot != truth_prefix_)
    return;
  // The prefix grows: the configurations in it govern the slots alpha
  // after theirs, so the votes waiting for those slots can be counted.
  // (Computed here rather than with config_history::on_chosen, so that a
  // broken window in the code under test does not break the oracle too.)
  for (auto i = truth_.find(truth_prefix_); i != truth_.end();
       i = truth_.find(++truth_prefix_)) {
    if (!i->second.is_config())
      continue;
    // A configuration takes effect only if it follows the newest one (two
    // leaders may each propose a change; the first chosen wins, the other
    // changes nothing).
    auto& c = i->second.config;
    if (c.epoch == oracle_configs_.epoch() + 1)
      oracle_configs_.entries.push_back({i->first, i->first + opts_.alpha, c});
  }
  auto known = truth_prefix_ + opts_.alpha;
  while (!deferred_votes_.empty() && deferred_votes_.begin()->first < known) {
    auto [s, b] = *deferred_votes_.begin();
    deferred_votes_.erase(deferred_votes_.begin());
    count_votes(s, b);
  }
}

void cluster::count_votes(slot_t slot, const ballot& b) {
  if (slot >= truth_prefix_ + opts_.alpha) {
    deferred_votes_.insert({slot, b});
    return;
  }
  // The configuration governing the slot, and a majority of its voters
  // (counted here, independently of configuration::is_quorum).
  const configuration* governing = &oracle_configs_.entries.front().config;
  for (auto& e : oracle_configs_.entries)
    if (e.effective <= slot)
      governing = &e.config;
  auto& v = votes_[{slot, b}];
  size_t voters = 0, votes = 0;
  for (auto& m : governing->members)
    if (m.voter && m.has(role_acceptor)) {
      ++voters;
      // Only the member's own data directory votes for it (an incarnation
      // recorded in the configuration must match).
      auto i = v.lower_bound({m.id, 0});
      bool voted = false;
      for (; i != v.end() && i->first == m.id && !voted; ++i)
        voted = m.incarnation == 0 || i->second == m.incarnation;
      votes += voted ? 1 : 0;
    }
  if (votes > voters / 2)
    note_truth(slot, vote_values_.at({slot, b}), "acceptors");
}

void cluster::on_membership_reply(const membership_reply& r) {
  if (r.done) {
    ++membership_counts_.done;
    // Chosen, so the oracle knows it: the configuration is in the log.
    auto alpha = opts_.alpha;
    auto t = r.effective >= alpha ? truth_.find(r.effective - alpha)
                                  : truth_.end();
    bool took = false;
    for (auto& e : oracle_configs_.entries)
      took |= e.effective == r.effective && e.config == r.config;
    if (t == truth_.end() || t->second.config != r.config || !took)
      fail("a membership change was answered chosen, but epoch "
           + std::to_string(r.config.epoch) + " governing from slot "
           + std::to_string(r.effective) + " is not in the chosen log");
  } else if (r.error.rfind("outcome unknown", 0) == 0) {
    ++membership_counts_.unknown;
  } else {
    ++membership_counts_.refused;
  }
  trace("operator <- " + render(message{r}));
}

void cluster::request_membership(node_id via, membership_request r) {
  ++membership_counts_.asked;
  r.origin = operator_address;
  r.id = membership_counts_.asked;
  send(operator_address, {via, std::move(r)});
}

void cluster::note_read_arrival(const node& nd, const read_request& r) {
  auto floor = truth_.empty() ? slot_t{0} : truth_.rbegin()->first + 1;
  read_floors_.emplace(std::make_tuple(nd.id, r.origin, r.id), floor);
}

void cluster::check_read_indexes(const node& nd,
                                 const std::vector<envelope>& out) {
  for (auto& e : out) {
    auto* ri = std::get_if<read_index>(&e.msg);
    if (ri == nullptr)
      continue;
    auto f = read_floors_.find(
      std::make_tuple(nd.id, static_cast<node_id>(e.to), ri->id));
    if (f == read_floors_.end())
      fail("proposer " + std::to_string(nd.id) + " sent read index "
           + std::to_string(ri->index) + " for read " + std::to_string(ri->id)
           + " of learner " + std::to_string(e.to)
           + ", a request it never got");
    else if (ri->index < f->second)
      fail("proposer " + std::to_string(nd.id) + " sent read index "
           + std::to_string(ri->index) + " for read " + std::to_string(ri->id)
           + " of learner " + std::to_string(e.to) + ", but slot "
           + std::to_string(f->second - 1)
           + " was chosen before the request reached it");
  }
}

void cluster::check_compaction(const node& nd, slot_t start) {
  auto learners = nd.acc->configs_known().latest().config.with_role(
    role_learner);
  if (learners.empty())
    return;
  // The majority is counted here from what the state stores really held,
  // not from the learners' reports the acceptor counted (which a broken
  // report or count in the code under test would get wrong as well).
  std::vector<slot_t> durable;
  for (auto l : learners) {
    auto i = durable_seen_.find(l);
    durable.push_back(i == durable_seen_.end() ? 0 : i->second);
  }
  std::sort(durable.begin(), durable.end(), std::greater<slot_t>());
  auto covered = durable[majority_of(durable.size()) - 1];
  if (start > covered)
    fail("acceptor " + std::to_string(nd.id) + " cut its log below slot "
         + std::to_string(start) + ", but a majority of its learners held "
         + "state durable only below " + std::to_string(covered));
}

void cluster::check_chosen(slot_t slot, const log_value& v,
                           const std::string& who) {
  auto t = truth_.find(slot);
  if (t == truth_.end())
    fail(who + " slot " + std::to_string(slot)
         + " as chosen but no majority accepted it");
  else if (t->second != v)
    fail(who + " slot " + std::to_string(slot)
         + " as chosen with a value other than the chosen one");
}

slot_t cluster::chosen_prefix() const {
  return truth_prefix_;
}

void cluster::check_outgoing(uint64_t from, const message& m) {
  auto it = nodes_.find(static_cast<node_id>(from));
  if (is_client(from) || it == nodes_.end())
    return;
  auto& nd = *it->second;
  auto who = "node " + std::to_string(from);
  auto& disk = nd.disk.state();
  if (auto* p = std::get_if<promise>(&m)) {
    // Durability order: a promise leaves only once it is on disk.
    if (disk.acceptor.promised < p->b)
      fail(who + " sent a promise for " + to_string(p->b)
           + " before it was durable");
  } else if (auto* a = std::get_if<accepted>(&m)) {
    if (a->promised == a->b) {
      // The entry may since have been superseded by a newer ballot in the
      // same group commit; that is as if the reply had left in between.
      // Or the log was compacted past the slot in the same group commit:
      // the slot was chosen by then (learners applied it), and an answer
      // for it cannot make another value chosen (see README).
      auto e = disk.acceptor.entries.find(a->slot);
      if (a->slot < disk.acceptor.log_start)
        return;
      if (disk.acceptor.promised < a->b || e == disk.acceptor.entries.end()
          || (!e->second.chosen && e->second.accepted_ballot < a->b))
        fail(who + " acknowledged an accept at slot " + std::to_string(a->slot)
             + " before it was durable");
    }
  } else if (auto* pr = std::get_if<prepare>(&m)) {
    // A ballot belongs to one incarnation of one proposer.
    auto [owner, fresh] = ballot_owner_.emplace(pr->b, nd.incarnation);
    if (pr->b.node != nd.id || (!fresh && owner->second != nd.incarnation))
      fail(who + " reused ballot " + to_string(pr->b)
           + " from an earlier incarnation");
  } else if (auto* ac = std::get_if<accept>(&m)) {
    // One value per (slot, ballot): the uniqueness Paxos relies on.
    auto [v, fresh] = proposed_.emplace(std::make_pair(ac->slot, ac->b),
                                        ac->value);
    if (!fresh && v->second != ac->value)
      fail(who + " proposed two values at slot " + std::to_string(ac->slot)
           + " under ballot " + to_string(ac->b));
  }
}

void cluster::check_chosen_marks(const node& nd, const acceptor_write& w) {
  // A correct mark always follows a majority's durable acceptance, so the
  // oracle already knows the slot's value when the mark is made.
  auto who = "acceptor " + std::to_string(nd.id) + " marked";
  for (auto& e : w.entries)
    if (e.chosen)
      check_chosen(e.slot, e.value, who);
  // A mark makes the value it stands on chosen; the step has just stored
  // or kept it.
  for (auto s : w.chosen_marks) {
    auto i = nd.acc->entries().find(s);
    if (i == nd.acc->entries().end())
      fail(who + " slot " + std::to_string(s) + " without holding a value");
    else
      check_chosen(s, i->second.value, who);
  }
  // A log start says every slot below it is chosen.
  if (w.log_start && chosen_prefix() < *w.log_start)
    fail("acceptor " + std::to_string(nd.id) + " truncated its log below "
         + std::to_string(*w.log_start) + ", but only "
         + std::to_string(chosen_prefix()) + " slots are chosen");
}

} // namespace paxoskv::sim
