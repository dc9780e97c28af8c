// A deterministic whole-cluster simulator over the pure protocol cores.
//
// N nodes, each hosting one acceptor, proposer, learner and elector, run in
// one process. Time is ticks. The network is a seeded random process that
// drops, duplicates, delays (and so reorders) messages and can partition
// nodes. Each node keeps its durable state in a `memory_store`; writes a
// handler asks for wait in a pending group commit together with the replies
// that depend on them, and a crash loses both. Clients submit commands to
// random nodes and retry on timeout.
//
// As messages leave a node it checks that promises and accepted replies are
// already durable, and that no ballot is reused by a restarted proposer or
// carries two values for one slot. After every step it checks:
// - at most one value is chosen per slot (chosen = accepted durably by a
//   majority under one ballot, computed from the acceptors' commits, not
//   from what any node believes);
// - every value a node treats as chosen (acceptor chosen marks, chosen
//   notifications, learner applications) is that value;
// - every learner applies slots in order, so all applied sequences are
//   prefixes of one another;
// - every learner changes its state at most once per (client, sequence),
//   and a client's commands in sequence order;
// - every connection gets its answers in the order it sent its requests.
// `check_final` then checks liveness and what clients were told.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "protocol/acceptor.hpp"
#include "protocol/elector.hpp"
#include "protocol/kv_machine.hpp"
#include "protocol/learner_node.hpp"
#include "protocol/proposer.hpp"
#include "storage/state_store.hpp"
#include "storage/store.hpp"

namespace paxoskv::sim {

/// Network and disk misbehaviour, changeable while running.
struct faults {
  /// Probability that a message between two nodes is lost.
  double drop = 0;
  /// Probability that a message is delivered twice.
  double duplicate = 0;
  /// Extra delivery delay in ticks, uniform in [0, delay_max]; reorders.
  uint32_t delay_max = 0;
  /// Probability that a message is held up much longer: uniform in
  /// [0, spike_ticks] extra ticks (a retransmission after a lost segment,
  /// a stalled queue). Late replies are what a lease must not trust.
  double spike = 0;
  uint32_t spike_ticks = 0;
  /// Probability that a node leaves its group commit open after a step
  /// (more work joins the same commit; a crash loses all of it).
  double commit_defer = 0;
  /// Probability that a group commit fails (a full or broken disk). The
  /// node then stops, as paxoskv-node does: the failed commit and the
  /// replies held for it are lost, and it restarts from what was durable.
  double commit_fail = 0;
};

struct options {
  uint64_t seed = 1;
  /// Nodes 1..nodes host an acceptor each.
  size_t nodes = 3;
  /// Roles in separate processes (the split layout): when not 0, nodes
  /// 1..nodes host only an acceptor, and nodes nodes+1..nodes+fronts host
  /// a proposer, a learner and an elector each. When 0, every node hosts
  /// all four roles.
  size_t fronts = 0;
  /// Nodes hosting only an acceptor that are not members at start
  /// (numbered after the others): membership changes add them.
  size_t spares = 0;
  /// Ticks a node waits for a command to be applied before it answers
  /// "outcome unknown" (reads: "not applied").
  uint32_t client_timeout_ticks = 1500;
  /// Ticks before a node resends a command not yet applied.
  uint32_t client_resend_ticks = 10;
  /// Log commands a session may have unapplied at once.
  size_t client_window_max = 64;
  /// A tick is 10 ms of simulated time; each node's clock runs at its own
  /// rate, drawn within +-clock_drift (0.02: 2 %).
  double clock_drift = 0;
  /// The membership window (membership.hpp) of the bootstrap
  /// configuration; at least the proposer's window.
  uint32_t alpha = 64;
  /// Core settings (self and peer lists are filled in per node).
  proposer_config proposer;
  learner_config learner;
  elector_config elector;
  acceptor_config acceptor;
  /// Where to print every event when verbose (nullptr: quiet).
  std::ostream* trace = nullptr;
  /// Opens node n's real store (for example LMDB in a temp dir); called at
  /// every boot, after the previous instance was closed. Empty: in-memory
  /// only. Either way an in-memory copy of what was committed is kept, and
  /// every reload must return exactly that.
  std::function<std::unique_ptr<store>(node_id)> make_store;
  /// The state machine's session bounds (every replica, and the reference
  /// machine of the final checks).
  kv_machine_config sessions;
  /// The same for node n's learner state store.
  std::function<std::unique_ptr<state_store>(node_id)> make_state_store;
};

/// One command a client issues; the simulator adds (client_id, sequence).
struct client_op {
  op_code op = op_code::set;
  std::string key;
  std::string value;
  /// How a get is served.
  read_level level = read_level::log;
  /// The node to connect to when this op is the next to send and the
  /// client has no connection (0: a random node).
  node_id target = 0;
  /// With op_code::redis: the whole command (name first); `key` unused.
  std::vector<std::string> redis;
};

/// What a client was told about one of its commands.
struct client_ack {
  /// The session, the log sequence (0: a leader or lease read, or refused
  /// before it was numbered), and the operation.
  command cmd;
  command_result result;
  read_level level = read_level::log;
  /// Tick of the first send and of the reply.
  uint64_t invoked = 0;
  uint64_t completed = 0;
};

class cluster {
public:
  explicit cluster(options opts);
  ~cluster();

  // -- running ---------------------------------------------------------------

  /// Advances one tick: timers, deliveries, commits, clients.
  void tick();

  /// Ticks until `done` holds or `max_ticks` passed, or a violation.
  /// Returns whether `done` holds.
  bool run_until(const std::function<bool()>& done, uint64_t max_ticks);

  uint64_t now() const { return now_; }

  // -- faults ----------------------------------------------------------------

  void set_faults(const faults& f) { faults_ = f; }
  const faults& current_faults() const { return faults_; }

  /// Splits the nodes into groups that cannot talk to each other.
  void partition(const std::vector<std::vector<node_id>>& groups);

  /// Cuts (or restores) the link between two nodes, in both directions.
  void cut_link(node_id a, node_id b, bool cut = true);

  /// Cuts (or restores) the link from `a` to `b` only: what `a` sends to
  /// `b` is lost, the other way works.
  void cut_one_way(node_id a, node_id b, bool cut = true);

  /// Cuts every link from `n` one way: it hears everyone, nobody hears it
  /// (a half-broken network card). A leader so muted still believes it
  /// leads, which is what leases must be safe against.
  void mute(node_id n);

  /// Removes every partition and cut link.
  void heal_network();

  /// Kills a node: volatile state, open group commit and held replies are
  /// lost; what was committed stays.
  void crash(node_id n);

  /// Starts a crashed node again from its durable state.
  void restart(node_id n);

  bool is_up(node_id n) const;

  /// Freezes a node for `ticks` (a stopped process, a long GC pause): no
  /// timers, no deliveries, no commits; messages to it wait. Its clock
  /// keeps running, so it wakes up with stale beliefs.
  void pause(node_id n, uint64_t ticks);

  bool is_paused(node_id n) const;

  // -- clients ---------------------------------------------------------------

  /// Adds a client that issues `ops` in order, at most `depth` at once on
  /// its connection, waiting up to `think_max` ticks (uniform) before each
  /// send. Returns its index.
  size_t add_client(std::vector<client_op> ops, size_t depth = 1,
                    uint64_t think_max = 0);

  /// From now on every answer must be definite (no "outcome unknown" or
  /// "not applied") for requests sent after `grace` more ticks.
  /// With `quick_refusals`, a "not applied" that comes before the client
  /// timeout (a refusal while leadership moves) is allowed too; a request
  /// that times out is not.
  void expect_definite_answers(uint64_t grace, bool quick_refusals = false);

  /// True when every client got a reply for every command.
  bool clients_done() const;

  /// Every reply clients got, in the order they got them.
  const std::vector<client_ack>& acks() const { return acks_; }

  // -- observation -----------------------------------------------------------

  /// The first safety violation seen, if any.
  const std::optional<std::string>& violation() const { return violation_; }

  /// Records a violation found by a caller's own check.
  void report(const std::string& what) { fail(what); }

  /// Checks liveness and client results: all clients done, all learners at
  /// the same slot, every reply of a write or log read equal to what a
  /// reference state machine replaying the chosen log computes, and the
  /// whole history (leader and lease reads included) linearizable. Records
  /// a violation otherwise.
  void check_final();

  /// The node whose proposer is leading with the highest ballot (0: none).
  node_id leader() const;

  /// How often node n's elector changed its leader, over all its
  /// incarnations.
  uint64_t leader_changes(node_id n) const;

  /// Whether node n's proposer holds a lease by its own clock.
  bool holds_lease(node_id n) const;

  /// Chosen values as computed from the acceptors' durable commits.
  const std::map<slot_t, log_value>& chosen_log() const { return truth_; }

  /// Number of slots chosen from slot 0 without a gap.
  slot_t chosen_prefix() const;

  const proposer& proposer_of(node_id n) const;
  const acceptor& acceptor_of(node_id n) const;
  const learner& learner_of(node_id n) const;
  const learner_node& learner_node_of(node_id n) const;
  const elector& elector_of(node_id n) const;
  const memory_store& store_of(node_id n) const;

  /// Messages sent, by type name (counted when sent, delivered or not).
  const std::map<std::string, uint64_t>& sent() const { return sent_; }
  void reset_counts() { sent_.clear(); }

  /// Every node, whatever roles it hosts.
  std::vector<node_id> node_ids() const;
  /// The nodes hosting an acceptor, and those hosting a proposer, a
  /// learner and an elector (the same nodes unless the layout is split).
  std::vector<node_id> acceptor_ids() const;
  std::vector<node_id> front_ids() const;
  /// The configuration the cluster starts with (every node a voter).
  config_history bootstrap_configs() const;
  /// Nodes that are not members at start.
  std::vector<node_id> spare_ids() const;
  /// The incarnation of node n's data directory (membership.hpp).
  uint64_t disk_incarnation(node_id n) const;
  /// Crashes node n and wipes its acceptor's disk (not with a real store):
  /// restarted, it has a new incarnation, counts as a directory that
  /// joined, and knows the bootstrap configuration or (as if fetched by a
  /// join) the newest one chosen. It must never vote as its former self.
  void wipe(node_id n);
  /// Node n's disk was wiped and the newest chosen configuration lists it
  /// as its former self: it does not vote until removed and added again.
  bool is_stale(node_id n) const;
  /// Whether `c` keeps a majority of its voters among members that are not
  /// stale (and not `also_dead`): what a wipe or a change must leave.
  bool live_majority(const configuration& c, node_id also_dead = 0) const;

  // -- membership ------------------------------------------------------------

  /// An operator sends a membership change to node `via`'s proposer; the
  /// answer is checked and counted.
  void request_membership(node_id via, membership_request r);
  /// Every configuration chosen so far (the oracle's, from the chosen
  /// prefix; never trimmed).
  const config_history& chosen_configs() const { return oracle_configs_; }
  struct membership_counts {
    uint64_t asked = 0, done = 0, refused = 0, unknown = 0;
  };
  const membership_counts& membership_answers() const {
    return membership_counts_;
  }
  /// Disks wiped (see wipe).
  uint64_t wipes() const { return wipes_; }
  std::mt19937_64& rng() { return rng_; }
  /// A line of the run's trace (--verbose).
  void trace(const std::string& line);

private:
  struct node;
  struct client;
  struct packet {
    uint64_t deliver_at = 0;
    uint64_t from = 0;
    envelope env;
    /// The relay it goes through first (0: straight to env.to).
    node_id via = 0;
  };

  node& at(node_id n);
  const node& at(node_id n) const;
  /// The nodes whose `role` flag is set (every node for nullptr).
  std::vector<node_id> ids_hosting(bool node::*role) const;
  void boot(node_id n);
  /// The durable state a booting node starts from; reopens its real store
  /// and checks it returns exactly what was committed.
  durable_state restore(node& nd);
  /// The learner's state machine a booting node starts from; reopens its
  /// real state store and checks it loads exactly what was committed.
  std::unique_ptr<state_machine> restore_state(node& nd);
  /// Every replica's state machine settings.
  kv_machine_config machine_config() const;
  void send(uint64_t from, envelope env);
  void deliver(const packet& p);
  /// A packet reached its relay: on to its destination if the relay
  /// reaches it.
  void relay(const packet& p);
  /// The nodes `n` reaches directly (what its connections tell it).
  std::vector<node_id> connected(node_id n) const;
  void deliver_to_node(node& nd, uint64_t from, const message& m);
  /// Hands a client's queued requests to its node (when it is not paused).
  void serve_clients(node& nd);
  /// The node's local clock in ms.
  clock_ms clock_of(const node& nd) const;
public:
  /// Node n's wall clock (Unix ms).
  uint64_t wall_of(node_id n) const;
  /// Steps node n's wall clock by `delta_ms` (either way).
  void step_wall(node_id n, int64_t delta_ms);
private:
  template <class Write>
  void handle_durable(node& nd, durable_step<Write>&& step,
                      const std::string& role_name);
  void handle(node& nd, acceptor_step step);
  void handle(node& nd, proposer_step step);
  void handle(node& nd, const elector_step& step);
  void handle(node& nd, learner_node_step step);
  /// The learner state store's commit: state changes, snapshot chunks and
  /// installs that were pending.
  void commit_state(node& nd);
  /// Answers a learner's request for a snapshot chunk.
  void serve_snapshot(node& nd, const snapshot_request& r);
  /// The oracle follows a learner to the state it restored or installed;
  /// an installed one must equal the reference machine at its slot.
  void follow_state(node& nd, bool installed);
  /// The reference machine's durable form after slots [0, upto).
  state_image reference_image(slot_t upto) const;
  client* client_of_session(uint64_t session);
  void maybe_commit(node& nd);
  void commit(node& nd);
  void tick_clients();
  void client_send(client& c);
  /// The client's connection broke: what it was not told ends unknown.
  void disconnect(client& c);
  void on_answer(client& c, const client_answer& a);
  void record_ack(client& c, size_t op_index, uint64_t invoked,
                  const client_answer& a);
  bool link_up(uint64_t from, uint64_t to) const;
  /// Durability order and ballot uniqueness, checked as messages leave.
  void check_outgoing(uint64_t from, const message& m);
  void check_chosen_marks(const node& nd, const acceptor_write& w);
  void note_truth(slot_t slot, const log_value& v, const std::string& who);
  /// A read request reached a node's proposer: what its index must cover.
  void note_read_arrival(const node& nd, const read_request& r);
  /// Every read index a proposer sends covers each slot chosen before the
  /// request first reached it (linearizable reads, PROTOCOL.md rule 6).
  void check_read_indexes(const node& nd, const std::vector<envelope>& out);
  /// An acceptor cut its log below `start`: a majority of the learners it
  /// counts had their state durable at or above it (compaction forgets
  /// only what a majority of state stores hold).
  void check_compaction(const node& nd, slot_t start);
  /// A vote for (slot, ballot) became durable: the slot is chosen when the
  /// votes hold a quorum of the configuration governing it, which is known
  /// once the chosen prefix reaches slot - alpha + 1 (until then the
  /// decision waits).
  void count_votes(slot_t slot, const ballot& b);
  void on_membership_reply(const membership_reply& r);
  void check_chosen(slot_t slot, const log_value& v, const std::string& who);
  void fail(const std::string& what);
  bool chance(double p);

  options opts_;
  std::mt19937_64 rng_;
  faults faults_;
  uint64_t now_ = 0;
  std::map<node_id, std::unique_ptr<node>> nodes_;
  std::vector<packet> network_;
  std::map<uint64_t, size_t> group_of_;
  std::set<std::pair<uint64_t, uint64_t>> cut_links_;
  std::vector<std::unique_ptr<client>> clients_;
  std::vector<client_ack> acks_;
  uint64_t next_session_ = 0;
  /// Requests sent at or after this tick must get definite answers.
  uint64_t definite_after_ = UINT64_MAX;
  bool quick_refusals_ = false;
  std::map<std::string, uint64_t> sent_;
  // Safety oracle: votes per (slot, ballot) from durable commits, by node
  // and the incarnation of its data directory (a wiped disk's votes are
  // not the member's).
  std::map<std::pair<slot_t, ballot>, std::set<std::pair<node_id, uint64_t>>>
    votes_;
  /// The value of each (slot, ballot) voted for (one per pair).
  std::map<std::pair<slot_t, ballot>, log_value> vote_values_;
  std::map<slot_t, log_value> truth_;
  /// Slots chosen from 0 without a gap, and the configurations among them.
  slot_t truth_prefix_ = 0;
  config_history oracle_configs_;
  /// Votes waiting for the configuration of their slot to be known.
  std::set<std::pair<slot_t, ballot>> deferred_votes_;
  /// By (proposer, learner, read id): one past the highest slot chosen
  /// when the read request first reached that proposer.
  std::map<std::tuple<node_id, node_id, uint64_t>, slot_t> read_floors_;
  /// The highest slot each node's state store has held durable, in any of
  /// its disk's lives (an acceptor may count a report from before a wipe).
  std::map<node_id, slot_t> durable_seen_;
  membership_counts membership_counts_;
  uint64_t wipes_ = 0;
  std::map<ballot, uint64_t> ballot_owner_;
  std::map<std::pair<slot_t, ballot>, log_value> proposed_;
  std::optional<std::string> violation_;
};

/// A durable form without its saved replies (kv_machine bounds them; the
/// reference machine keeps all).
state_image without_replies(state_image img);

/// Turns leases on: `lease_ms` granted and asked for, `margin_ms` (a tenth
/// of it when 0) taken off for drift, renewed every 8 ticks (80 ms).
void enable_leases(options& o, uint32_t lease_ms, uint32_t margin_ms = 0);

/// Parameters of one randomized run, all drawn from its seed.
struct random_run {
  uint64_t seed = 0;
  size_t nodes = 3;
  size_t clients = 1;
  size_t commands_per_client = 10;
  /// Requests each client pipelines on its connection.
  size_t pipeline_depth = 1;
  /// Ticks a client may wait before each send (uniform in [0, think_max]):
  /// requests then start at any moment of a fault, not only right after
  /// the previous answer.
  uint64_t think_max = 0;
  /// Log commands a session may have unapplied, and saved replies.
  size_t client_window = 64;
  faults fault;
  double crash_rate = 0;
  double partition_rate = 0;
  /// Probability per tick of pausing one node for a while.
  double pause_rate = 0;
  /// Probability per tick of cutting (or restoring) one link.
  double link_cut_rate = 0;
  uint64_t fault_ticks = 0;
  uint64_t heal_ticks_max = 6000;
  /// Core limits, small ones included to exercise chunking and windows.
  size_t window_slots_max = 16;
  size_t batch_commands_max = 256;
  size_t promise_entries_max = 64;
  size_t learn_entries_max = 64;
  size_t success_entries_max = 32;
  /// Chosen values a leader keeps for lagging acceptors.
  size_t chosen_kept_max = 1024;
  /// Compaction tails, and snapshot chunk size and pace.
  uint64_t tail_slots = 10000;
  uint64_t tail_bytes = uint64_t{64} << 20;
  uint32_t snapshot_chunk_bytes = 1 << 20;
  uint64_t snapshot_bytes_per_tick = 1 << 20;
  /// Session bounds: expiry after this many idle slots, at most so many.
  uint64_t session_idle_slots = 1000000;
  size_t sessions_max = 100000;
  /// Spare acceptors, how often (per tick of the fault phase) an operator
  /// asks for a membership change, and the window alpha.
  size_t spares = 0;
  double membership_rate = 0;
  uint32_t alpha = 64;
  /// How often (per tick of the fault phase) a spare's disk is wiped.
  double wipe_rate = 0;
  /// Of every 4 client operations, this many are Redis commands
  /// (redis_ops); 0: none.
  uint32_t redis_share = 0;
  /// Per tick, the chance that a node's wall clock steps (by up to a
  /// minute, either way).
  double clock_step_rate = 0;
  /// Leases on (lease reads answered without a round), the margin taken
  /// off them, and clock drift.
  bool leases = false;
  uint32_t lease_margin_ms = 30;
  double clock_drift = 0;
  /// After healing, a fault that lasts while clients must keep completing:
  /// 0 none, 1 a link cut both ways, 2 a link cut one way.
  int lasting_fault = 0;
  /// Probability per tick of an edge episode (leases only): the lease
  /// holder paused and cut off until just past its lease's end, with a
  /// write elsewhere and reads of it at the paused node.
  double edge_rate = 0;
  /// Now and then, mute the leader (see cluster::mute).
  bool mute_leader = false;
  /// Roles in separate processes: `nodes` acceptor-only nodes and this
  /// many nodes with a proposer, learner and elector (0: every node hosts
  /// every role).
  size_t fronts = 0;

  static random_run from_seed(uint64_t seed);
  std::string describe() const;
};

struct run_result {
  bool ok = true;
  std::string violation;
  uint64_t ticks = 0;
  size_t commands_acked = 0;
  slot_t slots_chosen = 0;
};

/// Runs one seed: faults for `fault_ticks`, then heals everything and
/// requires liveness within `heal_ticks_max`.
run_result run_seed(
  uint64_t seed, std::ostream* trace = nullptr,
  std::function<std::unique_ptr<store>(node_id)> make_store = {},
  std::function<std::unique_ptr<state_store>(node_id)> make_state_store = {});

/// Random client operations over a small key space (so keys collide).
std::vector<client_op> random_ops(std::mt19937_64& rng, size_t count,
                                  uint64_t tag);

} // namespace paxoskv::sim
