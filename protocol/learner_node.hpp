// The learner side of one node: the state machine (learner) and the client
// sessions (client_table), wired together, with the decision where their
// messages go. The learner actor and the simulator both drive this class,
// so the seed sweep runs exactly the code a client talks to.
//
// Invariants kept by this class (besides those of its parts):
// - Every outcome of the learner reaches the client table in the order the
//   learner produced it, within the same step.
// - Client commands and read requests go to this node's proposer when it
//   hosts one, else to the proposer of the node that confirmed a read index
//   (the leader) within the last four resend periods, else to the
//   proposers in turn, one per resend.
#pragma once

#include <cstddef>
#include <vector>

#include "protocol/client_table.hpp"
#include "protocol/learner.hpp"

namespace paxoskv {

struct learner_node_config {
  learner_config learner;
  client_table_config table;
  /// Nodes hosting a proposer.
  std::vector<node_id> proposers;
};

struct learner_node_step {
  /// Slots applied, in order, and one outcome per command applied,
  /// duplicate or read answered (for observers and checks).
  std::vector<chosen_entry> applied;
  std::vector<command_outcome> outcomes;
  /// Answers to clients, in request order per client.
  std::vector<client_answer> answers;
  /// Messages to other roles.
  std::vector<envelope> send_now;
  /// The state machine's changes, to write behind (then on_state_durable).
  std::optional<state_write> state;
  /// Snapshot work for the shell (see learner_step).
  std::vector<snapshot_chunk> store_chunks;
  bool install_snapshot = false;
  std::vector<snapshot_request> serve;
  std::vector<std::string> notices;
};

class learner_node {
public:
  explicit learner_node(learner_node_config cfg);
  /// Over a state machine loaded from its durable form.
  learner_node(learner_node_config cfg, std::unique_ptr<state_machine> sm);

  learner_node_step on_chosen(const chosen& m);
  learner_node_step on_read_index(const read_index& m);
  learner_node_step on_refused(const command_refused& m);
  learner_node_step on_read_refused(const read_refused& m);
  learner_node_step on_request(client_request_in r);
  learner_node_step on_close(uint64_t client_id);
  learner_node_step on_tick();
  void on_state_durable(slot_t applied) { learner_.on_state_durable(applied); }
  learner_node_step on_snapshot_request(const snapshot_request& m);
  learner_node_step on_snapshot_chunk(const snapshot_chunk& m);
  learner_node_step on_chunk_stored(slot_t snapshot, uint64_t end, bool ok);
  learner_node_step on_snapshot_installed(std::unique_ptr<state_machine> sm,
                                          const std::string& error);
  learner_node_step resume_snapshot(const snapshot_transfer& t);

  const learner& replica() const { return learner_; }
  const client_table& clients() const { return table_; }

private:
  void absorb(learner_step&& s, learner_node_step& out);
  void absorb(client_table_step&& s, learner_node_step& out);
  node_id proposer_for();

  learner_node_config cfg_;
  learner learner_;
  client_table table_;
  bool hosts_proposer_ = false;
  /// The leader named by the last read index (0: none known), and when it
  /// was named: it is forgotten after `hint_ticks`, so a dead leader does
  /// not keep getting everything.
  node_id leader_hint_ = 0;
  uint64_t hint_tick_ = 0;
  uint64_t now_ = 0;
  size_t next_proposer_ = 0;
};

} // namespace paxoskv
