// What paxoskv-cli's commands share: reaching a node's directory over its
// peer port, and the bounded wait of every request.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/roles.hpp"

namespace paxoskv::cli {

/// Every request waits at most this long (--timeout-ms).
extern std::chrono::milliseconds request_timeout;
/// Set once a command was sent: it may take effect even if no answer comes.
extern std::atomic<bool> command_sent;

/// The directory published on a peer port, or nothing (after a message on
/// stderr unless `quiet`).
std::optional<caf::actor> directory_at(caf::actor_system& sys,
                                       const std::string& address,
                                       bool quiet = false);

/// The roles hosted behind a peer port, or nothing (after a message unless
/// `quiet`).
std::optional<role_handles> lookup(caf::actor_system& sys,
                                   const std::string& address,
                                   bool quiet = false);

/// Options of `member` commands.
struct member_options {
  bool json = false;
  /// `member add ... --learner`: a learner on purpose (not promoted).
  bool learner = false;
  /// How long `member replace` waits for the new node to catch up.
  std::chrono::seconds catch_up_wait{3600};
};

/// paxoskv-cli member list|add|remove|replace ... (args after "member").
int member_command(caf::actor_system& sys, const std::vector<std::string>& args,
                   const member_options& opts);

/// How long the whole `member` command may take (for the watchdog).
std::chrono::milliseconds member_command_limit(
  const std::vector<std::string>& args, const member_options& opts);

} // namespace paxoskv::cli
