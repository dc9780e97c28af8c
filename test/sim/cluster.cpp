#include "test/sim/cluster_parts.hpp"

#include <algorithm>
#include <cassert>
#include <type_traits>

#include <caf/deep_to_string.hpp>

#include "protocol/overload.hpp"
#include "protocol/routing.hpp"
#include "test/sim/trace.hpp"

namespace paxoskv::sim {

namespace {

/// More messages in flight than this is a violation (a message storm).
constexpr size_t in_flight_max = 100000;

} // namespace

cluster::cluster(options opts) : opts_(std::move(opts)), rng_(opts_.seed) {
  assert(opts_.nodes >= 1);
  auto members = opts_.nodes + opts_.fronts;
  auto total = members + opts_.spares;
  for (node_id n = 1; n <= total; ++n) {
    nodes_[n] = std::make_unique<node>();
    nodes_[n]->id = n;
    if (opts_.fronts > 0) {
      nodes_[n]->hosts_acceptor = n <= opts_.nodes;
      nodes_[n]->hosts_front = n > opts_.nodes;
    }
    if (n > members) {
      nodes_[n]->hosts_acceptor = true;
      nodes_[n]->hosts_front = false;
      nodes_[n]->spare = true;
    }
    auto drift = static_cast<int64_t>(opts_.clock_drift * 10000);
    if (drift > 0)
      nodes_[n]->clock_rate = static_cast<uint64_t>(
        10000 + std::uniform_int_distribution<int64_t>(-drift, drift)(rng_));
    nodes_[n]->clock_offset = rng_() % 1000000;
    // Not from rng_: the runs' other draws stay as they were.
    nodes_[n]->disk_incarnation = mix64(opts_.seed * 1009 + n) | 1;
    nodes_[n]->bootstrapped = n <= members;
  }
  oracle_configs_ = bootstrap_configs();
  for (node_id n = 1; n <= total; ++n)
    boot(n);
}

cluster::~cluster() = default;

std::vector<node_id> cluster::ids_hosting(bool node::*role) const {
  std::vector<node_id> ids;
  for (auto& [id, nd] : nodes_)
    if (role == nullptr || (*nd).*role)
      ids.push_back(id);
  return ids;
}

std::vector<node_id> cluster::node_ids() const {
  return ids_hosting(nullptr);
}

std::vector<node_id> cluster::acceptor_ids() const {
  return ids_hosting(&node::hosts_acceptor);
}

std::vector<node_id> cluster::front_ids() const {
  return ids_hosting(&node::hosts_front);
}

config_history cluster::bootstrap_configs() const {
  auto fronts = front_ids();
  std::vector<node_id> acceptors;
  for (auto a : acceptor_ids())
    if (!at(a).spare)
      acceptors.push_back(a);
  return bootstrap_history(configuration_from_lists(
    acceptors, fronts, fronts, fronts, opts_.alpha));
}

std::vector<node_id> cluster::spare_ids() const {
  return ids_hosting(&node::spare);
}

cluster::node& cluster::at(node_id n) {
  return *nodes_.at(n);
}

const cluster::node& cluster::at(node_id n) const {
  return *nodes_.at(n);
}

namespace {

bool same_state(const durable_state& a, const durable_state& b) {
  return a.proposer_round == b.proposer_round
         && a.acceptor.promised == b.acceptor.promised
         && a.acceptor.log_start == b.acceptor.log_start
         && a.acceptor.entries == b.acceptor.entries
         && a.acceptor.configs == b.acceptor.configs;
}

} // namespace

durable_state cluster::restore(node& nd) {
  auto committed = nd.disk.load().value();
  if (!opts_.make_store)
    return committed;
  nd.backend.reset(); // Close before reopening, as a restarted process.
  nd.backend = opts_.make_store(nd.id);
  auto who = "store of node " + std::to_string(nd.id);
  if (!nd.backend) {
    fail(who + " failed to open");
    return committed;
  }
  auto loaded = nd.backend->load();
  if (!loaded)
    fail(who + " failed to load: " + loaded.error().message);
  else if (!same_state(loaded.value(), committed))
    fail(who + " reloaded a state other than the one committed");
  return committed;
}

void cluster::boot(node_id n) {
  auto& nd = at(n);
  auto acceptors = acceptor_ids();
  auto fronts = front_ids();
  auto disk = restore(nd);
  if (nd.hosts_acceptor) {
    auto acfg = opts_.acceptor;
    acfg.self = n;
    acfg.started_ms = clock_of(nd);
    acfg.configs = nd.wiped && nd.wiped_knows_newest ? oracle_configs_
                                                     : bootstrap_configs();
    acfg.incarnation = nd.disk_incarnation;
    acfg.bootstrapped = nd.bootstrapped;
    nd.acc = std::make_unique<acceptor>(acfg, std::move(disk.acceptor));
  }
  if (nd.hosts_front) {
    auto pcfg = opts_.proposer;
    pcfg.self = n;
    pcfg.configs = bootstrap_configs();
    pcfg.incarnation = nd.disk_incarnation;
    pcfg.bootstrapped = nd.bootstrapped;
    pcfg.jitter_seed = rng_();
    pcfg.wall_clock = [this, n] { return wall_of(n); };
    nd.prop = std::make_unique<proposer>(pcfg, disk.proposer_round);
    learner_node_config lcfg;
    lcfg.learner = opts_.learner;
    lcfg.learner.self = n;
    lcfg.learner.wall_clock = [this, n] { return wall_of(n); };
    lcfg.learner.acceptors = acceptors;
    lcfg.learner.configs = bootstrap_configs();
    lcfg.learner.read_id_base = (nd.incarnation + 1) << 40;
    lcfg.learner.read_resend_ticks = opts_.client_resend_ticks;
    lcfg.learner.read_timeout_ticks = opts_.client_timeout_ticks;
    lcfg.learner.replies_per_client_max = opts_.client_window_max;
    lcfg.table.self = n;
    lcfg.table.resend_ticks = opts_.client_resend_ticks;
    lcfg.table.timeout_ticks = opts_.client_timeout_ticks;
    lcfg.table.window_max = opts_.client_window_max;
    lcfg.proposers = fronts;
    nd.learn = std::make_unique<learner_node>(lcfg, restore_state(nd));
    auto ecfg = opts_.elector;
    ecfg.self = n;
    ecfg.nodes = fronts;
    ecfg.acceptors = bootstrap_configs().latest().config.voters();
    ecfg.boot = rng_();
    nd.elect = std::make_unique<elector>(ecfg);
  }
  nd.pending = {};
  nd.held.clear();
  nd.inbox.clear();
  nd.state_pending.reset();
  nd.chunks_pending.clear();
  nd.install_pending = false;
  nd.applied_commands.clear();
  follow_state(nd, false);
  ++nd.incarnation;
  nd.up = true;
  if (nd.learn)
    if (auto t = nd.state_disk.partial_snapshot())
      handle(nd, nd.learn->resume_snapshot(*t));
}

clock_ms cluster::clock_of(const node& nd) const {
  return nd.clock_offset + now_ * nd.clock_rate / 1000;
}

bool cluster::chance(double p) {
  if (p <= 0)
    return false;
  return std::uniform_real_distribution<double>(0, 1)(rng_) < p;
}

void cluster::trace(const std::string& line) {
  if (opts_.trace)
    *opts_.trace << "[" << now_ << "] " << line << std::endl;
}

void cluster::fail(const std::string& what) {
  if (!violation_) {
    violation_ = "tick " + std::to_string(now_) + ": " + what;
    trace("VIOLATION " + *violation_);
  }
}

void cluster::deliver_to_node(node& nd, uint64_t from, const message& m) {
  auto hosted = std::visit(
    [&](const auto& x) {
      constexpr auto r = role_of<std::decay_t<decltype(x)>>;
      return r == role::acceptor ? nd.hosts_acceptor
                                 : r != role::client && nd.hosts_front;
    },
    m);
  if (!hosted) {
    fail("node " + std::to_string(nd.id) + " got " + name_of(m) + " from "
         + std::to_string(from) + " for a role it does not host");
    return;
  }
  std::visit(
    overload{
      [&](const prepare& x) {
        handle(nd, nd.acc->on_prepare(x, clock_of(nd)));
      },
      [&](const promise& x) { handle(nd, nd.prop->on_promise(x)); },
      [&](const accept& x) { handle(nd, nd.acc->on_accept(x)); },
      [&](const accepted& x) { handle(nd, nd.prop->on_accepted(x)); },
      [&](const nack& x) { handle(nd, nd.prop->on_nack(x)); },
      [&](const success& x) { handle(nd, nd.acc->on_success(x)); },
      [&](const success_ack& x) { handle(nd, nd.prop->on_success_ack(x)); },
      [&](const success_relay& x) {
        handle(nd, nd.acc->on_success_relay(x));
      },
      [&](const chosen& x) { handle(nd, nd.learn->on_chosen(x)); },
      [&](const learn_request& x) {
        handle(nd, nd.acc->on_learn_request(x));
      },
      [&](const heartbeat& x) { handle(nd, nd.elect->on_heartbeat(x)); },
      [&](const leader_change& x) {
        handle(nd, nd.prop->on_leader_change(x));
      },
      [&](const client_command& x) {
        handle(nd, nd.prop->on_client_command(x));
      },
      [&](const client_batch& x) { handle(nd, nd.prop->on_client_batch(x)); },
      [&](const client_reply&) {
        fail("client_reply sent from " + std::to_string(from) + " to a node");
      },
      [&](const read_request& x) {
        note_read_arrival(nd, x);
        handle(nd, nd.prop->on_read_request(x, clock_of(nd)));
      },
      [&](const read_index& x) { handle(nd, nd.learn->on_read_index(x)); },
      [&](const command_refused& x) { handle(nd, nd.learn->on_refused(x)); },
      [&](const read_refused& x) {
        handle(nd, nd.learn->on_read_refused(x));
      },
      [&](const snapshot_request& x) {
        handle(nd, nd.learn->on_snapshot_request(x));
      },
      [&](const snapshot_chunk& x) {
        handle(nd, nd.learn->on_snapshot_chunk(x));
      },
      [&](const read_probe& x) {
        handle(nd, nd.acc->on_read_probe(x, clock_of(nd)));
      },
      [&](const read_probe_ack& x) {
        handle(nd, nd.prop->on_read_probe_ack(x, clock_of(nd)));
      },
      [&](const membership_request& x) {
        handle(nd, nd.prop->on_membership_request(x));
      },
      [&](const membership_reply&) {
        fail("membership_reply sent from " + std::to_string(from)
             + " to a node");
      },
      [&](const learner_progress& x) {
        handle(nd, nd.prop->on_learner_progress(x));
      },
    },
    m);
}

void cluster::serve_clients(node& nd) {
  auto inbox = std::move(nd.inbox);
  nd.inbox.clear();
  for (auto& r : inbox)
    handle(nd, nd.learn->on_request(std::move(r)));
}

// -- effects of core steps ---------------------------------------------------

template <class Write>
void cluster::handle_durable(node& nd, durable_step<Write>&& step,
                             const std::string& role_name) {
  auto who = role_name + " " + std::to_string(nd.id);
  for (auto& l : step.notices)
    trace(who + ": " + l);
  for (auto& l : step.log)
    trace(who + ": " + l);
  for (auto& e : step.send_now) {
    if (auto* c = std::get_if<chosen>(&e.msg))
      for (auto& ce : c->entries)
        check_chosen(ce.slot, ce.value, who + " announced");
    send(nd.id, std::move(e));
  }
  // The write joins the node's open group commit; the replies that depend
  // on it wait for that commit.
  if (step.write) {
    if constexpr (std::is_same_v<Write, acceptor_write>)
      check_chosen_marks(nd, *step.write);
    nd.pending.add(std::move(*step.write));
  }
  for (auto& e : step.after_write)
    nd.held.push_back(std::move(e));
}

void cluster::handle(node& nd, acceptor_step step) {
  bool entries_changed =
    step.write && (!step.write->entries.empty() || step.write->log_start);
  if (step.write && step.write->log_start)
    check_compaction(nd, *step.write->log_start);
  handle_durable(nd, std::move(step), "acceptor");
  // The byte count compaction relies on matches the entries held (it
  // changes only with entries written or a log cut).
  if (entries_changed && nd.acc) {
    uint64_t bytes = 0;
    for (auto& [slot, e] : nd.acc->entries())
      bytes += e.value.size_bytes();
    if (bytes != nd.acc->bytes_held())
      fail("acceptor " + std::to_string(nd.id) + " counts "
           + std::to_string(nd.acc->bytes_held()) + " bytes held, holds "
           + std::to_string(bytes));
  }
}

void cluster::handle(node& nd, proposer_step step) {
  check_read_indexes(nd, step.send_now);
  check_read_indexes(nd, step.after_write);
  handle_durable(nd, std::move(step), "proposer");
  // Bounded: phase 1 re-proposals wait for room like client batches.
  if (nd.prop->in_flight() > opts_.proposer.window_slots_max)
    fail("proposer " + std::to_string(nd.id) + " has "
         + std::to_string(nd.prop->in_flight()) + " slots in flight, window "
         + std::to_string(opts_.proposer.window_slots_max));
}

void cluster::handle(node& nd, const elector_step& step) {
  if (step.leader_changed)
    ++nd.leader_changes;
  if (step.leader_changed)
    trace("node " + std::to_string(nd.id) + " elector: leader is "
          + std::to_string(nd.elect->leader()));
  for (auto& e : step.send_now)
    send(nd.id, e);
}

void cluster::handle(node& nd, learner_node_step step) {
  auto who = "learner " + std::to_string(nd.id);
  if (step.state) {
    if (nd.state_pending)
      nd.state_pending->merge(std::move(*step.state));
    else
      nd.state_pending = std::move(step.state);
  }
  for (auto& n : step.notices)
    trace("node " + std::to_string(nd.id) + " learner: " + n);
  for (auto& c : step.store_chunks)
    nd.chunks_pending.push_back(std::move(c));
  if (step.install_snapshot)
    nd.install_pending = true;
  for (auto& r : step.serve)
    serve_snapshot(nd, r);
  for (auto& a : step.applied) {
    if (a.slot != nd.learner_next)
      fail(who + " applied slot " + std::to_string(a.slot) + " out of order");
    nd.learner_next = a.slot + 1;
    auto t = truth_.find(a.slot);
    if (t == truth_.end())
      fail(who + " applied slot " + std::to_string(a.slot)
           + " which is not chosen");
    else if (t->second != a.value)
      fail(who + " applied a value at slot " + std::to_string(a.slot)
           + " other than the chosen one");
  }
  for (auto& o : step.outcomes) {
    if (o.read || o.duplicate || o.out_of_order
        || (o.result.kind == result_kind::error
            && o.result.text == session_expired_error))
      continue; // Nothing took effect.
    auto key = std::make_pair(o.client_id, o.sequence);
    if (!nd.applied_commands.insert(key).second)
      fail(who + " applied command " + std::to_string(o.client_id) + "/"
           + std::to_string(o.sequence) + " twice");
    // A client's commands take effect in the order it sent them.
    auto& last = nd.client_applied[o.client_id];
    if (o.sequence != last + 1)
      fail(who + " applied command " + std::to_string(o.client_id) + "/"
           + std::to_string(o.sequence) + " after sequence "
           + std::to_string(last));
    last = o.sequence;
  }
  for (auto& e : step.send_now)
    send(nd.id, std::move(e));
  for (auto& a : step.answers) {
    auto* c = client_of_session(a.client_id);
    if (c != nullptr && c->node == nd.id)
      on_answer(*c, a);
  }
}

// -- durability ----------------------------------------------------------------

void cluster::maybe_commit(node& nd) {
  if (nd.up && nd.paused_until <= now_ && !chance(faults_.commit_defer))
    commit(nd);
}

void cluster::commit(node& nd) {
  commit_state(nd);
  if (nd.pending.empty() && nd.held.empty())
    return;
  if (!nd.pending.empty() && chance(faults_.commit_fail)) {
    trace("commit of node " + std::to_string(nd.id) + " failed; it stops");
    crash(nd.id);
    return;
  }
  // The oracle counts votes from exactly what became durable, in order.
  for (auto& e : nd.pending.acceptor.entries) {
    if (e.chosen)
      continue; // Checked when the mark was made.
    votes_[{e.slot, e.accepted_ballot}].insert({nd.id, nd.disk_incarnation});
    vote_values_.emplace(std::make_pair(e.slot, e.accepted_ballot), e.value);
    count_votes(e.slot, e.accepted_ballot);
  }
  if (nd.backend)
    if (auto err = nd.backend->commit(nd.pending))
      fail("store of node " + std::to_string(nd.id)
           + " failed to commit: " + err->message);
  nd.disk.commit(nd.pending);
  nd.pending = {};
  auto held = std::move(nd.held);
  nd.held.clear();
  for (auto& e : held)
    send(nd.id, std::move(e));
}

// -- running -------------------------------------------------------------------

void cluster::tick() {
  ++now_;
  // Timers, in a random node order.
  auto ids = node_ids();
  std::shuffle(ids.begin(), ids.end(), rng_);
  for (auto n : ids) {
    auto& nd = at(n);
    if (!nd.up || nd.paused_until > now_)
      continue;
    if (nd.hosts_front) {
      if (opts_.fronts > 0) {
        // Its process's connections tell the elector which acceptors it
        // reaches (as the route table does in paxoskv-node).
        std::vector<node_id> reachable;
        for (auto m : connected(n))
          if (at(m).hosts_acceptor)
            reachable.push_back(m);
        nd.elect->set_reachable_acceptors(std::move(reachable));
      }
      handle(nd, nd.elect->on_tick());
      handle(nd, nd.prop->on_tick(clock_of(nd)));
      handle(nd, nd.learn->on_tick());
      serve_clients(nd);
    }
    maybe_commit(nd);
  }
  tick_clients();
  // Deliver what is due, in a random order; what a delivery sends is due
  // at a later tick.
  std::vector<packet> due;
  auto split = std::partition(network_.begin(), network_.end(),
                              [&](const packet& p) {
                                return p.deliver_at > now_;
                              });
  due.assign(std::make_move_iterator(split),
             std::make_move_iterator(network_.end()));
  network_.erase(split, network_.end());
  // Resources stay bounded: a cluster of a few nodes never needs this many
  // messages in flight unless some exchange feeds on itself.
  if (network_.size() + due.size() > in_flight_max)
    fail("message storm: " + std::to_string(network_.size() + due.size())
         + " messages in flight");
  std::shuffle(due.begin(), due.end(), rng_);
  for (auto& p : due)
    deliver(p);
  // Forwards buffered during the tick leave as batches; open group commits
  // close eventually.
  for (auto n : ids)
    if (at(n).up && !is_paused(n) && at(n).prop)
      handle(at(n), at(n).prop->flush_forwards());
  for (auto n : ids)
    if (at(n).up && !is_paused(n) && chance(0.5))
      commit(at(n));
}

bool cluster::run_until(const std::function<bool()>& done,
                        uint64_t max_ticks) {
  for (uint64_t i = 0; i < max_ticks; ++i) {
    if (done())
      return true;
    if (violation_)
      return false;
    tick();
  }
  return done();
}

node_id cluster::leader() const {
  node_id best = 0;
  ballot best_ballot;
  for (auto& [id, nd] : nodes_)
    if (nd->up && nd->prop && nd->prop->phase() == proposer_phase::leading
        && (best == 0 || nd->prop->current_ballot() > best_ballot)) {
      best = id;
      best_ballot = nd->prop->current_ballot();
    }
  return best;
}

uint64_t cluster::leader_changes(node_id n) const {
  return at(n).leader_changes;
}

bool cluster::holds_lease(node_id n) const {
  auto& nd = at(n);
  return nd.up && nd.prop && nd.prop->lease_held(clock_of(nd));
}

const proposer& cluster::proposer_of(node_id n) const {
  assert(at(n).up && at(n).prop);
  return *at(n).prop;
}
const acceptor& cluster::acceptor_of(node_id n) const {
  assert(at(n).up && at(n).acc);
  return *at(n).acc;
}
const learner& cluster::learner_of(node_id n) const {
  assert(at(n).up && at(n).learn);
  return at(n).learn->replica();
}
const learner_node& cluster::learner_node_of(node_id n) const {
  assert(at(n).up && at(n).learn);
  return *at(n).learn;
}
const elector& cluster::elector_of(node_id n) const {
  assert(at(n).up && at(n).elect);
  return *at(n).elect;
}
const memory_store& cluster::store_of(node_id n) const {
  return at(n).disk;
}

} // namespace paxoskv::sim
