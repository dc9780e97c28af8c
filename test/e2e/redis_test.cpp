// The client service with real Redis clients from Debian's redis-tools.
#include <doctest/doctest.h>

#include <fstream>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test/e2e/harness.hpp"
#include "test/e2e/resp_client.hpp"

using namespace paxoskv::e2e;

namespace {

constexpr const char* redis_cli = "/usr/bin/redis-cli";
constexpr const char* redis_benchmark = "/usr/bin/redis-benchmark";

cli_result redis(const cluster& c, uint32_t node,
                 std::vector<std::string> args) {
  args.insert(args.begin(), {"-p", std::to_string(c.client_port(node))});
  return run_program(redis_cli, args, ms{10000});
}

/// Writes `cmds` (RESP inline commands) to a file and pipes it into
/// `node` with redis-cli --pipe.
cli_result pipe_into(const cluster& c, uint32_t node, const std::string& cmds,
                     ms deadline) {
  paxoskv::test::temp_dir dir;
  auto file = dir.path() + "/commands.txt";
  if (FILE* f = std::fopen(file.c_str(), "w")) {
    std::fwrite(cmds.data(), 1, cmds.size(), f);
    std::fclose(f);
  }
  return run_program("/bin/sh",
                     {"-c", std::string(redis_cli) + " -p "
                              + std::to_string(c.client_port(node))
                              + " --pipe < " + file},
                     deadline);
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
  // Expiry, set on one node, seen on the others.
  CHECK(redis(c, 1, {"set", "k", "v", "ex", "10"}).out == "OK\n");
  for (auto n : c.nodes()) {
    auto ttl = redis(c, n, {"ttl", "k"}).out;
    CHECK((ttl == "10\n" || ttl == "9\n"));
  }
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
    leaders += info.find("paxos_role:leader") != std::string::npos ? 1 : 0;
    // Redis's own field, for tools that read it.
    CHECK(info.find(info.find("paxos_role:leader") != std::string::npos
                      ? "\r\nrole:master"
                      : "\r\nrole:slave")
          != std::string::npos);
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

// -- pipelining: any depth, in order, under faults ---------------------------

TEST_CASE("redis-cli --pipe with 100,000 SETs applies every one") {
  cluster c({{1}, {2}, {3}}, 50, {}, 5000);
  REQUIRE(ready_cluster(c) != 0);
  std::string cmds;
  for (int i = 1; i <= 100000; ++i)
    cmds += "SET k" + std::to_string(i % 1000) + " v" + std::to_string(i)
            + "\r\n";
  // Through a follower: forwarding included.
  auto follower = c.leader() == 1 ? 2u : 1u;
  auto r = pipe_into(c, follower, cmds, ms{180000});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("errors: 0, replies: 100000") != std::string::npos);
  // The last SET of each key took effect last, on every node.
  for (auto n : c.nodes()) {
    CHECK(redis(c, n, {"get", "k999"}).out == "v99999\n");
    CHECK(redis(c, n, {"get", "k0"}).out == "v100000\n");
    CHECK(redis(c, n, {"dbsize"}).out == "1000\n");
  }
}

TEST_CASE("redis-benchmark with 100 pipelined requests per connection "
          "completes without errors") {
  cluster c({{1}, {2}, {3}}, 50, {}, 5000);
  REQUIRE(ready_cluster(c) != 0);
  auto r = run_program(redis_benchmark,
                       {"-p", std::to_string(c.client_port(1)), "-t", "set",
                        "-n", "50000", "-c", "4", "-P", "100", "-q", "--csv"},
                       ms{120000});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("\"SET\"") != std::string::npos);
  CHECK(r.err.find("rror") == std::string::npos);
  CHECK(r.out.find("rror") == std::string::npos);
}

namespace {

struct batch_writer {
  uint32_t node = 0;
  std::string key;
  uint64_t batches = 0, partial = 0;
  /// Read by the test's main thread while the writer runs.
  std::atomic<uint64_t> acknowledged{0};
  std::vector<std::string> violations;
  /// The last value of the last fully acknowledged batch.
  std::string last_value;
};

/// Sends batches of 32 pipelined SETs of one key plus a GET of it until
/// `stop`, reconnecting when the node is gone. A batch whose SETs were all
/// answered OK must read its last SET.
void write_batches(const cluster& c, batch_writer& w,
                   const std::atomic<bool>& stop) {
  resp_client conn;
  while (!stop) {
    if (!conn.connected() && !conn.connect(c.client_port(w.node)))
      continue;
    auto id = "b" + std::to_string(++w.batches);
    std::string req;
    for (int i = 1; i <= 32; ++i)
      req += resp_client::encode(
        {"SET", w.key, id + "." + (i < 10 ? "0" : "") + std::to_string(i)});
    req += resp_client::encode({"GET", w.key});
    if (!conn.send(req)) {
      conn.disconnect();
      continue;
    }
    auto end = clock_type::now() + std::chrono::seconds(20);
    int ok = 0;
    bool broken = false;
    std::string head;
    std::optional<std::string> bulk;
    for (int i = 0; i < 32 && !broken; ++i) {
      broken = !conn.reply(head, bulk, end);
      ok += !broken && head == "+OK" ? 1 : 0;
    }
    if (broken || !conn.reply(head, bulk, end)) {
      conn.disconnect(); // Killed node, or no answer in time: reconnect.
      continue;
    }
    if (ok < 32) {
      ++w.partial;
      continue;
    }
    ++w.acknowledged;
    w.last_value = id + ".32";
    auto got = bulk.value_or(head);
    if (got != w.last_value)
      w.violations.push_back("batch " + id + " on node "
                             + std::to_string(w.node) + " read '" + got
                             + "' after all 32 SETs were acknowledged");
  }
}

} // namespace

TEST_CASE("pipelined batches take effect in order through a follower and the "
          "leader while the leader is stopped, continued and killed") {
  cluster c({{1}, {2}, {3}}, 50, {}, 3000);
  auto leader = ready_cluster(c);
  REQUIRE(leader != 0);
  auto follower = leader == 1 ? 2u : 1u;
  std::vector<batch_writer> writers(4);
  for (size_t i = 0; i < writers.size(); ++i) {
    writers[i].node = i % 2 == 0 ? follower : leader;
    writers[i].key = "batch" + std::to_string(i);
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (auto& w : writers)
    threads.emplace_back([&c, &w, &stop] { write_batches(c, w, stop); });
  // Each fault lasts until the writers on the other nodes completed more
  // batches (a bounded wait on their progress, not a fixed pause).
  auto progress = [&](uint32_t except, uint64_t more) {
    auto acked = [&] {
      uint64_t n = 0;
      for (auto& w : writers)
        if (w.node != except)
          n += w.acknowledged;
      return n;
    };
    auto target = acked() + more;
    return wait_for([&] { return acked() >= target; }, ms{20000}, ms{10});
  };
  for (int round = 0; round < 3; ++round) {
    CHECK(progress(0, 4));
    auto l = c.leader();
    if (l == 0)
      continue;
    c.signal(l, SIGSTOP);
    CHECK(progress(l, 2));
    c.signal(l, SIGCONT);
  }
  CHECK(progress(0, 4));
  c.kill(leader);
  CHECK(progress(leader, 2));
  c.start(leader);
  CHECK(progress(0, 4));
  stop = true;
  for (auto& t : threads)
    t.join();
  uint64_t acknowledged = 0;
  for (auto& w : writers) {
    INFO("writer on node " << w.node << ": " << w.batches << " batches, "
                           << w.acknowledged << " fully acknowledged, "
                           << w.partial << " partly");
    for (auto& v : w.violations)
      FAIL_CHECK(v);
    acknowledged += w.acknowledged;
    // The last fully acknowledged batch left its value (later batches
    // that got errors may have overwritten it only with later values).
    if (w.acknowledged > 0) {
      // "bN.II": batch N, SET II of it.
      auto batch_of = [](const std::string& v) {
        return std::stoul(v.substr(1, v.find('.') - 1));
      };
      auto got = redis(c, follower, {"get", w.key}).out;
      CAPTURE(got);
      CAPTURE(w.last_value);
      REQUIRE(got.size() > 4);
      got.pop_back();
      CHECK((got == w.last_value
             || batch_of(got) > batch_of(w.last_value)));
    }
  }
  MESSAGE("fully acknowledged batches: " << acknowledged);
  CHECK(acknowledged > 0);
}

namespace {

/// A field of a node's `status --json` (the first occurrence), or -1.
int64_t status_field(const cluster& c, uint32_t node, const std::string& key) {
  auto r = c.cli({"status", "--json", c.address(node)}, ms{5000});
  auto at = r.out.find("\"" + key + "\":");
  if (r.exit_code != 0 || at == std::string::npos)
    return -1;
  return std::strtoll(r.out.c_str() + at + key.size() + 3, nullptr, 10);
}

std::string log_text(const cluster& c, uint32_t node) {
  std::ifstream in(c.log_path(node));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

} // namespace

TEST_CASE("a follower down during 100,000 writes catches up by snapshot, "
          "also when killed in the middle of the transfer") {
  // A short log tail so that the logs are compacted far past the node that
  // is down, and a slow transfer so that it can be interrupted.
  cluster c({{1}, {2}, {3}}, 50,
            {"--log-tail-slots=20", "--snapshot-rate-mb=2"}, 5000);
  REQUIRE(ready_cluster(c) != 0);
  auto leader = c.leader();
  auto down = leader == 3 ? 2u : 3u;
  auto up = 6 - leader - down;
  c.kill(down);
  // 20,000 keys of 400 bytes: an 8 MB state, a few seconds to move.
  std::string pad(390, 'x'), cmds;
  for (int i = 1; i <= 100000; ++i)
    cmds += "SET k" + std::to_string(i % 20000) + " " + pad
            + std::to_string(i) + "\r\n";
  auto r = pipe_into(c, up, cmds, ms{240000});
  INFO(r.out << r.err);
  REQUIRE(r.out.find("errors: 0, replies: 100000") != std::string::npos);
  auto expect = std::string(390, 'x') + "100000\n";
  REQUIRE(redis(c, leader, {"get", "k0"}).out == expect);

  // Back, it finds the log compacted past it and takes a snapshot; killed
  // in the middle of it, it resumes where it was.
  c.start(down);
  bool mid = wait_for(
    [&] {
      auto got = status_field(c, down, "snapshot_received");
      auto total = status_field(c, down, "snapshot_total");
      return got > 0 && total > 0 && got < total;
    },
    ms{60000}, ms{20});
  CHECK(mid);
  auto before = status_field(c, down, "snapshot_received");
  c.kill(down);
  auto restarted = std::chrono::steady_clock::now();
  c.start(down);
  CHECK(wait_for([&] { return redis(c, down, {"get", "k0"}).out == expect; },
                 ms{60000}, ms{50}));
  auto took = std::chrono::duration_cast<ms>(std::chrono::steady_clock::now()
                                             - restarted);
  MESSAGE("snapshot catch-up after the second start: " << took.count()
                                                       << " ms; "
                                                       << before
                                                       << " bytes were "
                                                          "received before "
                                                          "the kill");
  auto log = log_text(c, down);
  CHECK(log.find("snapshot needed") != std::string::npos);
  CHECK(log.find("resuming the snapshot transfer") != std::string::npos);
  CHECK(log.find("snapshot installed") != std::string::npos);
  // Every node agrees on every key.
  for (auto n : c.nodes()) {
    CHECK(redis(c, n, {"dbsize"}).out == "20000\n");
    CHECK(redis(c, n, {"get", "k19999"}).out
          == std::string(390, 'x') + "99999\n");
  }
}

TEST_CASE("a cluster with a 4 MiB map takes 200,000 SETs over 1,000 keys: "
          "compaction keeps the used size near the live data") {
  // Without compaction this map filled at about 86,000 SETs and every node
  // stopped at once.
  cluster c({{1}, {2}, {3}}, 50, {"--map-size-mb=4", "--log-tail-slots=200"},
            5000);
  REQUIRE(ready_cluster(c) != 0);
  std::string cmds;
  for (int i = 1; i <= 200000; ++i)
    cmds += "SET k" + std::to_string(i % 1000) + " value-"
            + std::to_string(i) + "\r\n";
  auto r = pipe_into(c, 1, cmds, ms{240000});
  INFO(r.out << r.err);
  CHECK(r.out.find("errors: 0, replies: 200000") != std::string::npos);
  for (auto n : c.nodes()) {
    CHECK(c.running(n));
    CHECK(redis(c, n, {"get", "k0"}).out == "value-200000\n");
    CHECK(redis(c, n, {"dbsize"}).out == "1000\n");
    CHECK(log_text(c, n).find("full") == std::string::npos);
  }
}

TEST_CASE("typed values, expiry and scripts survive a restart of every node") {
  cluster c({{1}, {2}, {3}}, 50, {}, 3000);
  REQUIRE(ready_cluster(c) != 0);
  CHECK(redis(c, 1, {"set", "ttl", "v", "ex", "1000"}).out == "OK\n");
  CHECK(redis(c, 1, {"set", "short", "v", "px", "1500"}).out == "OK\n");
  CHECK(redis(c, 2, {"hset", "h", "f", "1", "g", "2"}).out == "2\n");
  CHECK(redis(c, 3, {"rpush", "l", "a", "b"}).out == "2\n");
  CHECK(redis(c, 1, {"sadd", "s", "x"}).out == "1\n");
  auto sha = redis(c, 1, {"script", "load", "return redis.call('GET', KEYS[1])"})
               .out;
  REQUIRE(sha.size() == 41);
  sha.pop_back();
  for (auto n : c.nodes())
    c.kill(n);
  for (auto n : c.nodes())
    c.start(n);
  REQUIRE(wait_for([&] { return c.leader() != 0; }, ms{30000}));
  for (auto n : c.nodes()) {
    CAPTURE(n);
    REQUIRE(wait_for([&] { return redis(c, n, {"get", "ttl"}).out == "v\n"; },
                     ms{30000}));
    auto ttl = std::stoi(redis(c, n, {"ttl", "ttl"}).out);
    CHECK((ttl > 900 && ttl <= 1000));
    CHECK(redis(c, n, {"hget", "h", "g"}).out == "2\n");
    CHECK(redis(c, n, {"lrange", "l", "0", "-1"}).out == "a\nb\n");
    CHECK(redis(c, n, {"type", "s"}).out == "set\n");
    CHECK(redis(c, n, {"evalsha", sha, "1", "ttl"}).out == "v\n");
    // Its deadline passed (during the restart or soon after): gone on
    // every node, whatever the read level.
    CHECK(wait_for([&] { return redis(c, n, {"exists", "short"}).out == "0\n"; },
                   ms{10000}));
  }
}
