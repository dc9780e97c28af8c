#include "protocol/learner_node.hpp"

#include "protocol/kv_machine.hpp"

#include <algorithm>
#include <cassert>

namespace paxoskv {

learner_node::learner_node(learner_node_config cfg)
  : learner_node(cfg, std::make_unique<kv_machine>(kv_machine_config{
                        cfg.learner.replies_per_client_max})) {}

learner_node::learner_node(learner_node_config cfg,
                           std::unique_ptr<state_machine> sm)
  : cfg_(std::move(cfg)),
    learner_(cfg_.learner, std::move(sm)),
    table_(cfg_.table) {
  hosts_proposer_ = std::find(cfg_.proposers.begin(), cfg_.proposers.end(),
                              cfg_.learner.self)
                    != cfg_.proposers.end();
}

node_id learner_node::proposer_for() {
  if (hosts_proposer_)
    return cfg_.learner.self;
  if (leader_hint_ != 0 && now_ - hint_tick_ <= 4 * cfg_.table.resend_ticks)
    return leader_hint_;
  // The proposers of the newest configuration known (membership.hpp);
  // the configured list before any.
  auto& configs = learner_.configs();
  auto from_config = configs.empty()
                       ? std::vector<node_id>{}
                       : configs.latest().config.with_role(role_proposer);
  auto& proposers = from_config.empty() ? cfg_.proposers : from_config;
  if (proposers.empty())
    return 0;
  return proposers[next_proposer_++ % proposers.size()];
}

void learner_node::absorb(client_table_step&& s, learner_node_step& out) {
  for (auto& a : s.answers)
    out.answers.push_back(std::move(a));
  if (!s.submit.empty()) {
    // One message per step: a batch keeps the commands in order.
    client_batch b;
    for (auto& c : s.submit)
      b.commands.push_back(std::move(c));
    if (auto to = proposer_for(); to != 0)
      out.send_now.push_back({to, std::move(b)});
  }
  for (auto& [cmd, level] : s.reads)
    absorb(learner_.on_read(cmd, level), out);
}

void learner_node::absorb(learner_step&& s, learner_node_step& out) {
  for (auto& a : s.applied)
    out.applied.push_back(std::move(a));
  if (s.state) {
    if (out.state)
      out.state->merge(std::move(*s.state));
    else
      out.state = std::move(s.state);
  }
  for (auto& c : s.store_chunks)
    out.store_chunks.push_back(std::move(c));
  out.install_snapshot = out.install_snapshot || s.install_snapshot;
  for (auto& r : s.serve)
    out.serve.push_back(r);
  for (auto& n : s.notices)
    out.notices.push_back(std::move(n));
  for (auto& e : s.send_now) {
    if (std::holds_alternative<read_request>(e.msg)) {
      e.to = proposer_for();
      if (e.to == 0)
        continue; // No proposer known; the read is resent, then times out.
    }
    out.send_now.push_back(std::move(e));
  }
  auto answered = table_.on_outcomes(s.outcomes);
  if (out.outcomes.empty())
    out.outcomes = std::move(s.outcomes);
  else
    for (auto& o : s.outcomes)
      out.outcomes.push_back(std::move(o));
  absorb(std::move(answered), out);
}

learner_node_step learner_node::on_chosen(const chosen& m) {
  learner_node_step out;
  absorb(learner_.on_chosen(m), out);
  return out;
}

learner_node_step learner_node::on_read_index(const read_index& m) {
  learner_node_step out;
  if (!hosts_proposer_ && m.leader != 0) {
    leader_hint_ = m.leader;
    hint_tick_ = now_;
  }
  absorb(learner_.on_read_index(m), out);
  return out;
}

learner_node_step learner_node::on_refused(const command_refused& m) {
  learner_node_step out;
  absorb(table_.on_refused(m), out);
  return out;
}

learner_node_step learner_node::on_read_refused(const read_refused& m) {
  learner_node_step out;
  absorb(learner_.on_read_refused(m), out);
  return out;
}

learner_node_step learner_node::on_request(client_request_in r) {
  learner_node_step out;
  auto applied = learner_.applied_upto(r.client_id);
  absorb(table_.on_request(std::move(r), applied), out);
  return out;
}

learner_node_step learner_node::on_close(uint64_t client_id) {
  table_.on_close(client_id);
  return {};
}

learner_node_step learner_node::on_snapshot_request(const snapshot_request& m) {
  learner_node_step out;
  absorb(learner_.on_snapshot_request(m), out);
  return out;
}

learner_node_step learner_node::on_snapshot_chunk(const snapshot_chunk& m) {
  learner_node_step out;
  absorb(learner_.on_snapshot_chunk(m), out);
  return out;
}

learner_node_step learner_node::on_chunk_stored(slot_t snapshot, uint64_t end,
                                                bool ok) {
  learner_node_step out;
  absorb(learner_.on_chunk_stored(snapshot, end, ok), out);
  return out;
}

learner_node_step
learner_node::on_snapshot_installed(std::unique_ptr<state_machine> sm,
                                    const std::string& error) {
  learner_node_step out;
  absorb(learner_.on_snapshot_installed(std::move(sm), error), out);
  return out;
}

learner_node_step learner_node::resume_snapshot(const snapshot_transfer& t) {
  learner_node_step out;
  absorb(learner_.resume_snapshot(t), out);
  return out;
}

learner_node_step learner_node::on_tick() {
  learner_node_step out;
  ++now_;
  absorb(learner_.on_tick(), out);
  absorb(table_.on_tick(), out);
  return out;
}

} // namespace paxoskv
