// The client service: the Redis protocol (RESP2) over Boost.Asio.
//
// Each connection is a client session with its own client id; every command
// that goes through the log carries (client id, sequence), so a command
// re-proposed or resent is applied once. Requests are pipelined: up to
// `in_flight_max` per connection, answered in order.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "actors/roles.hpp"
#include "protocol/resp.hpp"

namespace caf {
class actor_system;
}

namespace paxoskv {

struct client_server_config {
  /// Where to listen.
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  /// This node, for INFO.
  node_id node = 0;
  /// Largest value (SET, MSET, APPEND argument).
  size_t value_bytes_max = 1 << 20;
  /// Protocol limits (request size, array length, inline length).
  resp::limits protocol;
  /// Open connections at most; more are refused with an error.
  size_t connections_max = 10000;
  /// Requests in flight per connection (pipelining). At most the state
  /// machine's saved replies per client, so a late retry is never lost.
  size_t in_flight_max = 64;
  /// A transaction (MULTI ... EXEC) holds at most this many commands and
  /// bytes: it is one log entry.
  size_t transaction_commands_max = 10000;
  size_t transaction_bytes_max = size_t{16} << 20;
  /// A connection idle this long is closed (0: never).
  std::chrono::seconds idle_timeout{0};
  /// If set, clients must AUTH with it first.
  std::string password;
  /// How read-only commands are served unless a connection chose another
  /// level with READLEVEL.
  read_level read = read_level::leader;
};

class client_server {
public:
  /// Starts listening on its own thread; the process's learner applies the
  /// commands, and INFO reports the status of the roles in `roles`.
  static std::unique_ptr<client_server>
  start(caf::actor_system& sys, const role_handles& roles,
        const client_server_config& cfg, std::string& error);

  ~client_server();

  /// The port actually bound (useful when configured as 0).
  uint16_t port() const;

  /// Stops accepting, closes every connection, joins the thread.
  void stop();

  struct impl;

private:
  explicit client_server(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace paxoskv
