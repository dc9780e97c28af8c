// The typed interfaces of the role actors, and the messages of the runtime
// that the pure protocol does not know about. Each interface lists exactly
// the messages its role handles: routing a message to a role that does not
// handle it does not compile.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <caf/atom.hpp>
#include <caf/typed_actor.hpp>

#include "actors/status.hpp"
#include "protocol/messages.hpp"
#include "storage/state_store.hpp"
#include "storage/store.hpp"

namespace paxoskv {

using tick_atom = caf::atom_constant<caf::atom("tick")>;
constexpr tick_atom tick_atom_v = tick_atom{};
using status_atom = caf::atom_constant<caf::atom("status")>;
constexpr status_atom status_atom_v = status_atom{};
using commit_atom = caf::atom_constant<caf::atom("commit")>;
constexpr commit_atom commit_atom_v = commit_atom{};
using lookup_atom = caf::atom_constant<caf::atom("lookup")>;
constexpr lookup_atom lookup_atom_v = lookup_atom{};
using retry_atom = caf::atom_constant<caf::atom("retry")>;
constexpr retry_atom retry_atom_v = retry_atom{};
using flush_atom = caf::atom_constant<caf::atom("flush")>;
constexpr flush_atom flush_atom_v = flush_atom{};
using relay_atom = caf::atom_constant<caf::atom("relay")>;
constexpr relay_atom relay_atom_v = relay_atom{};
using members_atom = caf::atom_constant<caf::atom("members")>;
constexpr members_atom members_atom_v = members_atom{};
using configs_atom = caf::atom_constant<caf::atom("configs")>;
constexpr configs_atom configs_atom_v = configs_atom{};

struct route_table;

/// A client's request, sent to a learner, which answers with the reply once
/// the command was applied (or with an error after a bounded wait). Replies
/// of one client are answered in request order.
struct client_request {
  /// The command: `client_id` is the connection's session, `sequence` the
  /// connection's request number (the learner numbers log commands itself).
  command cmd;
  /// For a read-only command: how it is served.
  read_level level = read_level::log;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, client_request& x) {
  return f(caf::meta::type_name("client_request"), x.cmd, x.level);
}

/// A client request from this process's client service. The learner calls
/// `done` with the reply (on the learner's thread) instead of answering a
/// response promise: no gateway actor in between, no response message
/// (local only; `done` must be cheap and thread-safe, e.g. a post to the
/// client service's I/O thread). A learner that stops calls every `done`
/// still waiting with "outcome unknown".
struct local_request {
  command cmd;
  read_level level = read_level::log;
  std::function<void(client_reply)> done;
};

/// A client connection closed: its session is forgotten (local only).
struct client_closed {
  uint64_t client_id = 0;
};

/// A role's durable write for the process's disk actor (local only).
struct write_request {
  durable_batch batch;
};

/// The disk actor's answer: the write is durable (ok), or it failed.
struct write_done {
  bool ok = true;
  std::string error;
};

using acceptor_actor = caf::typed_actor<
  caf::reacts_to<prepare>, caf::reacts_to<accept>, caf::reacts_to<success>,
  caf::reacts_to<success_relay>,
  caf::reacts_to<learn_request>, caf::reacts_to<read_probe>,
  caf::reacts_to<route_table>,
  caf::replies_to<status_atom>::with<acceptor_status>,
  caf::replies_to<configs_atom>::with<config_history>>;

using proposer_actor = caf::typed_actor<
  caf::reacts_to<promise>, caf::reacts_to<accepted>, caf::reacts_to<nack>,
  caf::reacts_to<success_ack>, caf::reacts_to<leader_change>,
  caf::reacts_to<client_command>, caf::reacts_to<client_batch>,
  caf::reacts_to<read_request>, caf::reacts_to<read_probe_ack>,
  caf::replies_to<membership_request>::with<membership_reply>,
  caf::reacts_to<learner_progress>, caf::reacts_to<flush_atom>, caf::reacts_to<tick_atom>,
  caf::reacts_to<route_table>,
  caf::replies_to<status_atom>::with<proposer_status>>;

using learner_actor = caf::typed_actor<
  caf::reacts_to<chosen>, caf::reacts_to<read_index>,
  caf::reacts_to<snapshot_request>, caf::reacts_to<snapshot_chunk>,
  caf::reacts_to<command_refused>, caf::reacts_to<read_refused>,
  caf::reacts_to<tick_atom>,
  caf::reacts_to<route_table>, caf::reacts_to<client_closed>,
  caf::replies_to<client_request>::with<client_reply>,
  caf::reacts_to<local_request>,
  caf::replies_to<status_atom>::with<learner_status>>;

using elector_actor = caf::typed_actor<
  caf::reacts_to<heartbeat>, caf::reacts_to<tick_atom>,
  caf::reacts_to<configuration>,
  caf::reacts_to<route_table>,
  caf::replies_to<status_atom>::with<elector_status>>;

/// The learner's state changes for the state writer (local only).
struct state_write_request {
  state_write write;
};

/// The state writer's answer: the changes up to `applied` are durable (ok),
/// or committing failed (they stay pending and are tried again).
struct state_done {
  bool ok = true;
  slot_t applied = 0;
  std::string error;
};

/// Snapshot work for the state writer (local only): serve a chunk of this
/// learner's snapshot, store a received chunk, install the received
/// snapshot.
struct serve_snapshot {
  snapshot_request request;
};

struct store_snapshot_chunk {
  snapshot_chunk chunk;
};

struct chunk_stored {
  bool ok = true;
  std::string error;
};

struct install_snapshot {};

/// The machine loaded from an installed snapshot (empty: failed, `error`
/// says why).
struct snapshot_installed {
  std::shared_ptr<state_machine> machine;
  std::string error;
};

/// The detached actor that owns a learner's state store: writes the state
/// machine's changes behind the apply path, group-committing, and does the
/// snapshot I/O. One actor, so installs and writes are ordered.
using state_actor = caf::typed_actor<
  caf::replies_to<state_write_request>::with<state_done>,
  caf::replies_to<serve_snapshot>::with<snapshot_chunk>,
  caf::replies_to<store_snapshot_chunk>::with<chunk_stored>,
  caf::replies_to<install_snapshot>::with<snapshot_installed>,
  caf::reacts_to<commit_atom>>;

/// The detached actor that owns a process's store and group-commits.
using disk_actor = caf::typed_actor<
  caf::replies_to<write_request>::with<write_done>,
  caf::reacts_to<commit_atom>, caf::reacts_to<flush_atom>>;

/// The role actors one process hosts for one node (invalid handle: the
/// role is not hosted there). Answers a directory lookup across the network.
struct role_handles {
  /// The node these roles belong to.
  node_id node = 0;
  acceptor_actor acceptor;
  proposer_actor proposer;
  learner_actor learner;
  elector_actor elector;
  /// The process's directory: it relays messages for nodes that the
  /// sender does not reach directly (see protocol/routing.hpp).
  caf::actor directory;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, role_handles& x) {
  return f(caf::meta::type_name("role_handles"), x.node, x.acceptor,
           x.proposer, x.learner, x.elector, x.directory);
}

/// Everything a process's directory knows: the roles of every node it is
/// connected to, its own included. Pushed to local role actors on change.
struct route_table {
  /// This process's node.
  node_id self = 0;
  std::map<node_id, role_handles> nodes;
  /// Turns through the relays (see choose_relay); the shell's own.
  mutable uint64_t relay_cursor = 0;
};

} // namespace paxoskv
