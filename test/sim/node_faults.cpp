// The simulator's node faults: crashes, pauses, clock steps, and wiped
// disks (at the worst moment for the log), and restarts.
#include "test/sim/cluster_parts.hpp"

#include <algorithm>

#include "test/sim/trace.hpp"

namespace paxoskv::sim {

void cluster::step_wall(node_id n, int64_t delta_ms) {
  at(n).wall_step += delta_ms;
  trace("node " + std::to_string(n) + " wall clock steps "
        + std::to_string(delta_ms) + " ms");
}

uint64_t cluster::wall_of(node_id n) const {
  auto& nd = at(n);
  // Node clocks differ by their offsets (up to 1,000 s) and drift.
  return static_cast<uint64_t>(int64_t{1700000000000}
                               + static_cast<int64_t>(clock_of(nd))
                               + nd.wall_step);
}

bool cluster::is_up(node_id n) const {
  return at(n).up;
}

void cluster::pause(node_id n, uint64_t ticks) {
  auto& nd = at(n);
  if (!nd.up || is_paused(n))
    return;
  trace("pause node " + std::to_string(n) + " for " + std::to_string(ticks)
        + " ticks");
  nd.paused_until = now_ + ticks;
}

bool cluster::is_paused(node_id n) const {
  return at(n).paused_until > now_;
}

void cluster::crash(node_id n) {
  auto& nd = at(n);
  if (!nd.up)
    return;
  trace("crash node " + std::to_string(n));
  nd.up = false;
  nd.paused_until = 0;
  nd.backend.reset();
  nd.acc.reset();
  nd.prop.reset();
  nd.learn.reset();
  nd.elect.reset();
  nd.pending = {};
  nd.held.clear();
  nd.inbox.clear();
}

uint64_t cluster::disk_incarnation(node_id n) const {
  return at(n).disk_incarnation;
}

bool cluster::is_stale(node_id n) const {
  auto& nd = at(n);
  return lists_as_another(oracle_configs_, n, nd.disk_incarnation,
                          nd.bootstrapped);
}

bool cluster::live_majority(const configuration& c, node_id also_dead) const {
  size_t voters = 0, live = 0;
  for (auto& m : c.members)
    if (m.voter && m.has(role_acceptor)) {
      ++voters;
      if (m.id != also_dead && !is_stale(m.id))
        ++live;
    }
  return voters > 0 && live >= majority_of(voters);
}

void cluster::wipe(node_id n) {
  auto& nd = at(n);
  if (opts_.make_store || nd.hosts_front)
    return; // A real store stays; a learner's state is not wiped here.
  // The cluster must stay able to decide without it (and remove it): the
  // configurations in force and pending keep a live majority, and no
  // change asked for earlier (without knowing of the wipe) is in flight.
  auto& a = membership_counts_;
  if (a.asked > a.done + a.refused + a.unknown)
    return;
  auto& e = oracle_configs_.entries;
  for (size_t i = e.size() >= 2 ? e.size() - 2 : 0; i < e.size(); ++i)
    if (!live_majority(e[i].config, n))
      return;
  // Half the wipes come at the worst moment: the other acceptors holding
  // the newest value this one accepted go down with it, if enough voters
  // stay up to decide (counting it). Were its former self's vote to count
  // again, they would decide without that value.
  auto& latest = oracle_configs_.latest().config;
  if (latest.is_voter(n) && chance(0.5)) {
    auto mine = nd.disk.load().value().acceptor.entries;
    if (!mine.empty()) {
      auto newest = mine.rbegin()->second;
      std::vector<node_id> holders, up;
      for (auto v : latest.voters()) {
        if (v == n)
          continue;
        auto theirs = at(v).disk.load().value().acceptor.entries;
        auto i = theirs.find(newest.slot);
        if (i != theirs.end() && i->second.value == newest.value)
          holders.push_back(v);
        else if (at(v).up && !is_stale(v))
          up.push_back(v);
      }
      if (up.size() + 1 >= majority_of(latest.voters().size())) {
        trace("wipe node " + std::to_string(n) + " at its worst: slot "
              + std::to_string(newest.slot) + " held also by "
              + std::to_string(holders.size()) + " voters, which crash");
        for (auto h : holders)
          crash(h);
      }
    }
  }
  crash(n);
  nd.disk = memory_store{};
  nd.disk_incarnation = mix64(nd.disk_incarnation) | 1;
  nd.bootstrapped = false;
  nd.wiped = true;
  nd.wiped_knows_newest = chance(0.5);
  ++wipes_;
  trace("wipe node " + std::to_string(n) + ": incarnation "
        + std::to_string(nd.disk_incarnation)
        + (nd.wiped_knows_newest ? ", knows the newest configuration"
                                 : ", knows the bootstrap configuration"));
}

void cluster::restart(node_id n) {
  if (at(n).up)
    return;
  trace("restart node " + std::to_string(n));
  boot(n);
}

} // namespace paxoskv::sim
