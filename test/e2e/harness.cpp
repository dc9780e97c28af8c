#include "test/e2e/harness.hpp"

#include <arpa/inet.h>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace paxoskv::e2e {

namespace {

using clock_type = std::chrono::steady_clock;

pid_t spawn(const std::vector<std::string>& argv, int out_fd, int err_fd) {
  auto pid = ::fork();
  if (pid < 0)
    throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

/// Reaps `pid`, waiting at most `deadline`; true if it exited. Waits on a
/// pidfd, which becomes readable when the process exits.
bool reap(pid_t pid, ms deadline, int* status = nullptr) {
  int st = 0;
  auto done = [&] {
    auto r = ::waitpid(pid, &st, WNOHANG);
    if (r != pid && r >= 0)
      return false;
    if (status)
      *status = st;
    return true;
  };
  if (done())
    return true;
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0)
    return done();
  pollfd p{fd, POLLIN, 0};
  ::poll(&p, 1, static_cast<int>(deadline.count()));
  ::close(fd);
  return done();
}

} // namespace

uint16_t free_port() {
  // A node binds the port after we pick it. A port from the ephemeral
  // range may meanwhile become the local end of some outgoing connection
  // (clients of tests running alongside open hundreds), and the node then
  // fails with "address in use". So: a port below that range that the OS
  // lets us bind now; only another test's listener picking the same one in
  // the same instant can still take it.
  static std::mt19937 rng{std::random_device{}()};
  uint32_t low = 32768;
  if (std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range"); range)
    range >> low;
  auto try_bind = [](uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ok ? ntohs(addr.sin_port) : uint16_t{0};
  };
  if (low > 12000)
    for (int attempt = 0; attempt < 200; ++attempt)
      if (auto p = try_bind(static_cast<uint16_t>(
            10000 + rng() % (low - 10000))))
        return p;
  return try_bind(0); // The OS's choice.
}

bool wait_for(const std::function<bool()>& cond, ms deadline, ms poll) {
  auto end = clock_type::now() + deadline;
  for (;;) {
    if (cond())
      return true;
    if (clock_type::now() >= end)
      return false;
    std::this_thread::sleep_for(poll);
  }
}

std::string cluster::log_dir() const {
  // Logs outlive the test when PAXOSKV_E2E_LOG_DIR names a directory (each
  // cluster gets its own subdirectory), so a failure can be read after.
  if (auto* base = std::getenv("PAXOSKV_E2E_LOG_DIR")) {
    static int counter = 0;
    if (log_dir_.empty()) {
      log_dir_ = std::string(base) + "/cluster-" + std::to_string(::getpid())
                 + "-" + std::to_string(++counter);
      std::filesystem::create_directories(log_dir_);
    }
    return log_dir_;
  }
  return dir_.path();
}

cluster::cluster(std::vector<process_spec> procs, uint32_t heartbeat_ms,
                 std::vector<std::string> extra, uint32_t client_timeout_ms)
  : procs_(std::move(procs)),
    heartbeat_ms_(heartbeat_ms),
    client_timeout_ms_(client_timeout_ms),
    extra_(std::move(extra)) {
  for (auto& p : procs_) {
    ports_[p.node] = free_port();
    client_ports_[p.node] = free_port();
    peers_ += (peers_.empty() ? "" : ",") + std::to_string(p.node)
              + "@127.0.0.1:" + std::to_string(ports_[p.node]);
    logs_[p.node] = log_dir() + "/node" + std::to_string(p.node) + ".log";
  }
}

cluster::~cluster() {
  for (auto& [node, pid] : pids_) {
    ::kill(pid, SIGKILL);
    reap(pid, ms{5000});
  }
}

std::vector<uint32_t> cluster::nodes() const {
  std::vector<uint32_t> out;
  for (auto& p : procs_)
    out.push_back(p.node);
  return out;
}

std::string cluster::address(uint32_t node) const {
  return "127.0.0.1:" + std::to_string(ports_.at(node));
}

const std::string& cluster::log_path(uint32_t node) const {
  return logs_.at(node);
}

void cluster::start(uint32_t node, const std::vector<std::string>& flags) {
  if (running(node))
    return;
  const process_spec* spec = nullptr;
  for (auto& p : procs_)
    if (p.node == node)
      spec = &p;
  if (!spec)
    throw std::runtime_error("unknown node");
  std::vector<std::string> argv{
    PAXOSKV_NODE_BIN,
    "--cluster-id=e2e",
    "--node-id=" + std::to_string(node),
    "--roles=" + spec->roles,
    "--data-dir=" + dir_.sub("data" + std::to_string(node)),
    "--peers=" + (joining_.count(node) > 0 ? joining_.at(node) : peers_),
    "--heartbeat-ms=" + std::to_string(heartbeat_ms_),
    "--client-timeout-ms=" + std::to_string(client_timeout_ms_),
    "--map-size-mb=64",
  };
  if (spec->roles.find("learner") != std::string::npos)
    argv.push_back("--client-port=" + std::to_string(client_ports_.at(node)));
  argv.insert(argv.end(), extra_.begin(), extra_.end());
  if (started_.insert(node).second)
    argv.push_back(joining_.count(node) > 0 ? "--join" : "--bootstrap");
  argv.insert(argv.end(), flags.begin(), flags.end());
  int fd = ::open(logs_[node].c_str(), O_WRONLY | O_CREAT | O_APPEND, 0640);
  pids_[node] = spawn(argv, fd, fd);
  ::close(fd);
}

void cluster::add_joining(process_spec spec) {
  auto node = spec.node;
  if (ports_.count(node) > 0)
    throw std::runtime_error("node id in use");
  ports_[node] = free_port();
  client_ports_[node] = free_port();
  joining_[node] = peers_ + "," + std::to_string(node) + "@127.0.0.1:"
                   + std::to_string(ports_[node]);
  logs_[node] = log_dir() + "/node" + std::to_string(node) + ".log";
  procs_.push_back(std::move(spec));
}

void cluster::wipe(uint32_t node) {
  if (running(node))
    throw std::runtime_error("wipe of a running node");
  // Started before: a restart gets neither --bootstrap nor --join.
  std::filesystem::remove_all(dir_.sub("data" + std::to_string(node)));
}

void cluster::start_all() {
  for (auto& p : procs_)
    start(p.node);
}

void cluster::kill(uint32_t node, int sig) {
  auto i = pids_.find(node);
  if (i == pids_.end())
    return;
  ::kill(i->second, sig);
  if (!reap(i->second, ms{5000})) {
    ::kill(i->second, SIGKILL);
    reap(i->second, ms{5000});
  }
  pids_.erase(i);
}

void cluster::signal(uint32_t node, int sig) {
  auto i = pids_.find(node);
  if (i != pids_.end())
    ::kill(i->second, sig);
}

bool cluster::running(uint32_t node) const {
  auto i = pids_.find(node);
  return i != pids_.end() && ::waitpid(i->second, nullptr, WNOHANG) == 0;
}

cli_result cluster::cli(const std::vector<std::string>& args,
                        ms deadline) const {
  return run_program(PAXOSKV_CLI_BIN, args, deadline);
}

std::vector<process_spec> full_nodes(uint32_t n) {
  std::vector<process_spec> out;
  for (uint32_t i = 1; i <= n; ++i)
    out.push_back({i});
  return out;
}

std::string log_of(const cluster& c, uint32_t node) {
  std::ifstream in(c.log_path(node));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

cli_result run_program(const std::string& program,
                       const std::vector<std::string>& args, ms deadline) {
  int out[2], err[2];
  if (::pipe(out) != 0 || ::pipe(err) != 0)
    throw std::runtime_error("pipe failed");
  std::vector<std::string> argv{program};
  argv.insert(argv.end(), args.begin(), args.end());
  auto pid = spawn(argv, out[1], err[1]);
  ::close(out[1]);
  ::close(err[1]);
  cli_result r;
  auto end = clock_type::now() + deadline;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<ms>(end - clock_type::now());
    if (left.count() <= 0)
      break;
    if (::poll(fds, 2, static_cast<int>(left.count())) <= 0)
      break;
    for (int k = 0; k < 2; ++k) {
      if (fds[k].fd < 0 || !(fds[k].revents & (POLLIN | POLLHUP)))
        continue;
      auto n = ::read(fds[k].fd, buf, sizeof(buf));
      if (n <= 0) {
        ::close(fds[k].fd);
        fds[k].fd = -1;
        --open_fds;
      } else {
        (k == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0)
      ::close(f.fd);
  int status = 0;
  // The pipes close a moment before the process is gone: reap within what
  // is left of the deadline (at least a second).
  auto left = std::chrono::duration_cast<ms>(end - clock_type::now());
  if (!reap(pid, std::max(left, ms{1000}), &status)) {
    ::kill(pid, SIGKILL);
    reap(pid, ms{5000});
    r.exit_code = -1;
    return r;
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

uint32_t cluster::leader() const {
  for (auto& p : procs_) {
    if (!running(p.node) || p.roles.find("proposer") == std::string::npos)
      continue;
    auto r = cli({"status", "--json", address(p.node)}, ms{5000});
    if (r.exit_code == 0 && r.out.find("\"phase\":\"leading\"") != std::string::npos)
      return p.node;
  }
  return 0;
}

std::optional<uint64_t> cluster::applied(uint32_t node) const {
  auto r = cli({"status", "--json", address(node)}, ms{5000});
  auto key = std::string("\"applied\":");
  auto at = r.out.find(key);
  if (r.exit_code != 0 || at == std::string::npos)
    return std::nullopt;
  return std::stoull(r.out.substr(at + key.size()));
}

} // namespace paxoskv::e2e
