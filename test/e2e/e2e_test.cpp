// End-to-end tests with real paxoskv-node processes on loopback.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <fstream>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sstream>

#include "test/e2e/harness.hpp"
#include "test/e2e/resp_client.hpp"

using namespace paxoskv::e2e;

namespace {

/// SET through `node`; true if acknowledged.
bool set(const cluster& c, uint32_t node, const std::string& key,
         const std::string& value) {
  auto r = c.cli({"--node", c.address(node), "set", key, value}, ms{10000});
  return r.exit_code == 0 && r.out == "OK\n";
}

std::string get(const cluster& c, uint32_t node, const std::string& key) {
  auto r = c.cli({"--node", c.address(node), "get", key}, ms{10000});
  return r.exit_code == 0 ? r.out : "error " + std::to_string(r.exit_code)
                                      + ": " + r.err;
}

/// Waits until every started node answers and one of them leads. (A
/// majority can elect a leader while a slower process is still starting.)
uint32_t wait_leader(const cluster& c, ms deadline) {
  uint32_t leader = 0;
  wait_for(
    [&] {
      for (auto n : c.nodes())
        if (c.running(n)
            && c.cli({"status", c.address(n)}, ms{5000}).exit_code != 0)
          return false;
      return (leader = c.leader()) != 0;
    },
    deadline, ms{50});
  return leader;
}

} // namespace

TEST_CASE("a 3-process cluster survives its leader's death, catches the "
          "leader up again, and refuses to complete without a majority") {
  cluster c(full_nodes(3), 50, {}, 1500);
  c.start_all();
  auto leader = wait_leader(c, ms{10000});
  REQUIRE(leader != 0);
  // Commands through the CLI, written on one node and read on another.
  REQUIRE(set(c, 1, "k", "v1"));
  CHECK(get(c, 2, "k") == "v1\n");
  CHECK(get(c, 3, "k") == "v1\n");

  // SIGKILL the leader: another node leads within a few T.
  c.kill(leader);
  auto survivor = leader == 1 ? 2u : 1u;
  uint32_t next = 0;
  CHECK(wait_for([&] { return (next = c.leader()) != 0 && next != leader; },
                 ms{5000}, ms{50}));
  CHECK(wait_for([&] { return set(c, survivor, "k", "v2"); }, ms{10000}));
  CHECK(get(c, survivor, "k") == "v2\n");

  // The old leader restarts, catches up and agrees.
  c.start(leader);
  REQUIRE(wait_leader(c, ms{10000}) != 0);
  CHECK(wait_for([&] { return get(c, leader, "k") == "v2\n"; }, ms{10000},
                 ms{50}));

  // Two of three down: a command does not complete, and the client hears
  // a clear error after a bounded wait (outcome unknown: it was proposed).
  auto keep = leader;
  for (auto n : c.nodes())
    if (n != keep)
      c.kill(n);
  auto r = c.cli({"--node", c.address(keep), "set", "k", "v3"}, ms{10000});
  INFO("exit " << r.exit_code << " out: " << r.out << " err: " << r.err);
  CHECK(r.exit_code != 0);
  CHECK(r.exit_code != -1); // answered within the client timeout, no hang
  CHECK((r.err.find("outcome unknown") != std::string::npos
         || r.err.find("not applied") != std::string::npos));

  // Both back: progress resumes.
  for (auto n : c.nodes())
    c.start(n);
  REQUIRE(wait_leader(c, ms{10000}) != 0);
  CHECK(wait_for([&] { return set(c, keep, "k", "v4"); }, ms{15000}));
  for (auto n : c.nodes())
    CHECK(wait_for([&] { return get(c, n, "k") == "v4\n"; }, ms{10000},
                   ms{50}));
  // One log line per leader change, with node and role.
  CHECK(log_of(c, keep).find("role=elector leader is now") != std::string::npos);
}

TEST_CASE("a 5-process cluster keeps working with two processes killed") {
  cluster c(full_nodes(5), 50, {}, 2000);
  c.start_all();
  auto leader = wait_leader(c, ms{10000});
  REQUIRE(leader != 0);
  REQUIRE(set(c, 1, "a", "1"));
  // Kill the leader and one more.
  c.kill(leader);
  auto other = leader == 5 ? 4u : 5u;
  c.kill(other);
  std::vector<uint32_t> alive;
  for (auto n : c.nodes())
    if (n != leader && n != other)
      alive.push_back(n);
  CHECK(wait_for([&] { return set(c, alive[0], "a", "2"); }, ms{15000}));
  for (auto n : alive)
    CHECK(wait_for([&] { return get(c, n, "a") == "2\n"; }, ms{10000},
                   ms{50}));
}

TEST_CASE("roles in separate processes work as roles in one process") {
  // Three processes host only acceptors; two host proposer, learner and
  // elector.
  std::vector<process_spec> procs{
    {1, "acceptor"}, {2, "acceptor"}, {3, "acceptor"},
    {4, "proposer,learner,elector"}, {5, "proposer,learner,elector"}};
  cluster c(procs, 50,
            {"--acceptors=1,2,3", "--proposers=4,5", "--learners=4,5",
             "--electors=4,5"},
            2000);
  c.start_all();
  auto leader = wait_leader(c, ms{10000});
  REQUIRE(leader != 0);
  REQUIRE(set(c, 4, "split", "yes"));
  CHECK(get(c, 5, "split") == "yes\n");
  // An acceptor process dies: a majority of acceptors remains.
  c.kill(2);
  CHECK(wait_for([&] { return set(c, 5, "split", "still"); }, ms{10000}));
  CHECK(get(c, 4, "split") == "still\n");
  // The leading process dies: the other one takes over.
  c.kill(leader);
  auto other = leader == 4 ? 5u : 4u;
  CHECK(wait_for([&] { return set(c, other, "split", "again"); }, ms{15000}));
  CHECK(get(c, other, "split") == "again\n");
}

TEST_CASE("bad configuration is rejected at start, naming the field") {
  struct bad {
    std::vector<std::string> args;
    const char* field;
  } cases[] = {
    {{"--node-id=1", "--peers=1@127.0.0.1:9", "--data-dir=/tmp/x"},
     "cluster-id"},
    {{"--cluster-id=c", "--peers=1@127.0.0.1:9", "--data-dir=/tmp/x"},
     "node-id"},
    {{"--cluster-id=c", "--node-id=2", "--peers=1@127.0.0.1:9",
      "--data-dir=/tmp/x"},
     "peers"},
    {{"--cluster-id=c", "--node-id=1", "--peers=1@127.0.0.1:9",
      "--roles=acceptor,oracle", "--data-dir=/tmp/x"},
     "roles"},
    {{"--cluster-id=c", "--node-id=1", "--peers=1@127.0.0.1:9"}, "data-dir"},
    {{"--cluster-id=c", "--node-id=1", "--peers=1@127.0.0.1:9",
      "--data-dir=/tmp/x", "--heartbeat-ms=1"},
     "heartbeat-ms"},
    {{"--cluster-id=c", "--node-id=1", "--peers=1@127.0.0.1:9,2@x:7",
      "--data-dir=/tmp/x", "--acceptors=1,3"},
     "acceptors"},
    {{"--cluster-id=c", "--node-id=1", "--peers=1@127.0.0.1:9",
      "--data-dir=/tmp/x", "--read-level=fast"},
     "read-level"},
    {{"--cluster-id=c", "--node-id=1", "--peers=1@127.0.0.1:9",
      "--data-dir=/tmp/x", "--heartbeat-ms=100", "--lease-ms=110"},
     "lease-ms"},
  };
  for (auto& b : cases) {
    auto r = run_program(PAXOSKV_NODE_BIN, b.args, ms{5000});
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(std::string("bad configuration: ") + b.field)
          != std::string::npos);
  }
}

TEST_CASE("the CLI reports an unreachable node clearly instead of hanging") {
  auto r = run_program(PAXOSKV_CLI_BIN, {"status", "127.0.0.1:1"}, ms{5000});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("cannot reach") != std::string::npos);
}

TEST_CASE("an unknown key in the configuration file is refused, naming it") {
  paxoskv::test::temp_dir dir;
  auto ini = dir.sub("node.ini");
  {
    std::ofstream f(ini);
    f << "[global]\ncluster-id=\"c\"\nnode-id=1\n"
         "peers=\"1@127.0.0.1:9\"\ndata-dir=\""
      << dir.sub("data") << "\"\nclinet-port=7001\n";
  }
  auto r = run_program(PAXOSKV_NODE_BIN, {"--config-file=" + ini}, ms{5000});
  INFO(r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("line 6: unknown key 'clinet-port'") != std::string::npos);
}

TEST_CASE("a node that cannot listen exits with its reason instead of "
          "hanging") {
  // Something else holds the port: the node must say so and exit.
  silent_listener holder;
  REQUIRE(holder.port != 0);
  auto busy = std::to_string(holder.port);
  paxoskv::test::temp_dir dir;
  auto base = std::vector<std::string>{"--cluster-id=c", "--node-id=1",
                                       "--bootstrap",
                                       "--data-dir=" + dir.sub("data")};
  auto peer_busy = base;
  peer_busy.push_back("--peers=1@127.0.0.1:" + busy);
  auto r = run_program(PAXOSKV_NODE_BIN, peer_busy, ms{10000});
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("cannot listen for peers") != std::string::npos);
  auto client_busy = base;
  client_busy.push_back("--peers=1@127.0.0.1:" + std::to_string(free_port()));
  client_busy.push_back("--client-port=" + busy);
  r = run_program(PAXOSKV_NODE_BIN, client_busy, ms{10000});
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("cannot listen for clients") != std::string::npos);
}

TEST_CASE("the CLI pointed at a port that never answers gives up within its "
          "bound") {
  // A listening socket that accepts (the kernel does) and never speaks:
  // like a frozen node, or a client port.
  silent_listener silent;
  REQUIRE(silent.port != 0);
  auto address = "127.0.0.1:" + std::to_string(silent.port);
  auto start = std::chrono::steady_clock::now();
  auto r = run_program(PAXOSKV_CLI_BIN,
                       {"--node", address, "--timeout-ms", "500", "get", "k"},
                       ms{10000});
  auto took = std::chrono::steady_clock::now() - start;
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("no answer from " + address) != std::string::npos);
  CHECK(took < std::chrono::seconds(5));
}

TEST_CASE("a node that starts late is reachable at once, not after its "
          "peers' reconnect backoff") {
  // Nodes 2 and 3 start first and lead; their dials to node 1 fail and
  // back off (100 ms doubling). Node 1 then starts and dials them: they
  // must dial back right away, or the leader cannot tell node 1's learner
  // what was chosen until its backoff runs out.
  cluster c(full_nodes(3), 50, {"--log-level=debug"}, 1000);
  c.start(2);
  c.start(3);
  REQUIRE(wait_for([&] { return c.leader() != 0; }, ms{10000}, ms{50}));
  // Wait until both have backed off to the longest interval: their next
  // dial to node 1 is then 2 s away, longer than the client timeout.
  auto backed_off = [&](uint32_t n) {
    return log_of(c, n).find("peer 1 unreachable; retrying in 2000 ms")
           != std::string::npos;
  };
  REQUIRE(wait_for([&] { return backed_off(2) && backed_off(3); }, ms{15000},
                   ms{50}));
  c.start(1);
  REQUIRE(wait_for(
    [&] { return c.cli({"status", c.address(1)}, ms{5000}).exit_code == 0; },
    ms{10000}, ms{20}));
  REQUIRE(set(c, 2, "late", "ok"));
  // Node 1's learner must learn the write and answer within 1 s.
  auto r = c.cli({"--node", c.address(1), "get", "late"}, ms{10000});
  CHECK(r.out == "ok\n");
  CHECK(r.exit_code == 0);
}

TEST_CASE("a peer that stops answering is dropped within peer-timeout-ms and "
          "dialled again when it answers") {
  // SIGSTOP: the kernel still acknowledges, nothing reaches the process,
  // as with a hung process. Without keepalives its peers would never
  // notice, and everything sent to it would queue.
  cluster c(full_nodes(3), 50, {"--peer-timeout-ms=600"}, 2000);
  c.start_all();
  REQUIRE(wait_for([&] { return c.leader() != 0; }, ms{15000}, ms{50}));
  auto leader = c.leader();
  auto follower = leader == 1 ? 2u : 1u;
  auto down = "peer " + std::to_string(follower) + " down";
  auto up_again = [&] {
    auto log = log_of(c, leader);
    auto d = log.find(down);
    return d != std::string::npos
           && log.find("peer " + std::to_string(follower) + " up", d)
                != std::string::npos;
  };
  c.signal(follower, SIGSTOP);
  auto stopped = std::chrono::steady_clock::now();
  CHECK(wait_for([&] { return log_of(c, leader).find(down) != std::string::npos; },
                 ms{5000}, ms{20}));
  auto noticed = std::chrono::steady_clock::now() - stopped;
  CHECK(noticed < std::chrono::seconds(3));
  // The others keep serving meanwhile.
  auto other = 6 - leader - follower;
  CHECK(c.cli({"--node", c.address(other), "set", "while", "stopped"}, ms{10000})
          .exit_code
        == 0);
  c.signal(follower, SIGCONT);
  CHECK(wait_for(up_again, ms{10000}, ms{50}));
}
