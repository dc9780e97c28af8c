// Randomized runs of the simulator: parameters drawn from a seed, random
// faults, a lasting fault while clients must complete, and the final checks.
#include "test/sim/cluster.hpp"

#include <algorithm>
#include <map>
#include <sstream>

namespace paxoskv::sim {

// -- random runs -------------------------------------------------------------------

std::vector<client_op> random_ops(std::mt19937_64& rng, size_t count,
                                  uint64_t tag) {
  std::vector<client_op> ops;
  for (size_t i = 0; i < count; ++i) {
    auto key = "k" + std::to_string(rng() % 5);
    auto pick = rng() % 10;
    if (pick < 6)
      ops.push_back({op_code::set, key,
                     "v" + std::to_string(tag) + "." + std::to_string(i)});
    else if (pick < 9)
      ops.push_back({op_code::get, key, {},
                     static_cast<read_level>(rng() % 3)});
    else
      ops.push_back({op_code::del, key, {}});
  }
  return ops;
}

std::vector<client_op> redis_ops(std::mt19937_64& rng, size_t count,
                                 uint64_t tag) {
  std::vector<client_op> ops;
  auto level = [&] { return static_cast<read_level>(rng() % 3); };
  for (size_t i = 0; i < count; ++i) {
    client_op op;
    op.op = op_code::redis;
    auto n = std::to_string(1 + rng() % 9);
    auto e = "e" + std::to_string(rng() % 3);
    switch (rng() % 8) {
      case 0:
      case 1:
        // A transfer: one transaction, so ta + tb stays 0 for anyone who
        // reads both at once.
        op.redis = {"EXEC", "3", "INCRBY", "ta", "-" + n, "3", "INCRBY", "tb", n};
        break;
      case 2:
        op.redis = {"EXEC", "2", "GET", "ta", "2", "GET", "tb"};
        break;
      case 3:
        op.redis = {"MGET", "ta", "tb"};
        op.level = level();
        break;
      case 4:
        op.redis = {"SET", e, "v" + std::to_string(tag) + "." + std::to_string(i),
                    "PX", std::to_string(50 + rng() % 2000)};
        break;
      case 5:
        op.redis = {"PEXPIRE", e, std::to_string(50 + rng() % 2000)};
        break;
      case 6:
        op.redis = {"GET", e};
        op.level = level();
        break;
      default:
        op.redis = {"PTTL", e};
        op.level = level();
        break;
    }
    ops.push_back(std::move(op));
  }
  return ops;
}

random_run random_run::from_seed(uint64_t seed) {
  std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ULL + 7);
  auto uniform = [&](double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng);
  };
  random_run r;
  r.seed = seed;
  r.nodes = rng() % 2 == 0 ? 3 : 5;
  r.fault.drop = rng() % 4 == 0 ? 0.0 : uniform(0, 0.3);
  r.fault.duplicate = uniform(0, 0.1);
  r.fault.delay_max = rng() % 5;
  r.fault.commit_defer = uniform(0, 0.7);
  r.fault.commit_fail = rng() % 4 == 0 ? 0.002 : 0.0;
  static const double crash_rates[] = {0, 0.002, 0.01};
  static const double partition_rates[] = {0, 0.005, 0.02};
  r.crash_rate = crash_rates[rng() % 3];
  static const double pause_rates[] = {0, 0.003, 0.01};
  r.pause_rate = pause_rates[rng() % 3];
  r.partition_rate = partition_rates[rng() % 3];
  r.link_cut_rate = rng() % 3 == 0 ? 0.01 : 0.0;
  r.fault_ticks = 300 + rng() % 1700;
  r.clients = 1 + rng() % 5;
  r.commands_per_client = 5 + rng() % 56;
  static const size_t depths[] = {1, 1, 3, 8, 32};
  static const size_t client_windows[] = {2, 4, 64};
  r.client_window = client_windows[rng() % 3];
  // The client service never has more requests in flight than its
  // session's window (see client_server_config::in_flight_max).
  r.pipeline_depth = std::min(depths[rng() % 5], r.client_window);
  static const size_t windows[] = {1, 2, 4, 16};
  static const size_t batches[] = {1, 3, 256};
  static const size_t chunks[] = {2, 5, 64};
  r.window_slots_max = windows[rng() % 4];
  r.batch_commands_max = batches[rng() % 3];
  r.promise_entries_max = chunks[rng() % 3];
  r.learn_entries_max = chunks[rng() % 3];
  r.success_entries_max = chunks[rng() % 3];
  r.leases = rng() % 2 == 0;
  r.clock_drift = r.leases ? uniform(0, 0.02) : 0;
  static const int lasting[] = {0, 1, 1, 2};
  r.lasting_fault = lasting[rng() % 4];
  // Drawn last, so that adding it left the other parameters of every seed
  // as they were.
  if (r.nodes == 3 && rng() % 3 == 0)
    r.fronts = 2 + rng() % 2;
  // Wide margins leave a lease that is computed wrongly (from when grants
  // arrive, or with the margin added) long enough for a new leader to
  // write and the old one to serve a stale read; late messages (spikes)
  // are what a lease counted from arrival trusts wrongly.
  static const uint32_t margins[] = {30, 90, 200};
  r.lease_margin_ms = margins[rng() % 3];
  if (rng() % 3 == 0) {
    r.fault.spike = uniform(0, 0.05);
    r.fault.spike_ticks = 60;
  }
  r.mute_leader = rng() % 3 == 0;
  static const uint64_t thinks[] = {0, 0, 5, 30};
  r.think_max = thinks[rng() % 4];
  static const double edge_rates[] = {0, 0.002, 0.005};
  r.edge_rate = r.leases ? edge_rates[rng() % 3] : 0;
  // Few chosen values kept: lagging acceptors are told chosen floors.
  static const size_t kept[] = {1, 8, 1024};
  r.chosen_kept_max = kept[rng() % 3];
  // Compaction in most runs, with tails short enough that nodes down for
  // a while (or cut off) come back behind every log and need a snapshot;
  // chunks small enough that a transfer takes many, throttled.
  static const uint64_t tails[] = {2, 20, 10000};
  r.tail_slots = tails[rng() % 3];
  r.tail_bytes = rng() % 4 == 0 ? 400 : uint64_t{64} << 20;
  static const uint32_t chunk_sizes[] = {40, 700, 1 << 20};
  r.snapshot_chunk_bytes = chunk_sizes[rng() % 3];
  r.snapshot_bytes_per_tick = rng() % 2 == 0 ? 50 : 1 << 20;
  // Sessions that expire within the run (clients that think, or wait out
  // a fault, come back to "session expired"), and few of them.
  if (rng() % 4 == 0) {
    r.session_idle_slots = 20 + rng() % 200;
    r.sessions_max = 1 + rng() % 4;
  }
  // Membership changes in a third of the runs: spare acceptors are added,
  // promoted, demoted and removed, and voters removed, while the faults
  // play out; the window alpha as small as the proposer's window, a
  // little more, or the default.
  if (rng() % 3 == 0) {
    r.spares = 1 + rng() % 2;
    static const double change_rates[] = {0.005, 0.02};
    r.membership_rate = change_rates[rng() % 2];
    uint32_t window = static_cast<uint32_t>(r.window_slots_max);
    const uint32_t alphas[] = {window, window + 5, 64};
    r.alpha = alphas[rng() % 3];
    // In half of them spares' disks are wiped now and then (a lost disk
    // restarted under the same id).
    static const double wipe_rates[] = {0, 0.002, 0.01};
    r.wipe_rate = wipe_rates[rng() % 3];
  }
  // Redis commands in half the runs: transactions, reads of both sides of
  // a transfer at every level, keys with expiry; and nodes' wall clocks
  // stepping forwards and back (what stamps log entries).
  r.redis_share = rng() % 2 == 0 ? 0 : 1 + rng() % 3;
  r.clock_step_rate = rng() % 2 == 0 ? 0 : 0.005;
  return r;
}

std::string random_run::describe() const {
  std::ostringstream os;
  os << "seed=" << seed << " nodes=" << nodes << " clients=" << clients
     << " commands=" << commands_per_client << " drop=" << fault.drop
     << " dup=" << fault.duplicate << " delay_max=" << fault.delay_max
     << " commit_defer=" << fault.commit_defer
     << " commit_fail=" << fault.commit_fail << " crash=" << crash_rate << " pause=" << pause_rate
     << " partition=" << partition_rate << " link_cut=" << link_cut_rate
     << " fault_ticks=" << fault_ticks << " window=" << window_slots_max
     << " batch=" << batch_commands_max << " promise_chunk="
     << promise_entries_max << " learn_chunk=" << learn_entries_max
     << " success_chunk=" << success_entries_max << " depth="
     << pipeline_depth << " client_window=" << client_window
     << " leases=" << leases
     << " clock_drift=" << clock_drift << " lasting_fault=" << lasting_fault
     << " fronts=" << fronts << " lease_margin=" << lease_margin_ms
     << " spike=" << fault.spike << " mute_leader=" << mute_leader
     << " think_max=" << think_max << " edge=" << edge_rate
     << " chosen_kept=" << chosen_kept_max << " tail=" << tail_slots << "/"
     << tail_bytes << "B snapshot_chunk=" << snapshot_chunk_bytes
     << " snapshot_rate=" << snapshot_bytes_per_tick
     << " session_idle=" << session_idle_slots << " sessions_max="
     << sessions_max << " spares=" << spares << " membership_rate="
     << membership_rate << " alpha=" << alpha << " wipe=" << wipe_rate
     << " redis=" << redis_share << "/4 clock_steps=" << clock_step_rate;
  return os.str();
}

namespace {

/// An edge pause (see random_faults) under way.
struct edge_episode {
  bool active = false;
  uint64_t until = 0;
  /// The run's faults, back when it ends.
  faults saved;
  /// A wipe episode (see random_faults): the voting spare to wipe, the
  /// voters cut off with it, and when.
  node_id wipe_spare = 0;
  std::vector<node_id> wipe_with;
  uint64_t wipe_at = 0;
};

/// Pauses the lease holder and cuts it off, on an otherwise healthy and
/// quiet cluster, for anything from well within its lease to well past its
/// end as it computes it (the grant less the margin after its last
/// renewal) and as the acceptors grant it: a lease computed too long, or
/// acceptors that do not wait a lease out, let the woken leader answer from
/// a state that a new leader has overwritten meanwhile. Meanwhile a client of
/// another node writes a key and a client of the paused node reads it, a
/// few ticks apart, some after a write was acknowledged. False if no node
/// holds a lease or another node is down or paused.
bool start_edge_episode(cluster& c, const random_run& r, edge_episode& ep) {
  auto& rng = c.rng();
  auto ids = c.node_ids();
  node_id n = 0;
  for (auto m : ids)
    if (c.holds_lease(m) && !c.is_paused(m))
      n = m;
  if (n == 0)
    return false;
  for (auto m : ids)
    if (m != n && (!c.is_up(m) || c.is_paused(m)))
      return false;
  // From well within the lease (where a new leader must still wait) to
  // well past it as computed with the margin added.
  auto margin = r.lease_margin_ms / 10;
  auto ticks = 15 + rng() % (2 * margin + 30);
  c.heal_network();
  c.pause(n, ticks);
  std::vector<node_id> rest;
  for (auto m : ids)
    if (m != n)
      rest.push_back(m);
  c.partition({{n}, rest});
  ep = {true, c.now() + ticks + 20, c.current_faults()};
  c.set_faults({});
  auto fronts = c.front_ids();
  auto other = fronts[rng() % fronts.size()];
  if (other == n)
    other = fronts[(std::find(fronts.begin(), fronts.end(), n) - fronts.begin()
                    + 1) % fronts.size()];
  auto key = "k" + std::to_string(rng() % 5);
  // Unique: one episode at a time.
  auto tag = "edge" + std::to_string(c.now());
  std::vector<client_op> writes, reads;
  for (int i = 0; i < 8; ++i) {
    writes.push_back({op_code::set, key, tag + "." + std::to_string(i),
                      read_level::log, other});
    reads.push_back({op_code::get, key, {},
                     rng() % 3 == 0 ? read_level::leader : read_level::lease,
                     n});
  }
  c.add_client(std::move(writes), 8, ticks / 6 + 1);
  // Reads go on for a while after the paused node wakes.
  c.add_client(std::move(reads), 8, ticks / 4 + 2);
  return true;
}

/// An operator asks a random node for a random membership change that
/// makes sense for the configuration chosen last (or, now and then, one
/// that does not, or one for an older epoch: it must be refused).
void random_membership_change(cluster& c) {
  auto& rng = c.rng();
  auto& config = c.chosen_configs().latest().config;
  std::vector<membership_request> options;
  auto voters = config.voters();
  // A change must leave a majority of voters that can vote (wiped ones
  // cannot until removed and added again).
  auto keeps_majority = [&](const membership_request& r) {
    auto next = config;
    auto* m = const_cast<member*>(next.find(r.target.id));
    if (m == nullptr)
      return true;
    if (r.change == member_change::remove)
      next.members.erase(next.members.begin() + (m - next.members.data()));
    else
      m->voter = r.change == member_change::promote;
    return c.live_majority(next);
  };
  for (auto& m : config.members) {
    if (!m.has(role_acceptor))
      continue; // The fronts of the split layout stay as they are.
    if (c.is_stale(m.id)) {
      // Its disk was wiped: the operator removes it (it may be added
      // again later, with its new data directory).
      membership_request r;
      r.target = m;
      r.change = member_change::remove;
      options.push_back(r);
      options.push_back(r);
      continue;
    }
    // Nodes hosting every role stay members (their learners are checked
    // to the end); their acceptors are demoted and promoted.
    bool removable = !m.has(role_learner);
    membership_request r;
    r.target = m;
    if (m.voter) {
      if (voters.size() > 1) {
        r.change = member_change::demote;
        options.push_back(r);
        if (removable) {
          r.change = member_change::remove;
          options.push_back(r);
        }
      }
    } else {
      r.change = member_change::promote;
      options.push_back(r);
      options.push_back(r);
      if (removable) {
        r.change = member_change::remove;
        options.push_back(r);
      }
    }
  }
  for (auto n : c.spare_ids())
    if (config.find(n) == nullptr) {
      membership_request r;
      r.change = member_change::add;
      r.target = member{n, "node" + std::to_string(n),
                        static_cast<uint16_t>(n), role_acceptor, false,
                        c.disk_incarnation(n)};
      options.push_back(r);
    }
  options.erase(std::remove_if(options.begin(), options.end(),
                               [&](const membership_request& r) {
                                 return !keeps_majority(r);
                               }),
                options.end());
  if (options.empty())
    return;
  auto r = options[rng() % options.size()];
  // Half the learners made are to be promoted by the leader once caught up.
  r.target.promote = rng() % 2 == 0;
  r.expected_epoch = rng() % 4 == 0 ? 0 : config.epoch;
  if (rng() % 10 == 0)
    r.expected_epoch = config.epoch > 1 ? config.epoch - 1 : 7;
  auto fronts = c.front_ids();
  c.request_membership(fronts[rng() % fronts.size()], std::move(r));
}

/// One random fault event per call, at the run's rates.
void random_faults(cluster& c, const random_run& r, edge_episode& edge_ep) {
  auto& rng = c.rng();
  auto ids = c.node_ids();
  auto coin = [&](double p) {
    return std::uniform_real_distribution<double>(0, 1)(rng) < p;
  };
  // An edge pause plays out on a quiet network with no other fault: drops,
  // crashes and partitions would take the majority the new leader needs,
  // or the time it needs to write before the old leader wakes.
  if (edge_ep.active) {
    if (c.now() < edge_ep.until)
      return;
    edge_ep.active = false;
    c.set_faults(edge_ep.saved);
  }
  if (coin(r.crash_rate))
    c.crash(ids[rng() % ids.size()]);
  if (r.spares > 0 && coin(r.membership_rate))
    random_membership_change(c);
  if (edge_ep.wipe_spare != 0 && c.now() >= edge_ep.wipe_at) {
    // The spare and the voters that decided with it lose it together: its
    // disk is wiped and they crash, while the voters that missed all of it
    // come back. Were the wiped spare's former self to vote again, they
    // would decide those slots anew.
    c.wipe(edge_ep.wipe_spare);
    for (auto v : edge_ep.wipe_with)
      c.crash(v);
    c.heal_network();
    c.restart(edge_ep.wipe_spare);
    edge_ep.wipe_spare = 0;
  } else if (edge_ep.wipe_spare == 0 && r.wipe_rate > 0
             && coin(r.wipe_rate / 2)) {
    // A wipe episode, where the arithmetic allows: the spare and just a
    // majority less one of the voters decide alone for a while.
    auto& config = c.chosen_configs().latest().config;
    auto voters = config.voters();
    std::vector<node_id> spares;
    for (auto n : c.spare_ids())
      if (config.is_voter(n) && c.is_up(n) && !c.is_stale(n))
        spares.push_back(n);
    auto need = majority_of(voters.size());
    if (!spares.empty() && voters.size() + 1 >= 2 * need) {
      auto spare = spares[rng() % spares.size()];
      std::vector<node_id> others;
      // The leader decides on the spare's side (not in the split layout,
      // where leaders are not acceptors).
      auto leader = c.leader();
      if (leader != 0 && config.is_voter(leader) && leader != spare)
        others.push_back(leader);
      for (auto v : voters)
        if (v != spare && v != leader && !c.is_stale(v))
          others.push_back(v);
      if (!others.empty() && others.front() == leader
          && others.size() + 1 >= need) {
        std::vector<node_id> side{spare};
        side.insert(side.end(), others.begin(), others.begin() + (need - 1));
        std::vector<node_id> rest;
        for (auto n : c.node_ids())
          if (std::find(side.begin(), side.end(), n) == side.end())
            rest.push_back(n);
        c.partition({side, rest});
        edge_ep.wipe_spare = spare;
        edge_ep.wipe_with.assign(side.begin() + 1, side.end());
        edge_ep.wipe_at = c.now() + 100 + rng() % 200;
        c.trace("wipe episode: node " + std::to_string(spare)
                + " decides with a bare majority before its disk is wiped");
      }
    }
  }
  if (r.wipe_rate > 0 && coin(r.wipe_rate)) {
    // A voting spare: its lost acceptances are what a vote of its former
    // self would wrongly stand for.
    auto spares = c.spare_ids();
    std::vector<node_id> voting;
    for (auto n : spares)
      if (c.chosen_configs().latest().config.is_voter(n) && c.is_up(n))
        voting.push_back(n);
    if (!voting.empty())
      c.wipe(voting[rng() % voting.size()]);
  }
  if (coin(r.edge_rate) && start_edge_episode(c, r, edge_ep))
    return;
  if (coin(r.pause_rate)) {
    // Often the leader: a paused leader that wakes up is the classic
    // stale-read hazard.
    auto leader = c.leader();
    auto n = leader != 0 && rng() % 2 == 0 ? leader : ids[rng() % ids.size()];
    c.pause(n, 20 + rng() % 200);
    if (rng() % 2 == 0) {
      // Cut it off too: it wakes up having missed everything, while the
      // clients that reached it meanwhile wait for their answers.
      std::vector<node_id> rest;
      for (auto m : ids)
        if (m != n)
          rest.push_back(m);
      c.partition({{n}, rest});
    }
  }
  for (auto n : ids)
    if (!c.is_up(n) && coin(0.02))
      c.restart(n);
  if (coin(r.partition_rate)) {
    if (rng() % 3 == 0) {
      c.heal_network();
    } else {
      std::vector<std::vector<node_id>> groups(2);
      for (auto n : ids)
        groups[rng() % 2].push_back(n);
      c.partition(groups);
    }
  }
  if (r.mute_leader && coin(0.005)) {
    // The leader loses its outgoing links but hears everyone: it keeps
    // believing it leads while the others elect a new leader.
    auto leader = c.leader();
    if (leader != 0)
      c.mute(leader);
  }
  if (coin(r.link_cut_rate)) {
    auto a = ids[rng() % ids.size()];
    auto b = ids[rng() % ids.size()];
    if (a != b)
      c.cut_link(a, b, rng() % 2 == 0);
  }
}

} // namespace

namespace {

/// A fault that stays while clients of every node (the cut ones included)
/// must keep completing their requests; then it is removed.
void run_lasting_fault(cluster& c, const random_run& r) {
  auto& rng = c.rng();
  auto ids = c.node_ids();
  // A pause from the fault phase may outlast the heal: wait it out, or the
  // cut could leave no connected majority, which the check assumes.
  c.run_until(
    [&] {
      for (auto n : ids)
        if (c.is_paused(n))
          return false;
      return true;
    },
    1000);
  auto a = ids[rng() % ids.size()];
  auto b = ids[(std::find(ids.begin(), ids.end(), a) - ids.begin() + 1
                + rng() % (ids.size() - 1))
               % ids.size()];
  if (r.fronts > 0 && rng() % 2 == 0) {
    // Between two electors: each still reaches every acceptor.
    auto fronts = c.front_ids();
    std::shuffle(fronts.begin(), fronts.end(), rng);
    a = fronts[0];
    b = fronts[1];
  }
  std::string what = "link " + std::to_string(a) + "-" + std::to_string(b)
                     + (r.lasting_fault == 1 ? " cut" : " cut one way");
  if (r.lasting_fault == 1)
    c.cut_link(a, b);
  else
    c.cut_one_way(a, b);
  // Messages still overtake each other; nothing is lost. In runs with late
  // messages (spikes), messages keep the run's delays and some still come
  // up to 60 ticks late, so round trips through a relay often exceed the
  // resend periods: requests must still complete. Otherwise nothing is
  // late by more than a tick, so a relayed heartbeat's two hops stay well
  // within the election timeout, and the leadership must not change.
  faults slow;
  bool late = r.fault.spike > 0;
  slow.delay_max = std::min<uint32_t>(r.fault.delay_max, 1);
  if (late) {
    slow.delay_max = r.fault.delay_max;
    slow.spike = r.fault.spike;
    slow.spike_ticks = r.fault.spike_ticks;
  }
  c.set_faults(slow);
  // A few election timeouts to settle, then every request must succeed.
  // A heartbeat 60 ticks late looks like a dead leader (the election timeout
  // is 10): with late messages leadership may move, and a request may be
  // refused ("not applied") meanwhile, but none may time out.
  c.expect_definite_answers(150, late);
  for (auto n : c.front_ids()) {
    auto ops = random_ops(rng, 10, 100 + n);
    for (auto& op : ops)
      op.target = n;
    c.add_client(std::move(ops), r.pipeline_depth);
  }
  // Once settled, one broken link changes no leader: count the changes
  // from then on (one is allowed, for views converging after the cut).
  auto settled = c.now() + 150;
  c.run_until([&] { return c.now() >= settled; }, 150);
  std::map<node_id, uint64_t> changes;
  for (auto n : c.front_ids())
    changes[n] = c.leader_changes(n);
  if (!c.run_until([&] { return c.clients_done(); }, 3000) && !c.violation())
    c.report("liveness: clients not done while the " + what
             + " (a connected majority was there all along)");
  for (auto n : c.front_ids())
    if (!late && !c.violation() && c.leader_changes(n) > changes[n] + 1)
      c.report("elector " + std::to_string(n) + " changed its leader "
               + std::to_string(c.leader_changes(n) - changes[n])
               + " times while the " + what + " lasted");
  c.heal_network();
  c.set_faults({});
  c.run_until(
    [&] {
      auto prefix = c.chosen_prefix();
      for (auto n : c.front_ids())
        if (c.learner_of(n).next_slot() != prefix)
          return false;
      return true;
    },
    r.heal_ticks_max);
}

} // namespace

void enable_leases(options& o, uint32_t lease_ms, uint32_t margin_ms) {
  o.acceptor.lease_ms = lease_ms;
  o.proposer.lease_ms = lease_ms;
  o.proposer.lease_margin_ms = margin_ms != 0 ? margin_ms : lease_ms / 10;
  o.proposer.lease_renew_ms = 80;
}

run_result run_seed(
  uint64_t seed, std::ostream* trace,
  std::function<std::unique_ptr<store>(node_id)> make_store,
  std::function<std::unique_ptr<state_store>(node_id)> make_state_store) {
  auto r = random_run::from_seed(seed);
  options opts;
  opts.seed = seed;
  opts.nodes = r.nodes;
  opts.fronts = r.fronts;
  opts.spares = r.spares;
  opts.alpha = r.alpha;
  opts.trace = trace;
  opts.make_store = std::move(make_store);
  opts.make_state_store = std::move(make_state_store);
  opts.proposer.window_slots_max = r.window_slots_max;
  opts.proposer.batch_commands_max = r.batch_commands_max;
  opts.proposer.success_entries_max = r.success_entries_max;
  opts.proposer.chosen_kept_max = r.chosen_kept_max;
  opts.acceptor.tail_slots = r.tail_slots;
  opts.acceptor.tail_bytes = r.tail_bytes;
  opts.learner.snapshot_chunk_bytes = r.snapshot_chunk_bytes;
  opts.learner.snapshot_bytes_per_tick = r.snapshot_bytes_per_tick;
  opts.sessions.session_idle_slots = r.session_idle_slots;
  opts.sessions.sessions_max = r.sessions_max;
  opts.acceptor.promise_entries_max = r.promise_entries_max;
  opts.acceptor.learn_entries_max = r.learn_entries_max;
  opts.clock_drift = r.clock_drift;
  opts.client_window_max = r.client_window;
  if (r.leases)
    enable_leases(opts, 300, r.lease_margin_ms); // 30 ticks.
  cluster c(opts);
  c.set_faults(r.fault);
  // Its own generator: the other draws of every seed stay as they were.
  std::mt19937_64 extra(r.seed * 0x2545f4914f6cdd1dULL + 17);
  for (size_t i = 0; i < r.clients; ++i) {
    auto ops = random_ops(c.rng(), r.commands_per_client, i + 1);
    if (r.redis_share > 0) {
      auto redis = redis_ops(extra, ops.size(), i + 1);
      for (size_t j = 0; j < ops.size(); ++j)
        if (extra() % 4 < r.redis_share)
          ops[j] = std::move(redis[j]);
    }
    c.add_client(std::move(ops), r.pipeline_depth, r.think_max);
  }
  edge_episode edge_ep;
  for (uint64_t t = 0; t < r.fault_ticks && !c.violation(); ++t) {
    random_faults(c, r, edge_ep);
    if (r.clock_step_rate > 0
        && std::uniform_real_distribution<double>(0, 1)(extra)
             < r.clock_step_rate) {
      auto ids = c.node_ids();
      c.step_wall(ids[extra() % ids.size()],
                  static_cast<int64_t>(extra() % 120001) - 60000);
    }
    c.tick();
  }
  // Heal: a quiet network, every node up. Everything must now complete.
  c.set_faults({});
  c.heal_network();
  for (auto n : c.node_ids())
    c.restart(n);
  // Once healed, requests sent after a few election timeouts must succeed.
  c.expect_definite_answers(200);
  auto converged = [&] {
    if (!c.clients_done())
      return false;
    auto prefix = c.chosen_prefix();
    for (auto n : c.front_ids())
      if (c.learner_of(n).next_slot() != prefix)
        return false;
    return true;
  };
  c.run_until(converged, r.heal_ticks_max);
  if (r.lasting_fault != 0 && converged() && !c.violation())
    run_lasting_fault(c, r);
  c.check_final();
  run_result result;
  result.ok = !c.violation();
  result.violation = c.violation().value_or("");
  result.ticks = c.now();
  result.commands_acked = c.acks().size();
  result.slots_chosen = c.chosen_prefix();
  return result;
}

} // namespace paxoskv::sim
