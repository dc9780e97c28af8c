// The differential test: the same seeded random command sequences go to a
// Debian redis-server and to a 3-node paxoskv cluster, and every reply must
// agree. What may differ, and why, is in `same_reply` (redis_gen.cpp) and
// README's compatibility table: the order of unordered collections, and a
// few milliseconds of TTL (the two systems set them a moment apart).
//
// PAXOSKV_DIFF_SEEDS (e.g. "1,2,3") and PAXOSKV_DIFF_COMMANDS (per seed)
// size the run; CI uses the defaults below.
#include <doctest/doctest.h>

#include <csignal>
#include <cstdlib>
#include <deque>
#include <sstream>

#include <sys/wait.h>
#include <unistd.h>

#include "test/e2e/harness.hpp"
#include "test/e2e/redis_gen.hpp"
#include "test/e2e/resp_client.hpp"
#include "test/temp_dir.hpp"

using namespace paxoskv::e2e;

namespace {

constexpr const char* redis_server = "/usr/bin/redis-server";

/// A redis-server on a Unix socket in a directory of its own, stopped by
/// PID when this goes away.
class redis_process {
public:
  redis_process() {
    socket_ = dir_.path() + "/redis.sock";
    pid_ = ::fork();
    if (pid_ == 0) {
      auto log = dir_.path() + "/redis.log";
      ::execl(redis_server, redis_server, "--port", "0", "--unixsocket",
              socket_.c_str(), "--save", "", "--appendonly", "no",
              "--daemonize", "no", "--dir", dir_.path().c_str(), "--logfile",
              log.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~redis_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  const std::string& socket() const { return socket_; }

private:
  paxoskv::test::temp_dir dir_;
  std::string socket_;
  pid_t pid_ = -1;
};

std::string show(const request& r) {
  std::string out;
  for (auto& a : r)
    out += (out.empty() ? "" : " ") + ("'" + a + "'");
  return out;
}

/// Both systems' connections and what was sent lately (for a failure).
struct pair_of {
  resp_client redis, paxoskv;
  resp_client redis_other, paxoskv_other;
  std::deque<std::string> history;
  uint64_t commands = 0;
  std::string failure;

  /// Sends `cmd` on both main (or other) connections; false on a
  /// disagreement or a lost connection (then `failure` says what).
  bool both(const request& cmd, resp_value* r = nullptr,
            resp_value* p = nullptr, bool other = false) {
    resp_value a, b;
    ++commands;
    history.push_back(show(cmd));
    if (history.size() > 200)
      history.pop_front();
    auto& rc = other ? redis_other : redis;
    auto& pc = other ? paxoskv_other : paxoskv;
    if (!rc.call_value(cmd, a, ms{10000})) {
      failure = "redis-server did not answer " + show(cmd);
      return false;
    }
    if (!pc.call_value(cmd, b, ms{20000})) {
      failure = "paxoskv did not answer " + show(cmd);
      return false;
    }
    if (r)
      *r = a;
    if (p)
      *p = b;
    if (!same_reply(cmd, a, b) && !live_count_matches(cmd, b)) {
      failure = "replies differ for " + show(cmd) + "\n  redis:   "
                + a.show() + "\n  paxoskv: " + b.show();
      // The keys each holds now, to help find where they parted.
      resp_value ka, kb;
      if (redis.call_value({"KEYS", "*"}, ka, ms{5000})
          && paxoskv.call_value({"KEYS", "*"}, kb, ms{5000}))
        failure += "\n  keys in redis:   " + ka.show()
                   + "\n  keys in paxoskv: " + kb.show();
      return false;
    }
    return true;
  }

  /// Redis's DBSIZE counts keys expired but not reclaimed yet; paxoskv's
  /// counts live keys: equal to what KEYS lists (a listed difference).
  bool live_count_matches(const request& cmd, const resp_value& paxoskv_n) {
    if (cmd.size() != 1 || cmd[0] != "DBSIZE")
      return false;
    resp_value keys;
    return redis.call_value({"KEYS", "*"}, keys, ms{5000})
           && std::to_string(keys.items.size()) == paxoskv_n.text;
  }

  /// MULTI, the body, then EXEC or DISCARD; EXEC's arrays compared per
  /// command.
  bool transaction(const std::vector<request>& body, bool discard) {
    if (!both({"MULTI"}))
      return false;
    for (auto& c : body)
      if (!both(c))
        return false;
    if (discard)
      return both({"DISCARD"});
    resp_value a, b;
    request exec{"EXEC"};
    // Compared here, element by element, so that each element gets its
    // command's allowances.
    ++commands;
    history.push_back("EXEC");
    if (!redis.call_value(exec, a, ms{10000})
        || !paxoskv.call_value(exec, b, ms{20000})) {
      failure = "no answer to EXEC";
      return false;
    }
    bool same = a.type == b.type && a.nil == b.nil;
    if (same && a.type == '*' && !a.nil) {
      same = a.items.size() == b.items.size() && a.items.size() == body.size();
      for (size_t i = 0; same && i < a.items.size(); ++i) {
        same = same_reply(body[i], a.items[i], b.items[i]);
        // DBSIZE inside the transaction: Redis may count expired keys not
        // reclaimed yet, so at most Redis's count (KEYS cannot be asked
        // at that point).
        if (!same && body[i].size() == 1 && body[i][0] == "DBSIZE"
            && a.items[i].type == ':' && b.items[i].type == ':')
          same = std::stoll(b.items[i].text) <= std::stoll(a.items[i].text);
      }
    } else if (same) {
      same = a == b;
    }
    if (!same)
      failure = "EXEC replies differ\n  redis:   " + a.show()
                + "\n  paxoskv: " + b.show();
    return same;
  }

  bool run(const step& s) {
    switch (s.kind) {
      case step::plain:
        return both(s.cmd);
      case step::transaction:
        return transaction(s.body, s.discard);
      case step::watched:
        if (!both({"WATCH", s.watch_key}))
          return false;
        if (s.interfere && !both(s.interference, nullptr, nullptr, true))
          return false;
        return transaction(s.body, false);
      case step::evalsha: {
        resp_value a, b;
        if (!both({"SCRIPT", "LOAD", s.cmd[0]}, &a, &b))
          return false;
        request call{"EVALSHA", a.text};
        call.insert(call.end(), s.cmd.begin() + 1, s.cmd.end());
        return both(call);
      }
      case step::short_expiry: {
        if (!both(s.cmd))
          return false;
        // Bounded: until the key is gone on both (it expires in < 100 ms).
        resp_value a, b;
        bool gone = wait_for(
          [&] {
            return redis.call_value({"EXISTS", s.cmd[1]}, a, ms{5000})
                   && paxoskv.call_value({"EXISTS", s.cmd[1]}, b, ms{5000})
                   && a.text == "0" && b.text == "0";
          },
          ms{10000}, ms{5});
        if (!gone)
          failure = "key " + s.cmd[1] + " did not expire on both: redis "
                    + a.show() + ", paxoskv " + b.show();
        return gone;
      }
    }
    return false;
  }

  /// SCAN to the end on both (with random COUNT): the same keys.
  bool scan_all(uint64_t count) {
    std::set<std::string> keys[2];
    resp_client* conns[2] = {&redis, &paxoskv};
    for (int i = 0; i < 2; ++i) {
      std::string cursor = "0";
      for (int rounds = 0; rounds < 1000; ++rounds) {
        resp_value v;
        if (!conns[i]->call_value({"SCAN", cursor, "COUNT",
                                   std::to_string(count)},
                                  v, ms{10000})
            || v.type != '*' || v.items.size() != 2) {
          failure = "SCAN failed: " + v.show();
          return false;
        }
        for (auto& k : v.items[1].items)
          keys[i].insert(k.text);
        cursor = v.items[0].text;
        if (cursor == "0")
          break;
      }
    }
    if (keys[0] != keys[1]) {
      failure = "SCAN returned different keys";
      return false;
    }
    return true;
  }
};

std::vector<uint64_t> seeds_from_env() {
  std::vector<uint64_t> out;
  const char* env = std::getenv("PAXOSKV_DIFF_SEEDS");
  std::stringstream in(env ? env : "1,2,3");
  std::string item;
  while (std::getline(in, item, ','))
    out.push_back(std::stoull(item));
  return out;
}

} // namespace

TEST_CASE("differential: random command sequences answer as redis-server "
          "does") {
  auto per_seed = std::getenv("PAXOSKV_DIFF_COMMANDS")
                    ? std::stoull(std::getenv("PAXOSKV_DIFF_COMMANDS"))
                    : 2500;
  redis_process server;
  cluster c(full_nodes(3), 100);
  c.start_all();
  resp_client probe;
  REQUIRE(wait_for(
    [&] { return probe.connect_unix(server.socket()); }, ms{10000}));
  REQUIRE(wait_for([&] { return c.leader() != 0; }, ms{30000}));
  uint64_t total = 0;
  for (auto seed : seeds_from_env()) {
    CAPTURE(seed);
    redis_gen gen(seed);
    pair_of p;
    auto main_node = static_cast<uint32_t>(seed % 3 + 1);
    auto other_node = main_node % 3 + 1;
    REQUIRE(p.redis.connect_unix(server.socket()));
    REQUIRE(p.redis_other.connect_unix(server.socket()));
    REQUIRE(p.paxoskv.connect(c.client_port(main_node)));
    REQUIRE(p.paxoskv_other.connect(c.client_port(other_node)));
    bool ok = p.both({"FLUSHALL"});
    while (ok && p.commands < per_seed) {
      ok = p.run(gen.next());
      if (ok && p.commands % 250 == 0)
        ok = p.scan_all(1 + p.commands % 7);
    }
    total += p.commands;
    if (!ok) {
      std::string recent;
      for (auto& h : p.history)
        recent += "\n  " + h;
      FAIL_CHECK("seed " << seed << ", command " << p.commands << ": "
                         << p.failure << "\nlast commands:" << recent);
    }
  }
  MESSAGE("differential: " << total << " commands compared");
}
