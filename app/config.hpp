// paxoskv-node's configuration: CAF's INI file (--config-file=FILE) plus
// command-line flags, one convention for both (INI key `heartbeat-ms` in
// section [global] is the flag --heartbeat-ms).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <caf/actor_system_config.hpp>

#include "actors/node.hpp"
#include "app/client_server.hpp"

namespace paxoskv {

class node_config : public caf::actor_system_config {
public:
  node_config();

  std::string cluster_id;
  uint32_t node = 0;
  std::string roles = "proposer,acceptor,learner,elector";
  std::string data_dir;
  std::string peers;
  std::string acceptors, proposers, learners, electors;
  std::string listen_host;
  uint32_t heartbeat_ms = 100;
  uint32_t election_timeout_ms = 0;
  uint32_t client_timeout_ms = 5000;
  uint16_t client_port = 0;
  uint64_t client_value_max_bytes = 1 << 20;
  uint64_t client_connections_max = 10000;
  uint32_t client_idle_timeout_s = 0;
  std::string requirepass;
  std::string read_level = "leader";
  int64_t lease_ms = -1;
  int64_t lease_margin_ms = -1;
  uint64_t map_size_mb = 4096;
  uint64_t log_tail_slots = 10000;
  int64_t log_tail_mb = -1;
  uint64_t snapshot_rate_mb = 32;
  std::string log_level = "info";
  uint32_t worker_threads = 1;
  int64_t peer_timeout_ms = -1;
  bool bootstrap = false;
  bool join = false;
  uint32_t join_timeout_s = 60;
  uint32_t alpha = 64;

  /// Checks that every key of the INI file read by parse() names an
  /// option: CAF ignores unknown keys, so a misspelt `client-port` would
  /// silently leave the node without a client port. On error, `error`
  /// names the file, the line and the key.
  bool check_config_file(std::string& error) const;
};

/// What the node needs to start, or an error naming the bad field.
struct validated_config {
  node_settings settings;
  std::string listen_host;
  uint16_t peer_port = 0;
  /// The client service (Redis protocol); port 0: none.
  client_server_config client;
  paxoskv::log_level level = paxoskv::log_level::info;
  /// CAF scheduler threads.
  uint32_t worker_threads = 1;
  /// A peer connection silent this long is dropped (and redialled).
  std::chrono::milliseconds peer_timeout{1000};
  /// How long --join looks for a member that answers.
  std::chrono::seconds join_timeout{60};
};

/// Checks every field and their consistency. On error, `error` holds a
/// message that starts with the field's name.
std::optional<validated_config> validate(const node_config& cfg,
                                         std::string& error);

/// Parses "ID@HOST:PORT[,ID@HOST:PORT...]".
std::optional<std::vector<peer_address>> parse_peers(const std::string& s,
                                                     std::string& error);

/// Parses "HOST:PORT".
std::optional<std::pair<std::string, uint16_t>>
parse_host_port(const std::string& s);

} // namespace paxoskv
