// Crash safety of the LMDB store under SIGKILL.
//
// A child process runs an acceptor over the LMDB store with group commit and
// reports, through a pipe, every promise and accept it acknowledged (it sends
// a report only after the commit that holds it returned, exactly when a real
// acceptor would answer). The parent kills it with SIGKILL at a random moment,
// reopens the store, and checks that nothing acknowledged was lost.
#include <doctest/doctest.h>

#include <csignal>
#include <cstring>
#include <map>
#include <poll.h>
#include <random>
#include <sys/wait.h>
#include <unistd.h>

#include "protocol/acceptor.hpp"
#include "storage/lmdb_store.hpp"
#include "test/temp_dir.hpp"

using namespace paxoskv;
using namespace paxoskv::test;

namespace {

/// One acknowledgement, as the child reports it.
struct ack_record {
  char kind = 0; // 'P': promise, 'A': accepted
  uint64_t slot = 0;
  uint64_t round = 0;
  uint64_t value_hash = 0;
};

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s)
    h = (h ^ c) * 1099511628211ULL;
  return h;
}

uint64_t hash_of(const log_value& v) {
  return v.commands.empty() ? 0 : fnv1a(v.commands.front().args.at(1));
}

lmdb_options crash_opts(const std::string& dir) {
  lmdb_options o;
  o.dir = dir;
  o.create_dir = true;
  o.cluster_id = "crash-test";
  o.node = 1;
  o.map_size_bytes = uint64_t{256} << 20;
  return o;
}

bool write_all(int fd, const void* data, size_t n) {
  auto p = static_cast<const char*>(data);
  while (n > 0) {
    auto k = ::write(fd, p, n);
    if (k <= 0)
      return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

/// The child: an acceptor workload that never ends on its own.
int acceptor_workload(const lmdb_options& o, int out_fd, uint64_t seed) {
  auto opened = lmdb_store::open(o);
  if (!opened)
    return 10;
  auto& s = *opened.value();
  auto loaded = s.load();
  if (!loaded)
    return 11;
  acceptor a(acceptor_config{1, 64, 64}, std::move(loaded.value().acceptor));
  std::mt19937_64 rng(seed);
  uint64_t round = a.promised().round + 1;
  slot_t next_slot = 0;
  for (;;) {
    durable_batch batch;
    std::vector<ack_record> acks;
    for (size_t i = 0, n = 1 + rng() % 16; i < n; ++i) {
      if (rng() % 10 == 0 || next_slot >= 64) {
        // A new leader: a higher ballot, slots from 0 again (overwriting).
        ++round;
        next_slot = 0;
        auto step = a.on_prepare(prepare{ballot{round, 2}, 0, 2}, 0);
        if (step.write)
          batch.add(std::move(*step.write));
        acks.push_back({'P', 0, round, 0});
        continue;
      }
      std::string value(100, ' ');
      for (auto& c : value)
        c = static_cast<char>('a' + rng() % 26);
      log_value v;
      v.commands.push_back(command{1, round, op_code::set, {"k", value}});
      auto slot = next_slot++;
      auto step = a.on_accept(accept{ballot{round, 2}, slot, v, 0, 2});
      if (step.write)
        batch.add(std::move(*step.write));
      acks.push_back({'A', slot, round, fnv1a(value)});
    }
    if (s.commit(batch))
      return 12;
    // Only now, after the commit returned, do the answers leave.
    if (!write_all(out_fd, acks.data(), acks.size() * sizeof(ack_record)))
      return 13;
  }
}

/// Reads whole records from `fd` until `target` arrived, EOF, or timeout.
void read_acks(int fd, size_t target, std::vector<ack_record>& out,
               int timeout_ms) {
  std::string buf;
  char chunk[4096];
  while (out.size() < target) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0)
      return;
    auto n = ::read(fd, chunk, sizeof(chunk));
    if (n <= 0)
      return;
    buf.append(chunk, static_cast<size_t>(n));
    while (buf.size() >= sizeof(ack_record)) {
      ack_record r;
      std::memcpy(&r, buf.data(), sizeof(r));
      out.push_back(r);
      buf.erase(0, sizeof(r));
    }
  }
}

} // namespace

TEST_CASE("an acceptor killed with SIGKILL at any moment loses nothing it "
          "acknowledged") {
  temp_dir tmp;
  auto o = crash_opts(tmp.sub("acceptor"));
  std::mt19937_64 rng(20261123);
  ballot promised_before;
  // What was acknowledged, per slot: the highest ballot round and its value.
  std::map<slot_t, std::pair<uint64_t, uint64_t>> acked;
  uint64_t acked_promise = 0;
  size_t total_acks = 0;
  const int kills = 40;
  for (int k = 0; k < kills; ++k) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    auto pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      ::_exit(acceptor_workload(o, fds[1], rng() + k));
    }
    ::close(fds[1]);
    std::vector<ack_record> acks;
    read_acks(fds[0], 1 + rng() % 600, acks, 10000);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    // Answers already in the pipe left before the kill: they count too.
    read_acks(fds[0], SIZE_MAX, acks, 1000);
    ::close(fds[0]);
    INFO("kill " << k << ", child status " << status);
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(!acks.empty());
    total_acks += acks.size();
    for (auto& a : acks) {
      if (a.kind == 'P') {
        acked_promise = std::max(acked_promise, a.round);
        // A newer ballot may overwrite older slots from now on.
        continue;
      }
      auto& slot = acked[a.slot];
      if (a.round >= slot.first)
        slot = {a.round, a.value_hash};
    }
    auto opened = lmdb_store::open(o);
    REQUIRE(opened.ok());
    auto loaded = opened.value()->load();
    REQUIRE(loaded.ok());
    auto& st = loaded.value().acceptor;
    CHECK(st.promised >= promised_before);
    CHECK(st.promised.round >= acked_promise);
    promised_before = st.promised;
    for (auto& [slot, expect] : acked) {
      auto e = st.entries.find(slot);
      REQUIRE(e != st.entries.end());
      CHECK(e->second.accepted_ballot.round >= expect.first);
      if (e->second.accepted_ballot.round == expect.first)
        CHECK(hash_of(e->second.value) == expect.second);
      // The stored entry is now the reference for this slot.
      expect = {e->second.accepted_ballot.round, hash_of(e->second.value)};
    }
  }
  MESSAGE(kills << " kills, " << total_acks << " acknowledgements checked");
}
