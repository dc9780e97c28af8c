// The client sessions of one node: what a client connection is promised.
//
// Every connection is a session with its own client id. The table numbers
// the session's log commands 1, 2, 3, ... (reads served by the leader or
// lease path take no number), sends them towards the leader, sends again
// those not applied in time, and answers every request exactly once, in the
// order the connection sent them.
//
// Invariants kept by this class:
// - Replies of one client leave in request order, each exactly once.
// - A client's log commands are numbered without gaps in the order sent;
//   the state machine applies sequence n only right after n - 1, so they
//   take effect in that order whatever path each copy took.
// - A log command is sent again until its outcome is seen, even after its
//   client was told "outcome unknown": a later command of the same client
//   cannot be applied before it, so giving up on it would block them all.
// - A leader or lease read is handed to the learner only once every log
//   command its client sent before it was applied: the read index the
//   leader confirms is then above them, so the read sees them. A log
//   command sent after a read leaves only once that read was answered, so
//   the read never sees it. A read never answers from an older state than
//   a read its connection sent before it.
// - "not applied" is answered only for what certainly was not and will not
//   be applied (a read, a request refused before it was numbered);
//   "outcome unknown" for a log command not confirmed in time.
// - Bounded: sessions, requests waiting in all, and log commands per
//   session not yet applied (at most the state machine's saved replies per
//   client, so a resend always finds its reply).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <vector>

#include "protocol/learner.hpp"

namespace paxoskv {

struct client_table_config {
  /// This node.
  node_id self = 0;
  /// A log command without an outcome is sent again after this many ticks.
  uint32_t resend_ticks = 10;
  /// A request not answered within this many ticks is answered "outcome
  /// unknown" (log command) or "not applied" (read).
  uint32_t timeout_ticks = 500;
  /// Log commands per session sent and not yet applied; a request beyond
  /// this is refused ("not applied"). The client service keeps fewer in
  /// flight, so this only stops a misbehaving caller.
  size_t window_max = 64;
  /// Sessions at most; a new one beyond this is refused.
  size_t sessions_max = 100000;
  /// A session with nothing waiting and nothing unapplied is forgotten
  /// after this many idle ticks (a caller that never says it closed, such
  /// as paxoskv-cli, leaves nothing behind). A request under its id later
  /// starts it again, numbered on from what the state machine applied.
  uint32_t session_idle_ticks = 6000;
  /// Requests waiting for a reply, over all sessions, and per session.
  /// Beyond either a request is refused ("not applied") at once, ahead of
  /// the session's earlier requests: only a caller that does not wait for
  /// its answers gets there (the client service keeps 64 in flight).
  size_t requests_max = 1 << 20;
  size_t session_requests_max = 1024;
  /// A log command every copy of which was refused (no leader known, a
  /// full queue) is answered "not applied" once it is this old, rather
  /// than "outcome unknown" at the timeout. Short leaderless moments of a
  /// failover are waited out.
  uint32_t refuse_after_ticks = 50;
};

/// A request of a client connection.
struct client_request_in {
  /// The session (one per connection, unique across the cluster's history).
  uint64_t client_id = 0;
  /// The connection's own number for this request, echoed in the reply.
  uint64_t request = 0;
  op_code op = op_code::nop;
  std::vector<std::string> args;
  /// How a read-only command is served.
  read_level level = read_level::log;
};

/// The answer to one request.
struct client_answer {
  uint64_t client_id = 0;
  uint64_t request = 0;
  command_result result;
  /// The log sequence the command got (0: a read, or refused unnumbered).
  uint64_t sequence = 0;
};

struct client_table_step {
  /// Answers, in request order per client.
  std::vector<client_answer> answers;
  /// Log commands to send towards the leader (the caller addresses them),
  /// each with its attempt number.
  std::vector<client_command> submit;
  /// Reads to hand to the learner: the command (its sequence carries
  /// `read_tag`) and the level.
  std::vector<std::pair<command, read_level>> reads;
};

/// Sequences of reads carry this bit, so they never meet log sequences.
constexpr uint64_t read_tag = uint64_t{1} << 63;

class client_table {
public:
  explicit client_table(client_table_config cfg);

  /// `applied_upto`: the highest sequence of this client the state
  /// machine applied (where a new or forgotten session numbers on from).
  client_table_step on_request(client_request_in r, uint64_t applied_upto = 0);

  /// The learner applied commands or answered reads.
  client_table_step on_outcomes(const std::vector<command_outcome>& outs);

  /// A proposer dropped one copy (attempt) of a command.
  client_table_step on_refused(const command_refused& m);

  /// The connection closed: its session is forgotten (commands already sent
  /// may still be applied, in order).
  void on_close(uint64_t client_id);

  /// Timer: resends and timeouts.
  client_table_step on_tick();

  size_t sessions() const { return sessions_.size(); }
  /// Requests waiting for their answer.
  size_t waiting() const { return waiting_; }
  /// Log commands sent and not yet applied (timed-out ones included).
  size_t unapplied() const;

private:
  struct request {
    uint64_t number = 0;
    /// 0 for a read (leader or lease level).
    uint64_t seq = 0;
    read_level level = read_level::log;
    command cmd;
    uint64_t deadline = 0;
    /// For a read: the last log sequence its client sent before it; the
    /// read waits until that was applied.
    uint64_t after_seq = 0;
    /// The read was handed to the learner.
    bool read_sent = false;
    /// The read was answered by the learner from the state before `state`.
    bool served = false;
    uint64_t state = 0;
    bool answered = false;
    command_result result;
  };
  struct pending_command {
    command cmd;
    uint64_t resend_at = 0;
    /// Tick it was numbered.
    uint64_t created = 0;
    /// Copies sent so far, and which of them (bit attempt - 1) a proposer
    /// refused. When every copy was refused none exists: it will never
    /// be applied.
    uint32_t attempts = 0;
    uint64_t refused_mask = 0;
    std::string refused_why;
    /// Chosen ahead of its predecessor: send again once that is applied.
    bool behind = false;
    /// Not sent yet: it waits for a read of its client sent before it.
    bool held = false;
  };
  struct session {
    /// Requests in the order received; answered ones leave from the front.
    std::deque<request> requests;
    /// Log commands sent and not applied, by sequence.
    std::map<uint64_t, pending_command> unapplied;
    uint64_t next_seq = 1;
    /// Every log sequence up to this one was applied.
    uint64_t applied_seq = 0;
    /// Tick of the last request or outcome.
    uint64_t active_tick = 0;
  };

  void answer(session& s, uint64_t client_id, request& r,
              command_result result, client_table_step& out);
  /// Moves answered requests at the front of the session to `out`.
  void release(uint64_t client_id, session& s, client_table_step& out);
  /// Hands reads whose earlier log commands were all applied to the learner.
  void release_reads(session& s, client_table_step& out);
  /// Serves again a read answered from an older state than an earlier
  /// read of its connection.
  void keep_reads_monotonic(session& s);
  /// Sends log commands that waited for reads sent before them.
  void release_writes(session& s, client_table_step& out);
  void on_outcome(const command_outcome& o, client_table_step& out);
  /// Sends (or sends again) a log command: one more attempt.
  void send(pending_command& p, client_table_step& out);
  /// Answers "not applied" to the newest log commands of the session every
  /// copy of which was refused, and numbers on from the first of them.
  void fail_refused(session& s, client_table_step& out);
  bool certainly_unapplied(const pending_command& p) const;
  request* find_request(session& s, uint64_t seq, bool read);

  client_table_config cfg_;
  uint64_t now_ = 0;
  size_t waiting_ = 0;
  std::map<uint64_t, session> sessions_;
};

} // namespace paxoskv
