// The client service with real Redis clients from Debian's redis-tools.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test/e2e/harness.hpp"

using namespace paxoskv::e2e;

namespace {

constexpr const char* redis_cli = "/usr/bin/redis-cli";
constexpr const char* redis_benchmark = "/usr/bin/redis-benchmark";

cli_result redis(const cluster& c, uint32_t node,
                 std::vector<std::string> args) {
  args.insert(args.begin(), {"-p", std::to_string(c.client_port(node))});
  return run_program(redis_cli, args, ms{10000});
}

uint32_t ready_cluster(cluster& c) {
  c.start_all();
  uint32_t leader = 0;
  wait_for(
    [&] {
      for (auto n : c.nodes())
        if (redis(c, n, {"ping"}).out != "PONG\n")
          return false;
      return (leader = c.leader()) != 0;
    },
    ms{15000}, ms{50});
  return leader;
}

/// A raw TCP connection to a client port.
struct raw_conn {
  int fd = -1;
  explicit raw_conn(uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  }
  ~raw_conn() { ::close(fd); }
  void send(const std::string& s) {
    REQUIRE(::write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size()));
  }
  /// Reads until `n` bytes arrived, the peer closes or `deadline` passes.
  std::string read_bytes(size_t n, ms deadline) {
    std::string out;
    char buf[4096];
    auto end = std::chrono::steady_clock::now() + deadline;
    while (out.size() < n) {
      auto left = std::chrono::duration_cast<ms>(
        end - std::chrono::steady_clock::now());
      pollfd p{fd, POLLIN, 0};
      if (left.count() <= 0
          || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        break;
      auto k = ::read(fd, buf, std::min(sizeof(buf), n - out.size()));
      if (k <= 0)
        break;
      out.append(buf, static_cast<size_t>(k));
    }
    return out;
  }
  /// Reads until the peer closes or `deadline` passes.
  std::string read_all(ms deadline, bool* closed) {
    std::string out;
    char buf[4096];
    *closed = false;
    auto end = std::chrono::steady_clock::now() + deadline;
    for (;;) {
      auto left = std::chrono::duration_cast<ms>(
        end - std::chrono::steady_clock::now());
      pollfd p{fd, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        return out;
      auto n = ::read(fd, buf, sizeof(buf));
      if (n <= 0) {
        *closed = true;
        return out;
      }
      out.append(buf, static_cast<size_t>(n));
    }
  }
};

} // namespace

TEST_CASE("redis-cli writes on one node and reads on every other") {
  cluster c({{1}, {2}, {3}}, 50, {}, 3000);
  REQUIRE(ready_cluster(c) != 0);
  CHECK(redis(c, 1, {"set", "greeting", "hello"}).out == "OK\n");
  for (auto n : c.nodes())
    CHECK(redis(c, n, {"get", "greeting"}).out == "hello\n");
  CHECK(redis(c, 2, {"mset", "a", "1", "b", "2"}).out == "OK\n");
  CHECK(redis(c, 3, {"mget", "a", "b"}).out == "1\n2\n");
  CHECK(redis(c, 1, {"incr", "a"}).out == "2\n");
  CHECK(redis(c, 3, {"exists", "a", "b", "zz"}).out == "2\n");
  CHECK(redis(c, 2, {"del", "a", "b"}).out == "2\n");
  CHECK(redis(c, 1, {"dbsize"}).out == "1\n");
  CHECK(redis(c, 1, {"set", "k", "v", "ex", "10"}).out.find("expiry is not "
                                                          "supported")
        != std::string::npos);
  CHECK(redis(c, 1, {"nosuchcommand"}).out.find("ERR unknown command")
        != std::string::npos);
  CHECK(redis(c, 1, {"get"}).out.find("wrong number of arguments")
        != std::string::npos);
  // INFO reports each node's part: exactly one says it leads, all agree on
  // who, and each reports its applied index and connected peers.
  int leaders = 0;
  for (auto n : c.nodes()) {
    auto info = redis(c, n, {"info"}).out;
    CAPTURE(info);
    leaders += info.find("role:leader") != std::string::npos ? 1 : 0;
    CHECK(info.find("node:" + std::to_string(n)) != std::string::npos);
    CHECK(info.find("applied_index:") != std::string::npos);
    CHECK(info.find("peers_connected:") != std::string::npos);
    CHECK(info.find("leader:" + std::to_string(c.leader())) != std::string::npos);
  }
  CHECK(leaders == 1);
}

std::string resp_array(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (auto& a : args)
    out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return out;
}

TEST_CASE("each connection chooses its read level; every level reads the "
          "latest write on every node") {
  cluster c({{1}, {2}, {3}}, 50, {}, 3000);
  REQUIRE(ready_cluster(c) != 0);
  CHECK(redis(c, 1, {"info"}).out.find("read_level:leader")
        != std::string::npos);
  // The leader holds a lease (on by default) and says for how long.
  CHECK(wait_for(
    [&] {
      auto info = redis(c, c.leader(), {"info"}).out;
      auto at = info.find("lease_ms_left:");
      return at != std::string::npos
             && info.compare(at, 16, "lease_ms_left:0\r") != 0
             && info.compare(at, 15, "lease_ms_left:0") != 0;
    },
    ms{5000}, ms{20}));
  for (uint32_t round = 0; round < 2; ++round)
    for (auto writer : c.nodes()) {
      auto value = "v" + std::to_string(round) + "-" + std::to_string(writer);
      REQUIRE(redis(c, writer, {"set", "k", value}).out == "OK\n");
      for (auto n : c.nodes()) {
        CAPTURE(n);
        raw_conn conn(c.client_port(n));
        std::string req, expected;
        auto bulk = [](const std::string& v) {
          return "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n";
        };
        for (auto level : {"lease", "log", "leader"}) {
          req += resp_array({"READLEVEL", level}) + resp_array({"GET", "k"})
                 + resp_array({"MGET", "k", "nokey"});
          expected += "+OK\r\n" + bulk(value) + "*2\r\n" + bulk(value)
                      + "$-1\r\n";
        }
        req += resp_array({"READLEVEL"}) + resp_array({"READLEVEL", "fast"});
        expected += bulk("leader")
                    + "-ERR read level must be log, leader or lease\r\n";
        conn.send(req);
        CHECK(conn.read_bytes(expected.size(), ms{10000}) == expected);
      }
    }
  // A node configured for log reads says so, and serves the same value.
  cluster logs({{1}, {2}, {3}}, 50, {"--read-level=log"}, 3000);
  REQUIRE(ready_cluster(logs) != 0);
  CHECK(redis(logs, 2, {"info"}).out.find("read_level:log")
        != std::string::npos);
  REQUIRE(redis(logs, 1, {"set", "k", "x"}).out == "OK\n");
  CHECK(redis(logs, 3, {"get", "k"}).out == "x\n");
}

TEST_CASE("redis-benchmark with 16 clients and pipelining completes without "
          "errors") {
  cluster c({{1}, {2}, {3}}, 50, {}, 5000);
  REQUIRE(ready_cluster(c) != 0);
  auto r = run_program(redis_benchmark,
                       {"-p", std::to_string(c.client_port(1)), "-t",
                        "set,get", "-n", "20000", "-c", "16", "-P", "16", "-d",
                        "100", "-q", "--csv"},
                       ms{120000});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("\"SET\"") != std::string::npos);
  CHECK(r.out.find("\"GET\"") != std::string::npos);
  CHECK(r.err.find("Error") == std::string::npos);
  CHECK(r.out.find("Error") == std::string::npos);
  // Every SET was applied: the key the benchmark writes exists everywhere.
  for (auto n : c.nodes())
    CHECK(wait_for(
      [&] { return redis(c, n, {"strlen", "key:__rand_int__"}).out == "100\n"; },
      ms{10000}, ms{50}));
}

TEST_CASE("garbage on one connection closes only that connection") {
  cluster c({{1}, {2}, {3}}, 50, {}, 3000);
  REQUIRE(ready_cluster(c) != 0);
  raw_conn good(c.client_port(1));
  raw_conn bad(c.client_port(1));
  std::string garbage = "*3\r\n$3\r\nSET\r\n$x\r\n";
  for (int i = 0; i < 256; ++i)
    garbage += static_cast<char>(i * 37);
  bad.send(garbage);
  bool closed = false;
  auto answer = bad.read_all(ms{5000}, &closed);
  CHECK(answer.rfind("-ERR Protocol error", 0) == 0);
  CHECK(closed);
  // A half-sent request on a third connection, then the node still serves.
  raw_conn half(c.client_port(1));
  half.send("*2\r\n$3\r\nGET\r\n$10\r\nabc");
  good.send("*1\r\n$4\r\nPING\r\n");
  CHECK(good.read_all(ms{2000}, &closed) == "+PONG\r\n");
  CHECK(redis(c, 1, {"set", "after", "ok"}).out == "OK\n");
  CHECK(redis(c, 2, {"get", "after"}).out == "ok\n");
}

TEST_CASE("values above the limit are refused and change nothing") {
  cluster c({{1}, {2}, {3}}, 50, {"--client-value-max-bytes=1000"}, 3000);
  REQUIRE(ready_cluster(c) != 0);
  CHECK(redis(c, 1, {"set", "big", std::string(1001, 'x')}).out.find(
          "value too large")
        != std::string::npos);
  CHECK(redis(c, 1, {"set", "big", std::string(1000, 'x')}).out == "OK\n");
  CHECK(redis(c, 2, {"strlen", "big"}).out == "1000\n");
}
