// The message vocabulary of paxoskv: every message any role sends to another.
//
// Each struct has a CAF-0.17 `inspect` overload so that it prints
// (caf::deep_to_string) and serializes across nodes, and right after it the
// role that handles it (`PAXOSKV_HANDLED_BY`). The destination role follows
// from the type (`role_of`), so the cores address messages to nodes only.
// One list, the `message` variant, names every type; what can be derived
// from it is (names, routing, relays), and a type added there without a
// role or a handler fails to compile.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "protocol/types.hpp"

namespace paxoskv {

/// The roles a message can be addressed to.
enum class role : uint8_t { proposer, acceptor, learner, elector, client };

std::string to_string(role r);

/// The role that handles messages of type T. Declared for each message
/// right after it; a type without one does not compile where it is routed.
template <class T>
struct handled_by;

template <class T>
constexpr role role_of = handled_by<T>::value;

#define PAXOSKV_HANDLED_BY(type, r)                                            \
  template <>                                                                  \
  struct handled_by<type> {                                                    \
    static constexpr role value = role::r;                                     \
  };

/// Phase 1a: a proposer asks acceptors to promise `b` for every slot
/// `>= from_slot` (one prepare covers infinitely many instances).
struct prepare {
  /// The ballot the proposer wants to lead with.
  ballot b;
  /// First slot the promise covers; the proposer's first_unchosen (or the
  /// continuation point when the acceptor's report came in chunks).
  slot_t from_slot = 0;
  /// The sending proposer's node.
  node_id proposer = 0;
  /// The incarnation the sender's configurations give the receiving
  /// acceptor (membership.hpp; 0: none recorded): a data directory that is
  /// not that one does not answer.
  uint64_t incarnation = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, prepare& x) {
  return f(caf::meta::type_name("prepare"), x.b, x.from_slot, x.proposer,
           x.incarnation);
}

PAXOSKV_HANDLED_BY(prepare, acceptor)

/// Phase 1b: an acceptor promised `b` and reports what it accepted at slots
/// `>= from_slot`, in slot order, at most a bounded number per message.
struct promise {
  /// The ballot promised (equals the prepare's ballot).
  ballot b;
  /// The answering acceptor's node.
  node_id acceptor = 0;
  /// The prepare's from_slot this answers.
  slot_t from_slot = 0;
  /// Accepted entries at slots >= from_slot, ascending; chosen ones flagged.
  std::vector<accepted_entry> entries;
  /// True when the acceptor accepted nothing beyond the last entry listed;
  /// false means the proposer must ask again from the next slot.
  bool no_more_accepted = true;
  /// The acceptor's first slot not known chosen.
  slot_t first_unchosen = 0;
  /// H(first_unchosen): the configurations governing the slots from
  /// first_unchosen on (membership.hpp).
  config_history configs;
  /// The incarnation of the acceptor's data directory (membership.hpp): a
  /// reply counts only for a member with that incarnation (or none known).
  uint64_t incarnation = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, promise& x) {
  return f(caf::meta::type_name("promise"), x.b, x.acceptor, x.from_slot,
           x.entries, x.no_more_accepted, x.first_unchosen, x.configs,
           x.incarnation);
}

PAXOSKV_HANDLED_BY(promise, proposer)

/// Phase 2a: the leader asks acceptors to accept `value` at `slot`.
struct accept {
  /// The leader's ballot.
  ballot b;
  /// The log slot.
  slot_t slot = 0;
  /// The proposed value (a batch of commands, or a NOP).
  log_value value;
  /// The leader's first_unchosen: every slot below it whose accepted ballot
  /// equals `b` is chosen, and the acceptor may mark it so.
  slot_t first_unchosen = 0;
  /// The sending proposer's node.
  node_id proposer = 0;
  /// The incarnation the sender's configurations give the receiving
  /// acceptor (membership.hpp; 0: none recorded): a data directory that is
  /// not that one does not answer.
  uint64_t incarnation = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, accept& x) {
  return f(caf::meta::type_name("accept"), x.b, x.slot, x.value,
           x.first_unchosen, x.proposer, x.incarnation);
}

PAXOSKV_HANDLED_BY(accept, acceptor)

/// Phase 2b: an acceptor's answer to an accept. When `promised > b` the
/// acceptor refused, because it promised a newer ballot.
struct accepted {
  /// The ballot of the accept this answers.
  ballot b;
  /// The slot of the accept this answers.
  slot_t slot = 0;
  /// The acceptor's promised ballot after handling the accept.
  ballot promised;
  /// The acceptor's first slot not known chosen.
  slot_t first_unchosen = 0;
  /// The answering acceptor's node.
  node_id acceptor = 0;
  /// The epoch of the newest configuration the acceptor knows: a proposer
  /// that knows an older one does not adopt first_unchosen from this
  /// answer (it would not know the configurations below it).
  uint64_t config_epoch = 0;
  /// The incarnation of the acceptor's data directory (membership.hpp): a
  /// reply counts only for a member with that incarnation (or none known).
  uint64_t incarnation = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, accepted& x) {
  return f(caf::meta::type_name("accepted"), x.b, x.slot, x.promised,
           x.first_unchosen, x.acceptor, x.config_epoch, x.incarnation);
}

PAXOSKV_HANDLED_BY(accepted, proposer)

/// A refused prepare: the acceptor promised a newer ballot.
struct nack {
  /// The ballot that was refused.
  ballot b;
  /// The newer ballot the acceptor promised.
  ballot promised;
  /// The refusing acceptor's node.
  node_id acceptor = 0;
  /// The incarnation of the acceptor's data directory (membership.hpp): a
  /// reply counts only for a member with that incarnation (or none known).
  uint64_t incarnation = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, nack& x) {
  return f(caf::meta::type_name("nack"), x.b, x.promised, x.acceptor,
           x.incarnation);
}

PAXOSKV_HANDLED_BY(nack, proposer)

/// The leader tells a lagging acceptor chosen values it is missing. With no
/// entries it is a keepalive that an idle leader sends to learn whether it
/// still holds the newest ballot.
struct success {
  /// Chosen slots with their values, ascending, starting at the acceptor's
  /// reported first_unchosen; may be empty.
  std::vector<chosen_entry> entries;
  /// The sending proposer's node.
  node_id proposer = 0;
  /// A jump (from an acceptor asked to relay values it has compacted
  /// away): every slot below `jump_to` is chosen, and `configs` is
  /// H(jump_to). The receiver forgets its log below it. 0: no jump.
  slot_t jump_to = 0;
  config_history configs;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, success& x) {
  return f(caf::meta::type_name("success"), x.entries, x.proposer, x.jump_to,
           x.configs);
}

PAXOSKV_HANDLED_BY(success, acceptor)

/// A leader asks an acceptor to send the chosen values it holds from
/// `from_slot` on to a lagging acceptor (values the leader no longer keeps,
/// or never had: it learned from a promise that they were chosen).
struct success_relay {
  /// The lagging acceptor.
  node_id to = 0;
  /// The first slot it misses.
  slot_t from_slot = 0;
  /// At most this many values.
  uint32_t entries_max = 0;
  /// The leader, which gets the lagging acceptor's success_ack.
  node_id proposer = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, success_relay& x) {
  return f(caf::meta::type_name("success_relay"), x.to, x.from_slot,
           x.entries_max, x.proposer);
}

PAXOSKV_HANDLED_BY(success_relay, acceptor)

/// An acceptor's answer to `success`: how far it now knows the log chosen,
/// and whom it promised (so an idle leader learns it was superseded).
struct success_ack {
  /// The answering acceptor's node.
  node_id acceptor = 0;
  /// The acceptor's first slot not known chosen.
  slot_t first_unchosen = 0;
  /// The acceptor's promised ballot.
  ballot promised;
  /// H(first_unchosen).
  config_history configs;
  /// The incarnation of the acceptor's data directory (membership.hpp): a
  /// reply counts only for a member with that incarnation (or none known).
  uint64_t incarnation = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, success_ack& x) {
  return f(caf::meta::type_name("success_ack"), x.acceptor, x.first_unchosen,
           x.promised, x.configs, x.incarnation);
}

PAXOSKV_HANDLED_BY(success_ack, proposer)

/// Chosen values for learners (from the leader, or from an acceptor
/// answering a learn_request).
struct chosen {
  /// Chosen slots with their values, ascending.
  std::vector<chosen_entry> entries;
  /// From an acceptor that does not hold the slot asked for (it forgot it,
  /// or never had it): the next slot it can serve from. A learner must get
  /// the slots below it elsewhere (another acceptor, a snapshot). 0: unset.
  slot_t serves_from = 0;
  /// The acceptor that answered (0: the leader's notification).
  node_id acceptor = 0;
  /// With serves_from: a learner whose durable state reaches serves_from
  /// (a snapshot source), and how far (0: none known).
  node_id snapshot_source = 0;
  slot_t snapshot_durable = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, chosen& x) {
  return f(caf::meta::type_name("chosen"), x.entries, x.serves_from,
           x.acceptor, x.snapshot_source, x.snapshot_durable);
}

PAXOSKV_HANDLED_BY(chosen, learner)

/// A proposer could pass a read_request to no leader; the learner that
/// asked may fail its reads ("not applied") instead of waiting them out.
struct read_refused {
  /// The read_request's id.
  uint64_t id = 0;
  /// Why, for the client.
  std::string reason;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, read_refused& x) {
  return f(caf::meta::type_name("read_refused"), x.id, x.reason);
}

PAXOSKV_HANDLED_BY(read_refused, learner)

/// A learner asks an acceptor for chosen values from `from_slot` on, and
/// says how far its state is durable (acceptors compact their logs below
/// what a majority of learners hold durably).
struct learn_request {
  /// The asking learner's node.
  node_id learner = 0;
  /// The first slot the learner has not applied.
  slot_t from_slot = 0;
  /// The first slot not applied in the learner's state on disk.
  slot_t durable = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, learn_request& x) {
  return f(caf::meta::type_name("learn_request"), x.learner, x.from_slot,
           x.durable);
}

PAXOSKV_HANDLED_BY(learn_request, acceptor)

/// A learner that needs slots every acceptor has compacted away asks
/// another learner for a snapshot of its state, one chunk at a time (the
/// next request goes once the previous chunk is stored: the transfer is
/// throttled by the receiver and never floods the source).
struct snapshot_request {
  /// The asking learner's node.
  node_id learner = 0;
  /// The snapshot wanted, by the slot it covers up to (0: the source's
  /// latest); an interrupted transfer names the one it was taking.
  slot_t snapshot = 0;
  /// The first byte wanted, and at most how many.
  uint64_t offset = 0;
  uint32_t max_bytes = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, snapshot_request& x) {
  return f(caf::meta::type_name("snapshot_request"), x.learner, x.snapshot,
           x.offset, x.max_bytes);
}

PAXOSKV_HANDLED_BY(snapshot_request, learner)

/// One chunk of a snapshot stream (protocol/snapshot_format.hpp).
struct snapshot_chunk {
  /// The answering learner's node.
  node_id source = 0;
  /// The snapshot: the slot it covers up to, its size and checksum.
  slot_t snapshot = 0;
  uint64_t total = 0;
  uint64_t checksum = 0;
  /// Where this chunk starts, its bytes and their checksum.
  uint64_t offset = 0;
  std::string data;
  uint64_t data_checksum = 0;
  /// Set when the source cannot serve the request (no snapshot, or a
  /// storage error); the other fields are then unset.
  std::string error;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, snapshot_chunk& x) {
  return f(caf::meta::type_name("snapshot_chunk"), x.source, x.snapshot,
           x.total, x.checksum, x.offset, x.data, x.data_checksum, x.error);
}

PAXOSKV_HANDLED_BY(snapshot_chunk, learner)

/// Elector heartbeat, sent to every other elector every T.
struct heartbeat {
  /// The sending node.
  node_id from = 0;
  /// Whom the sender currently considers leader (0: nobody yet).
  node_id leader = 0;
  /// Nodes the sender heard from directly within the election timeout.
  std::vector<node_id> alive;
  /// Nodes the sender hears directly that hear a majority themselves
  /// (possibly the sender): those that could lead. Relaying them keeps one
  /// broken link from unseating a leader the rest of the cluster hears.
  std::vector<node_id> eligible;
  /// Set by a relay: it did not come straight from its sender, so it says
  /// nothing about whom the receiver hears directly, only about whom the
  /// sender names and deems eligible.
  bool relayed = false;
  /// The sender's heartbeat count and a random id of its incarnation: a
  /// copy that arrives after a newer one from the same incarnation (a
  /// relayed copy overtaken by a direct one) is stale and says nothing.
  uint64_t seq = 0;
  uint64_t boot = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, heartbeat& x) {
  return f(caf::meta::type_name("heartbeat"), x.from, x.leader, x.alive,
           x.eligible, x.relayed, x.seq, x.boot);
}

PAXOSKV_HANDLED_BY(heartbeat, elector)

/// The elector tells its node's proposer who leads now.
struct leader_change {
  /// The new leader (0: nobody).
  node_id leader = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, leader_change& x) {
  return f(caf::meta::type_name("leader_change"), x.leader);
}

PAXOSKV_HANDLED_BY(leader_change, proposer)

/// A client command on its way to the leader's proposer.
struct client_command {
  /// The command, with its (client_id, sequence).
  command cmd;
  /// The node that received it from the client and will answer the client.
  node_id origin = 0;
  /// How many times it was forwarded; bounded to stop forwarding loops.
  uint32_t hops = 0;
  /// Which send of the command by its origin this copy is (1, 2, ...);
  /// echoed in a refusal.
  uint32_t attempt = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, client_command& x) {
  return f(caf::meta::type_name("client_command"), x.cmd, x.origin, x.hops,
           x.attempt);
}

PAXOSKV_HANDLED_BY(client_command, proposer)

/// Client commands a follower forwards to the leader, batched: one message
/// instead of one per command.
struct client_batch {
  /// The forwarded commands, in arrival order.
  std::vector<client_command> commands;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, client_batch& x) {
  return f(caf::meta::type_name("client_batch"), x.commands);
}

PAXOSKV_HANDLED_BY(client_batch, proposer)

/// A proposer dropped a copy of a client command without proposing or
/// passing it on (no leader known, or the leader's queue full), and tells
/// the node that sent it. That copy will never be applied.
struct command_refused {
  /// The command's (client id, sequence).
  uint64_t client_id = 0;
  uint64_t sequence = 0;
  /// The attempt of the refused copy (client_command::attempt).
  uint32_t attempt = 0;
  /// Why, for the client.
  std::string reason;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_refused& x) {
  return f(caf::meta::type_name("command_refused"), x.client_id, x.sequence,
           x.attempt, x.reason);
}

PAXOSKV_HANDLED_BY(command_refused, learner)

/// The kind of result a command produced.
enum class result_kind : uint8_t {
  /// The command succeeded without a value (SET).
  ok = 0,
  /// A value was read (GET of a present key).
  value = 1,
  /// The key was absent (GET of a missing key).
  nil = 2,
  /// A count (DEL: number of keys removed).
  integer = 3,
  /// The command was not applied and will not be; the client may retry.
  not_applied = 4,
  /// The command was proposed but not confirmed in time: it may or may not
  /// take effect.
  unknown = 5,
  /// The command was applied and failed deterministically (e.g. INCR of a
  /// non-integer); `text` is the Redis-style error.
  error = 6,
  /// Several values (MGET): `items`, with `present` 0 where nil.
  array = 7,
  /// A whole reply already in RESP (`text`): what `op_code::redis`
  /// commands answer (nested arrays, errors inside transactions...).
  raw = 8,
};

std::string to_string(result_kind k);

/// The result of applying one command, as the state machine computed it.
struct command_result {
  /// What kind of result.
  result_kind kind = result_kind::ok;
  /// The value read, or an error text.
  std::string text;
  /// The count, for integer results.
  int64_t number = 0;
  /// The values of an array result, and whether each is present (not nil).
  std::vector<std::string> items;
  std::vector<uint8_t> present;

  friend bool operator==(const command_result& a, const command_result& b) {
    return a.kind == b.kind && a.text == b.text && a.number == b.number
           && a.items == b.items && a.present == b.present;
  }
  friend bool operator!=(const command_result& a, const command_result& b) {
    return !(a == b);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_result& x) {
  return f(caf::meta::type_name("command_result"), x.kind, x.text, x.number,
           x.items, x.present);
}

/// The answer to a client command, sent once the command was applied.
struct client_reply {
  /// The client session.
  uint64_t client_id = 0;
  /// The command's sequence number.
  uint64_t sequence = 0;
  /// What applying it produced.
  command_result result;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, client_reply& x) {
  return f(caf::meta::type_name("client_reply"), x.client_id, x.sequence,
           x.result);
}

PAXOSKV_HANDLED_BY(client_reply, client)

/// A learner asks the leader for a read index for its waiting reads (leader
/// and lease reads). A follower's proposer passes it on to the leader.
struct read_request {
  /// Chosen by the learner; echoed in the answer.
  uint64_t id = 0;
  /// The learner's node, which gets the answer.
  node_id origin = 0;
  /// leader: confirm with a majority round first; lease: answer at once
  /// while the leader holds a lease (else as leader).
  read_level level = read_level::leader;
  /// How many times it was passed on; bounded like client commands.
  uint32_t hops = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, read_request& x) {
  return f(caf::meta::type_name("read_request"), x.id, x.origin, x.level,
           x.hops);
}

PAXOSKV_HANDLED_BY(read_request, proposer)

/// The leader's answer to a read_request: every value chosen before the
/// request reached the leader is at a slot below `index`. A learner that
/// applied every slot below `index` answers the reads from its state.
struct read_index {
  /// The read_request's id.
  uint64_t id = 0;
  /// The read index.
  slot_t index = 0;
  /// The leader that confirmed it.
  node_id leader = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, read_index& x) {
  return f(caf::meta::type_name("read_index"), x.id, x.index, x.leader);
}

PAXOSKV_HANDLED_BY(read_index, learner)

/// The leader asks every acceptor whether it still promised nothing newer
/// than `b` (one heartbeat round for leader reads). With `lease_ms` > 0 an
/// acceptor that has not promised a newer ballot also grants `b` a lease:
/// for that long it refuses prepares of newer ballots of other nodes.
struct read_probe {
  /// The leader's ballot.
  ballot b;
  /// Round number, echoed in the answer.
  uint64_t probe = 0;
  /// The leader's node.
  node_id proposer = 0;
  /// Lease asked for, in ms of the acceptor's clock (0: none).
  uint32_t lease_ms = 0;
  /// The incarnation the sender's configurations give the receiving
  /// acceptor (membership.hpp; 0: none recorded): a data directory that is
  /// not that one does not answer.
  uint64_t incarnation = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, read_probe& x) {
  return f(caf::meta::type_name("read_probe"), x.b, x.probe, x.proposer,
           x.lease_ms, x.incarnation);
}

PAXOSKV_HANDLED_BY(read_probe, acceptor)

/// An acceptor's answer to read_probe. `promised <= b` confirms the round;
/// `promised > b` tells the leader it was superseded.
struct read_probe_ack {
  /// The probe's ballot and round.
  ballot b;
  uint64_t probe = 0;
  /// The acceptor's promised ballot when it answered.
  ballot promised;
  /// The answering acceptor's node.
  node_id acceptor = 0;
  /// True when it granted the lease asked for.
  bool lease_granted = false;
  /// The incarnation of the acceptor's data directory (membership.hpp): a
  /// reply counts only for a member with that incarnation (or none known).
  uint64_t incarnation = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, read_probe_ack& x) {
  return f(caf::meta::type_name("read_probe_ack"), x.b, x.probe, x.promised,
           x.acceptor, x.lease_granted, x.incarnation);
}

PAXOSKV_HANDLED_BY(read_probe_ack, proposer)

/// Every message of the protocol. A `std::visit` over it without a catch-all
/// fails to compile when a type is added here and not handled there.
/// What a membership change does to the newest configuration.
enum class member_change : uint8_t {
  /// Adds `target` as a learner (its `voter` flag is ignored; with
  /// `promote` set, the leader promotes it once it has caught up).
  add = 0,
  /// Makes learner `target.id` a voter.
  promote = 1,
  /// Removes member `target.id`.
  remove = 2,
  /// Makes voter `target.id` a learner (one to promote again once caught
  /// up if `target.promote` is set).
  demote = 3,
  /// Records the incarnations of members that had none (the leader's own
  /// change; `target` unused).
  seal = 4,
};

std::string to_string(member_change c);

/// An operator asks the leader to change the membership (one change at a
/// time). Forwarded to the leader like a client command.
struct membership_request {
  /// Chosen by the origin; the reply carries it.
  uint64_t id = 0;
  /// Where the reply goes (a client address; 0: nowhere).
  uint64_t origin = 0;
  member_change change = member_change::add;
  /// The member added, or (other changes) the id of the member concerned.
  member target;
  /// Refused unless the newest configuration has this epoch (0: any): a
  /// script's steps do not apply to a membership someone else changed.
  uint64_t expected_epoch = 0;
  /// Times forwarded.
  uint32_t hops = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, membership_request& x) {
  return f(caf::meta::type_name("membership_request"), x.id, x.origin,
           x.change, x.target, x.expected_epoch, x.hops);
}

PAXOSKV_HANDLED_BY(membership_request, proposer)

/// The leader's answer to a membership_request.
struct membership_reply {
  uint64_t id = 0;
  /// The new configuration is chosen (it governs from `effective` on).
  bool done = false;
  /// Why not (empty when done). "outcome unknown" when the change may
  /// still be chosen.
  std::string error;
  /// The configuration chosen, or the newest the leader knows.
  configuration config;
  slot_t effective = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, membership_reply& x) {
  return f(caf::meta::type_name("membership_reply"), x.id, x.done, x.error,
           x.config, x.effective);
}

PAXOSKV_HANDLED_BY(membership_reply, client)

/// A learner the leader is to promote once it has caught up (`promote` in
/// its membership entry) tells the proposers how far it has applied, once
/// per heartbeat interval, until it is a voter.
struct learner_progress {
  node_id learner = 0;
  /// The first slot it has not applied.
  slot_t applied = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, learner_progress& x) {
  return f(caf::meta::type_name("learner_progress"), x.learner, x.applied);
}

PAXOSKV_HANDLED_BY(learner_progress, proposer)

using message = std::variant<prepare, promise, accept, accepted, nack, success,
                             success_ack, success_relay, chosen, learn_request, heartbeat,
                             leader_change, client_command, client_batch,
                             command_refused, client_reply, read_request,
                             read_index, read_refused, read_probe,
                             read_probe_ack, snapshot_request,
                             snapshot_chunk, membership_request,
                             membership_reply, learner_progress>;


/// A message addressed to a node (the role follows from the message type).
struct envelope {
  /// The destination node (a client id for client replies).
  uint64_t to = 0;
  /// The message.
  message msg;
};

/// Short name of a message's type (from its inspect overload), for logs and
/// message counts.
const char* name_of(const message& m);

} // namespace paxoskv
