// The proposer's reads (PROTOCOL.md rule 6): read indexes confirmed by a
// read round, and leases. The rest of the proposer is in proposer.cpp.
#include "protocol/proposer.hpp"

namespace paxoskv {

void proposer::drop_reads() {
  // The learners ask again; a read changes nothing, so dropping is safe.
  reads_next_.clear();
  round_reads_.clear();
  round_open_ = false;
  lease_until_ = 0;
}

proposer_step proposer::on_read_request(const read_request& m,
                                        clock_ms now) {
  proposer_step out;
  if (phase_ != proposer_phase::leading) {
    if (!can_forward(m.hops)) {
      out.log.push_back("ignore_read_request: no leader to pass it to");
      // Elected but still in phase 1: the learner asks again soon. Only
      // with no leader known (or passed on too often) is it refused.
      if (leader_hint_ != cfg_.self)
        out.send_now.push_back(
          {m.origin, read_refused{m.id, leader_hint_ == 0
                                          ? "no leader known"
                                          : "passed on too often"}});
      return out;
    }
    auto fwd = m;
    ++fwd.hops;
    out.send_now.push_back({leader_hint_, fwd});
    return out;
  }
  // Everything chosen so far is below next_slot_: values of older ballots
  // were re-proposed in phase 1, newer ballots are ruled out by the round
  // (or the lease), and this leader chose nothing at or above it.
  pending_read r{m.origin, m.id, next_slot_};
  if (m.level == read_level::lease && lease_held(now)) {
    out.send_now.push_back({r.origin, read_index{r.id, r.index, cfg_.self}});
    return out;
  }
  reads_next_.push_back(r);
  if (!round_open_)
    start_read_round(now, out);
  return out;
}

void proposer::start_read_round(clock_ms now, proposer_step& out) {
  round_open_ = true;
  ++round_id_;
  round_tick_ = now_;
  round_sent_ms_ = now;
  last_round_ms_ = now;
  round_acks_.clear();
  round_grants_.clear();
  for (auto& r : reads_next_)
    round_reads_.push_back(r);
  reads_next_.clear();
  for (auto& [id, p] : peers_)
    if (!p.retired)
      send_read_probe(id, out);
}

void proposer::send_read_probe(node_id acceptor, proposer_step& out) {
  out.send_now.push_back(
    {acceptor, read_probe{ballot_, round_id_, cfg_.self, cfg_.lease_ms,
                          incarnation_of(acceptor)}});
}

void proposer::resend_read_round(proposer_step& out) {
  // The same round again, to the acceptors that have not answered it: an
  // answer slower than the retransmission period still counts (a new round
  // number would make every slow answer stale, and a network that slow
  // would never confirm a read). The lease still counts from the first
  // send, which is before any grant of this round began.
  round_tick_ = now_;
  for (auto& [id, p] : peers_)
    if (!p.retired && round_acks_.count(id) == 0)
      send_read_probe(id, out);
}

proposer_step proposer::on_read_probe_ack(const read_probe_ack& m,
                                          clock_ms now) {
  proposer_step out;
  if (!from_member(m.acceptor, m.incarnation, out))
    return out;
  heard_from(m.acceptor);
  if (m.promised > ballot_) {
    step_down(m.promised, out);
    return out;
  }
  if (phase_ != proposer_phase::leading || !round_open_ || m.b != ballot_
      || m.probe != round_id_ || !is_acceptor(m.acceptor))
    return out; // Stale or duplicate.
  round_acks_.insert(m.acceptor);
  if (m.lease_granted)
    round_grants_.insert(m.acceptor);
  if (!quorum_of_all(round_acks_))
    return out;
  // Confirmed: no newer ballot was promised by a majority when it answered,
  // so nothing was chosen under one before the reads arrived.
  if (cfg_.lease_ms > 0 && quorum_of_all(round_grants_)) {
    // Each grant started when its acceptor got the probe, after
    // round_sent_ms_; the margin covers the clocks' drift.
    auto until = round_sent_ms_ + cfg_.lease_ms - cfg_.lease_margin_ms;
    lease_until_ = std::max(lease_until_, until);
  }
  round_open_ = false;
  for (auto& r : round_reads_)
    out.send_now.push_back({r.origin, read_index{r.id, r.index, cfg_.self}});
  round_reads_.clear();
  if (!reads_next_.empty())
    start_read_round(now, out);
  return out;
}

} // namespace paxoskv
