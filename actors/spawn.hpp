// Spawning the actors of one process. Heavy CAF templates stay in the .cpp
// files; this header only names handles.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "actors/roles.hpp"
#include "actors/shell.hpp"
#include "protocol/acceptor.hpp"
#include "protocol/elector.hpp"
#include "protocol/learner.hpp"
#include "protocol/proposer.hpp"
#include "storage/store.hpp"

namespace caf {
class actor_system;
}

namespace paxoskv {

/// How long one core tick lasts.
using tick_duration = std::chrono::milliseconds;

/// `detached`: on its own thread (production). Tests on CAF's
/// deterministic scheduler spawn it scheduled instead.
disk_actor spawn_disk(caf::actor_system& sys, std::unique_ptr<store> disk,
                      node_id node, bool detached = true);

/// The learner's state writer: detached like the disk actor, with its own
/// store, so the two fsync in parallel.
state_actor spawn_state_writer(caf::actor_system& sys,
                               std::unique_ptr<state_store> st, node_id node,
                               bool detached = true);

acceptor_actor spawn_acceptor(caf::actor_system& sys, acceptor_config cfg,
                              acceptor_state restored, disk_actor disk);

proposer_actor spawn_proposer(caf::actor_system& sys, proposer_config cfg,
                              uint64_t restored_round, disk_actor disk,
                              tick_duration tick);

struct learner_shell_config {
  learner_config core;
  tick_duration tick{10};
  /// A client waits at most this long for its command to be applied; then
  /// it hears "outcome unknown" (the command may still take effect).
  std::chrono::milliseconds client_timeout{5000};
  /// Waiting client requests per learner; beyond this new ones are refused.
  size_t clients_waiting_max = 1 << 20;
  /// A command without an outcome, or a read without a read index, is sent
  /// again after this many ticks (2T): the proposer it reached may have
  /// lost its leadership and dropped it.
  uint32_t resend_ticks = 10;
  /// Nodes hosting a proposer (where client commands can go).
  std::vector<node_id> proposers;
  /// A snapshot transfer found interrupted on disk, to resume.
  std::optional<snapshot_transfer> resume;
};

/// A learner over `sm` (loaded from its durable form), writing its changes
/// through `writer` (an invalid handle: kept in memory only, for tests).
learner_actor spawn_learner(caf::actor_system& sys, learner_shell_config cfg,
                            std::unique_ptr<state_machine> sm,
                            state_actor writer);

/// An elector following `members` (elector::follow) from the start; an
/// empty configuration leaves `cfg`'s lists.
elector_actor spawn_elector(caf::actor_system& sys, elector_config cfg,
                            configuration members, tick_duration tick);

/// Where another process of the cluster listens.
struct peer_address {
  node_id node = 0;
  std::string host;
  uint16_t port = 0;
};

/// The directory of a process: answers lookups for the roles it hosts,
/// connects to every peer (asynchronously, reconnecting with backoff) and
/// pushes the route table to the local role actors whenever it changes.
caf::actor spawn_directory(caf::actor_system& sys, role_handles local,
                           std::vector<peer_address> peers);

} // namespace paxoskv
