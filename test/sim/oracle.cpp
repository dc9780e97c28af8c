// The simulator's safety oracle at every step: what is chosen, computed from
// the acceptors' durable commits, and what every message and node may claim.
#include "test/sim/cluster_parts.hpp"

namespace paxoskv::sim {

void cluster::note_truth(slot_t slot, const log_value& v,
                         const std::string& who) {
  auto [it, inserted] = truth_.emplace(slot, v);
  if (!inserted && it->second != v)
    fail("two different values chosen at slot " + std::to_string(slot)
         + " (seen by " + who + ")");
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
  slot_t s = 0;
  while (truth_.count(s) > 0)
    ++s;
  return s;
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
