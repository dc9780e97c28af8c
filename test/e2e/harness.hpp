// Runs paxoskv-node processes on loopback for end-to-end tests.
//
// Ports are chosen by the OS; every wait has a deadline; every process is
// stopped by its PID (SIGKILL at the latest when the harness goes away).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <sys/types.h>
#include <vector>

#include "test/temp_dir.hpp"

namespace paxoskv::e2e {

using ms = std::chrono::milliseconds;

/// One process of the cluster: a node id and the roles it hosts.
struct process_spec {
  uint32_t node = 0;
  std::string roles = "proposer,acceptor,learner,elector";
};

struct cli_result {
  int exit_code = -1; // -1: killed after the deadline
  std::string out;
  std::string err;
};

class cluster {
public:
  /// `extra` lists node ids per role when roles are split across processes
  /// (e.g. {"--acceptors=1,2,3", "--proposers=4,5", ...}).
  cluster(std::vector<process_spec> procs, uint32_t heartbeat_ms,
          std::vector<std::string> extra = {},
          uint32_t client_timeout_ms = 2000);
  ~cluster();

  /// Starts a node: with --bootstrap the first time (a node added with
  /// add_joining: --join), plain afterwards; `flags` are added.
  void start(uint32_t node, const std::vector<std::string>& flags = {});
  void start_all();
  /// A process that is not a member yet, started with --join: its peer
  /// list names it and the cluster's first members. Not started here.
  void add_joining(process_spec spec);
  /// Deletes a stopped node's data directory (a lost disk).
  void wipe(uint32_t node);
  /// Sends `sig` and reaps the process (bounded).
  void kill(uint32_t node, int sig = 9);
  bool running(uint32_t node) const;
  /// Sends `sig` without waiting (SIGSTOP, SIGCONT).
  void signal(uint32_t node, int sig);
  std::vector<uint32_t> nodes() const;

  std::string address(uint32_t node) const;
  /// The node's Redis-protocol client port.
  uint16_t client_port(uint32_t node) const { return client_ports_.at(node); }

  /// Runs paxoskv-cli with `args`, killed after `deadline`.
  cli_result cli(const std::vector<std::string>& args, ms deadline) const;

  /// The node whose proposer leads, as its status reports (0: none found).
  uint32_t leader() const;

  /// The learner's applied slot count of `node` (nullopt: no answer).
  std::optional<uint64_t> applied(uint32_t node) const;

  const std::string& log_path(uint32_t node) const;

private:
  std::string log_dir() const;

  std::vector<process_spec> procs_;
  mutable std::string log_dir_;
  uint32_t heartbeat_ms_;
  uint32_t client_timeout_ms_;
  std::vector<std::string> extra_;
  test::temp_dir dir_;
  std::map<uint32_t, uint16_t> ports_;
  std::map<uint32_t, uint16_t> client_ports_;
  std::map<uint32_t, pid_t> pids_;
  std::map<uint32_t, std::string> logs_;
  std::string peers_;
  /// Nodes started at least once since their data directory was made.
  std::set<uint32_t> started_;
  /// Nodes to start with --join, with their peer list.
  std::map<uint32_t, std::string> joining_;
};

/// Processes 1..n hosting every role.
std::vector<process_spec> full_nodes(uint32_t n);

/// Everything node `node` logged so far.
std::string log_of(const cluster& c, uint32_t node);

/// Runs `program` with `args`, killed after `deadline`.
cli_result run_program(const std::string& program,
                       const std::vector<std::string>& args, ms deadline);

/// Polls `cond` until it holds or `deadline` passed; true if it held.
bool wait_for(const std::function<bool()>& cond, ms deadline,
              ms poll = ms{20});

/// A port the OS considers free right now.
uint16_t free_port();

} // namespace paxoskv::e2e
