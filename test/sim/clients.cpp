// The simulated clients: connections that pipeline requests to one node,
// reconnect when it goes down, and record what they were told.
#include "test/sim/cluster_parts.hpp"

#include <algorithm>

namespace paxoskv::sim {

namespace {

/// The command a client operation becomes.
command to_command(uint64_t client, uint64_t seq, const client_op& op) {
  if (op.op == op_code::redis)
    return command{client, seq, op.op, op.redis};
  command c{client, seq, op.op, {op.key}};
  if (op.op == op_code::set)
    c.args.push_back(op.value);
  return c;
}

/// The request a client operation becomes on its connection.
client_request_in to_request(uint64_t session, uint64_t number,
                             const client_op& op) {
  auto c = to_command(session, 0, op);
  return {session, number, c.op, std::move(c.args), op.level};
}

} // namespace

// -- clients -------------------------------------------------------------------

size_t cluster::add_client(std::vector<client_op> ops, size_t depth,
                           uint64_t think_max) {
  auto c = std::make_unique<client>();
  c->index = clients_.size();
  c->ops = std::move(ops);
  c->depth = std::max<size_t>(1, depth);
  c->think_max = think_max;
  if (think_max > 0)
    c->send_at = now_ + std::uniform_int_distribution<uint64_t>(
                          0, think_max)(rng_);
  clients_.push_back(std::move(c));
  return clients_.size() - 1;
}

void cluster::expect_definite_answers(uint64_t grace, bool quick_refusals) {
  definite_after_ = now_ + grace;
  quick_refusals_ = quick_refusals;
}

bool cluster::clients_done() const {
  for (auto& c : clients_)
    if (c->answered < c->ops.size())
      return false;
  return true;
}

cluster::client* cluster::client_of_session(uint64_t session) {
  for (auto& c : clients_)
    if (c->session == session)
      return c.get();
  return nullptr;
}

void cluster::record_ack(client& c, size_t op_index, uint64_t invoked,
                         const client_answer& a) {
  auto& op = c.ops[op_index];
  bool quick_refusal = quick_refusals_
                       && a.result.kind == result_kind::not_applied
                       && now_ - invoked < opts_.client_timeout_ticks / 2;
  if (invoked >= definite_after_ && !quick_refusal
      && (a.result.kind == result_kind::unknown
          || a.result.kind == result_kind::not_applied))
    fail("liveness: client " + std::to_string(c.index) + " op "
         + std::to_string(op_index) + " sent at tick " + std::to_string(invoked)
         + " on a healed network was answered " + to_string(a.result.kind)
         + ": " + a.result.text);
  acks_.push_back({to_command(c.session, a.sequence, op), a.result, op.level,
                   invoked, now_});
  ++c.answered;
}

void cluster::on_answer(client& c, const client_answer& a) {
  if (c.in_flight.empty() || c.in_flight.front().request != a.request) {
    fail("client " + std::to_string(c.index) + " got the answer to request "
         + std::to_string(a.request) + " out of order");
    return;
  }
  auto sent = c.in_flight.front();
  c.in_flight.pop_front();
  if (a.result.kind == result_kind::error)
    trace("client " + std::to_string(c.index) + " told: " + a.result.text);
  record_ack(c, sent.op, sent.invoked, a);
}

void cluster::disconnect(client& c) {
  trace("client " + std::to_string(c.index) + " lost its connection to node "
        + std::to_string(c.node));
  for (auto& sent : c.in_flight)
    record_ack(c, sent.op, sent.invoked,
               {c.session, sent.request,
                {result_kind::unknown, "connection lost", 0}, 0});
  c.in_flight.clear();
  c.node = 0;
  c.session = 0;
}

void cluster::client_send(client& c) {
  auto& op = c.ops[c.next];
  if (c.node == 0) {
    auto ids = front_ids();
    auto n = op.target != 0
               ? op.target
               : ids[std::uniform_int_distribution<size_t>(0, ids.size() - 1)(
                 rng_)];
    if (!at(n).up)
      return; // Connection refused; try again next tick.
    c.node = n;
    c.incarnation = at(n).incarnation;
    c.session = first_client_id + ++next_session_;
    c.next_request = 0;
  }
  auto number = ++c.next_request;
  c.in_flight.push_back({c.next, number, now_});
  at(c.node).inbox.push_back(to_request(c.session, number, op));
  ++c.next;
}

void cluster::tick_clients() {
  for (auto& c : clients_) {
    if (c->node != 0
        && (!at(c->node).up || at(c->node).incarnation != c->incarnation))
      disconnect(*c);
    while (c->next < c->ops.size() && c->in_flight.size() < c->depth
           && c->send_at <= now_) {
      auto before = c->next;
      client_send(*c);
      if (c->next == before)
        break;
      if (c->think_max > 0)
        c->send_at = now_ + std::uniform_int_distribution<uint64_t>(
                              0, c->think_max)(rng_);
    }
  }
}

} // namespace paxoskv::sim
