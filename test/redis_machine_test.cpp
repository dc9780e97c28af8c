// The Redis side of the state machine: typed values, expiry by the log's
// clock, transactions and WATCH, SCAN's guarantee, and their durable form.
#include <doctest/doctest.h>

#include <random>
#include <set>

#include "protocol/kv_machine.hpp"
#include "protocol/redis/commands.hpp"

using namespace paxoskv;

namespace {

/// A machine fed whole slots: each `slot(time, commands)` is one log entry
/// stamped `time`.
struct fed {
  kv_machine m;
  uint64_t seq = 0;
  std::string slot(uint64_t time, std::vector<std::vector<std::string>> cmds,
                   uint64_t client = 1) {
    auto s = m.applied();
    m.begin_slot(s, time);
    std::string last;
    for (auto& c : cmds)
      last = m.apply(s, command{client, client == 1 ? ++seq : ++other_seq,
                                op_code::redis, c})
               .result.text;
    m.end_slot(s);
    return last;
  }
  std::string one(uint64_t time, std::vector<std::string> cmd,
                  uint64_t client = 1) {
    return slot(time, {std::move(cmd)}, client);
  }
  std::string read(std::vector<std::string> cmd) {
    return m.read(command{1, 0, op_code::redis, std::move(cmd)}).text;
  }
  uint64_t other_seq = 0;
};

constexpr uint64_t t0 = 1700000000000;

} // namespace

TEST_CASE("expiry follows the log's clock, not the replica's") {
  fed a, b;
  for (auto* f : {&a, &b})
    f->one(t0, {"SET", "k", "v", "PX", "1000"});
  // Replica b's own clock is far ahead: reads outside the log there see
  // the key expired, but what the log applies is the same on both.
  b.m.observe_clock(t0 + 5000);
  a.m.observe_clock(t0);
  CHECK(a.read({"GET", "k"}) == "$1\r\nv\r\n");
  CHECK(b.read({"GET", "k"}) == "$-1\r\n");
  for (auto* f : {&a, &b})
    CHECK(f->one(t0 + 10, {"APPEND", "k", "x"}) == ":2\r\n");
  CHECK(save_image(a.m) == save_image(b.m));
  // Once the log's clock passes the expiry, it is gone in the log too.
  for (auto* f : {&a, &b})
    CHECK(f->one(t0 + 1000, {"GET", "k"}) == "$-1\r\n");
  CHECK(save_image(a.m) == save_image(b.m));
  CHECK(a.m.keyspace().held() == 0);
}

TEST_CASE("the log's clock never goes back, whatever a leader stamps") {
  fed f;
  f.one(t0 + 5000, {"SET", "k", "v", "PX", "2000"});
  CHECK(f.m.clock() == t0 + 5000);
  // A later leader whose clock is behind: time stands still, it does not
  // move the key's deadline further away.
  f.one(t0, {"PTTL", "k"});
  CHECK(f.m.clock() == t0 + 5000);
  CHECK(f.one(t0 + 1, {"PTTL", "k"}) == ":2000\r\n");
  CHECK(f.one(t0 + 7000, {"EXISTS", "k"}) == ":0\r\n");
}

TEST_CASE("expired keys are reclaimed a bounded number per slot") {
  kv_machine_config cfg;
  cfg.reclaim_per_slot = 10;
  fed f{kv_machine(cfg)};
  std::vector<std::vector<std::string>> sets;
  for (int i = 0; i < 50; ++i)
    sets.push_back({"SET", "k" + std::to_string(i), "v", "PX", "100"});
  f.slot(t0, sets);
  CHECK(f.m.keyspace().held() == 50);
  // All expire at once: none is live, but only a bounded number go per
  // slot (10, or 2 per command when more).
  f.one(t0 + 200, {"PING"});
  CHECK(f.m.size() == 0);
  CHECK(f.m.keyspace().held() == 40);
  for (int i = 0; i < 4; ++i)
    f.one(t0 + 200, {"PING"});
  CHECK(f.m.keyspace().held() == 0);
  // Each reclaimed key left the durable form.
  auto img = save_image(f.m);
  for (auto& [k, v] : img.records)
    CHECK((k[0] != 'o' && k[0] != 'k'));
}

TEST_CASE("typed values, expiry, the clock and watches survive save and load") {
  fed f;
  f.one(t0, {"HSET", "h", "a", "1", "b", "2"});
  f.one(t0, {"RPUSH", "l", "x", "y", "z"});
  f.one(t0, {"SADD", "s", "m1", "m2"});
  f.one(t0, {"SET", "e", "v", "EX", "100"});
  f.one(t0, {"SET", "plain", "p"});
  f.one(t0, {"WATCH", "h", "missing"});
  // Written behind, change by change, equals the whole form.
  state_image disk;
  // (A fresh machine written behind from the start.)
  fed g;
  auto replay = [&](fed& x) {
    x.one(t0, {"HSET", "h", "a", "1", "b", "2"});
    if (auto w = x.m.take_changes()) disk.apply(*w);
    x.one(t0, {"RPUSH", "l", "x", "y", "z"});
    x.one(t0, {"SADD", "s", "m1", "m2"});
    x.one(t0, {"SET", "e", "v", "EX", "100"});
    x.one(t0, {"SET", "plain", "p"});
    x.one(t0, {"WATCH", "h", "missing"});
    if (auto w = x.m.take_changes()) disk.apply(*w);
  };
  replay(g);
  CHECK(disk == save_image(g.m));
  CHECK(save_image(f.m) == save_image(g.m));
  kv_machine copy;
  REQUIRE(load_image(copy, disk));
  CHECK(save_image(copy) == disk);
  CHECK(copy.clock() == t0);
  copy.observe_clock(t0);
  CHECK(copy.read(command{1, 0, op_code::redis, {"LRANGE", "l", "0", "-1"}})
          .text
        == "*3\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n");
  CHECK(copy.read(command{1, 0, op_code::redis, {"TTL", "e"}}).text
        == ":100\r\n");
  // The watch came along: another client's change makes EXEC answer nil.
  fed after{std::move(copy)};
  after.seq = 6;
  after.one(t0 + 1, {"HSET", "h", "c", "3"}, 2);
  CHECK(after.one(t0 + 2, {"EXEC", "3", "SET", "x", "1"}) == "*-1\r\n");
  CHECK(after.read({"EXISTS", "x"}) == ":0\r\n");
}

TEST_CASE("WATCH: a change by another client, or an expiry, fails EXEC") {
  fed f;
  f.one(t0, {"SET", "k", "1", "PX", "500"});
  f.one(t0, {"WATCH", "k"});
  // Untouched: EXEC runs, and clears the watch.
  CHECK(f.one(t0, {"EXEC", "2", "INCR", "k"}) == "*1\r\n:2\r\n");
  f.one(t0, {"WATCH", "k"});
  f.one(t0, {"SET", "k", "9"}, 2);
  CHECK(f.one(t0, {"EXEC", "2", "INCR", "k"}) == "*-1\r\n");
  CHECK(f.read({"GET", "k"}) == "$1\r\n9\r\n");
  // A key live when watched that expires before EXEC counts as changed.
  f.one(t0, {"SET", "e", "1", "PX", "100"});
  f.one(t0, {"WATCH", "e"});
  CHECK(f.one(t0 + 100, {"EXEC", "3", "SET", "z", "1"}) == "*-1\r\n");
  // A key already expired when watched, reclaimed before EXEC: no change.
  f.one(t0 + 100, {"SET", "gone", "1", "PX", "10"});
  // (It is reclaimed at the end of the WATCH's own slot.)
  f.one(t0 + 200, {"WATCH", "gone"});
  CHECK(f.one(t0 + 200, {"EXEC", "1", "PING"}) == "*1\r\n+PONG\r\n");
  // FLUSHALL changes the keys it deletes, not the ones that did not exist.
  f.one(t0 + 100, {"WATCH", "k", "absent"});
  f.one(t0 + 100, {"FLUSHALL"}, 2);
  CHECK(f.one(t0 + 100, {"EXEC", "1", "PING"}) == "*-1\r\n");
  f.one(t0 + 100, {"WATCH", "absent"});
  f.one(t0 + 100, {"FLUSHALL"}, 2);
  CHECK(f.one(t0 + 100, {"EXEC", "1", "PING"}) == "*1\r\n+PONG\r\n");
  f.one(t0 + 100, {"SET", "k", "1"});
  // UNWATCH forgets: a later change by another client no longer matters.
  f.one(t0 + 100, {"WATCH", "k"});
  f.one(t0 + 100, {"UNWATCH"});
  f.one(t0 + 100, {"SET", "k", "2"}, 2);
  CHECK(f.one(t0 + 100, {"EXEC", "2", "GET", "k"}) == "*1\r\n$1\r\n2\r\n");
}

TEST_CASE("EXEC runs every queued command; errors stay in their place") {
  fed f;
  f.one(t0, {"SET", "s", "text"});
  CHECK(f.one(t0, {"EXEC", "3", "SET", "a", "1", "2", "INCR", "s", "2",
                   "INCR", "a"})
        == "*3\r\n+OK\r\n-ERR value is not an integer or out of range\r\n:2"
           "\r\n");
  // A malformed argument list changes nothing.
  CHECK(f.one(t0, {"EXEC", "5", "SET", "b", "1"})
        == "-ERR malformed transaction\r\n");
  CHECK(f.read({"EXISTS", "b"}) == ":0\r\n");
}

TEST_CASE("SCAN returns every key present for the whole iteration") {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 20; ++round) {
    redis::keyspace ks;
    auto put = [&](const std::string& k) {
      redis::object o;
      o.value = std::string("v");
      ks.put(k, std::move(o));
    };
    std::set<std::string> stable;
    for (int i = 0; i < 200; ++i) {
      auto k = "s" + std::to_string(i);
      put(k);
      stable.insert(k);
    }
    std::set<std::string> seen;
    std::string cursor = "0";
    int churn = 0;
    do {
      auto r = redis::run_read(ks, {"SCAN", cursor, "COUNT",
                                    std::to_string(1 + rng() % 20)},
                               {});
      // Parse: *2 $n cursor *m keys...
      auto pos = r.find("\r\n", 4);
      auto len_start = r.find('$') + 1;
      auto len = std::stoul(r.substr(len_start, pos - len_start));
      cursor = r.substr(pos + 2, len);
      auto rest = r.substr(pos + 2 + len + 2);
      size_t p = rest.find("\r\n") + 2;
      while (p < rest.size()) {
        auto e = rest.find("\r\n", p);
        auto n = std::stoul(rest.substr(p + 1, e - p - 1));
        seen.insert(rest.substr(e + 2, n));
        p = e + 2 + n + 2;
      }
      // Churn between calls: other keys come and go.
      for (int i = 0; i < 10; ++i) {
        auto k = "c" + std::to_string(churn++);
        put(k);
        if (churn % 3 == 0)
          ks.erase("c" + std::to_string(churn / 2));
      }
    } while (cursor != "0");
    for (auto& k : stable)
      CHECK(seen.count(k) == 1);
  }
}

TEST_CASE("glob patterns as Redis matches them, in bounded time") {
  using redis::glob_match;
  CHECK(glob_match("*", "anything"));
  CHECK(glob_match("h?llo", "hello"));
  CHECK_FALSE(glob_match("h?llo", "hllo"));
  CHECK(glob_match("h[ae]llo", "hallo"));
  CHECK_FALSE(glob_match("h[^e]llo", "hello"));
  CHECK(glob_match("h[a-c]llo", "hbllo"));
  CHECK(glob_match("k\\*", "k*"));
  CHECK_FALSE(glob_match("k\\*", "kx"));
  CHECK(glob_match("*a*b", "xxaxxb"));
  CHECK(glob_match("HELLO", "hello", true));
  // The pattern that makes naive matchers exponential.
  std::string s(5000, 'a');
  CHECK_FALSE(glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*b", s));
}

TEST_CASE("every command in the table has a handler or is the connection's") {
  for (auto& c : redis::command_table()) {
    CAPTURE(c.name);
    bool handled = c.read != nullptr || c.write != nullptr;
    CHECK((handled || c.has(redis::flag_connection)
           || c.has(redis::flag_session)));
    CHECK((c.read == nullptr || c.write == nullptr));
    CHECK(c.has(redis::flag_readonly) == (c.read != nullptr && !c.has(redis::flag_connection)));
  }
  // Read-only commands may be served outside the log; writes never are.
  CHECK(is_read_only(command{1, 1, op_code::redis, {"GET", "k"}}));
  CHECK_FALSE(is_read_only(command{1, 1, op_code::redis, {"SET", "k", "v"}}));
  CHECK_FALSE(is_read_only(command{1, 1, op_code::redis, {"EXEC"}}));
  CHECK_FALSE(is_read_only(command{1, 1, op_code::redis, {"GET"}}));
}

TEST_CASE("scripts run the same on every replica and their cache is state") {
  fed a, b;
  // math.random draws from the command's seed: the same slot and command
  // give the same draw on both replicas.
  auto script = "redis.call('SET', KEYS[1], math.random(1000000)) "
                "return redis.call('GET', KEYS[1])";
  std::string ra, rb;
  ra = a.one(t0, {"EVAL", script, "1", "r"});
  rb = b.one(t0, {"EVAL", script, "1", "r"});
  CHECK(ra == rb);
  CHECK(ra[0] == '$');
  CHECK(save_image(a.m) == save_image(b.m));
  // EVAL cached it: EVALSHA works, and after a load too.
  auto sha = redis::sha1_hex(script);
  CHECK(a.one(t0, {"EVALSHA", sha, "1", "r2"})[0] == '$');
  kv_machine copy;
  REQUIRE(load_image(copy, save_image(a.m)));
  CHECK(save_image(copy) == save_image(a.m));
  fed c{std::move(copy)};
  c.seq = a.seq;
  CHECK(c.one(t0, {"SCRIPT", "EXISTS", sha, "0000"})
        == "*2\r\n:1\r\n:0\r\n");
  CHECK(c.one(t0, {"SCRIPT", "FLUSH"}) == "+OK\r\n");
  CHECK(c.one(t0, {"EVALSHA", sha, "0"})
        == "-NOSCRIPT No matching script. Please use EVAL.\r\n");
  // Bounded: a loop stops at the instruction budget, the same point on
  // every replica; the machine goes on.
  CHECK(c.one(t0, {"EVAL", "while true do end", "0"}).find("budget")
        != std::string::npos);
  CHECK(c.one(t0, {"EVAL", "return os", "0"}).find("nonexistent global")
        != std::string::npos);
  CHECK(c.one(t0, {"EVAL", "return redis.call('TIME')", "0"})
          .find("not allowed from script")
        != std::string::npos);
}

TEST_CASE("APPEND and SETRANGE build strings of 16 MiB at most") {
  fed f;
  CHECK(f.one(t0, {"SETRANGE", "s", std::to_string(16 << 20), "x"})
        == "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n");
  CHECK(f.read({"EXISTS", "s"}) == ":0\r\n");
  CHECK(f.one(t0, {"SETRANGE", "s", std::to_string((16 << 20) - 1), "x"})
        == ":16777216\r\n");
  CHECK(f.one(t0, {"APPEND", "s", "y"})
        == "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n");
  CHECK(f.read({"STRLEN", "s"}) == ":16777216\r\n");
}
