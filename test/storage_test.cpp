#include <doctest/doctest.h>

#include <fstream>
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage/lmdb_state_store.hpp"
#include "storage/lmdb_store.hpp"
#include "storage/schema.hpp"
#include "test/helpers.hpp"
#include "test/sim/cluster.hpp"
#include "test/temp_dir.hpp"

using namespace paxoskv;
using namespace paxoskv::test;

namespace {

lmdb_options opts_in(const std::string& dir, node_id node = 1) {
  lmdb_options o;
  o.dir = dir;
  o.create_dir = true;
  o.cluster_id = "test-cluster";
  o.node = node;
  o.map_size_bytes = uint64_t{64} << 20;
  return o;
}

std::unique_ptr<lmdb_store> open_ok(const lmdb_options& o) {
  auto s = lmdb_store::open(o);
  INFO((s ? "" : s.error().message));
  REQUIRE(s.ok());
  return std::move(s.value());
}

storage_errc open_error(const lmdb_options& o) {
  auto s = lmdb_store::open(o);
  REQUIRE_FALSE(s.ok());
  MESSAGE(s.error().message);
  CHECK(s.error().message.find(o.dir) != std::string::npos);
  return s.error().code;
}

accepted_entry entry(slot_t slot, uint64_t round, const std::string& v,
                     bool chosen = false) {
  return {slot, ballot{round, 2}, batch_of(set_cmd(7, slot + 1, "k", v)),
          chosen};
}

durable_batch batch_with(std::vector<accepted_entry> entries,
                         std::optional<ballot> promised = std::nullopt,
                         std::optional<uint64_t> round = std::nullopt) {
  durable_batch b;
  b.acceptor.promised = promised;
  b.acceptor.entries = std::move(entries);
  b.proposer_round = round;
  return b;
}

/// Runs `f` in a child process and returns its exit status.
template <class F>
int in_child(F f) {
  auto pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0)
    ::_exit(f());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

} // namespace

TEST_CASE("slot keys are big-endian so LMDB's byte order is slot order") {
  std::vector<slot_t> slots{0, 1, 255, 256, 65535, 65536, 1ULL << 40,
                            ~0ULL};
  for (size_t i = 0; i + 1 < slots.size(); ++i)
    CHECK(schema::encode_slot(slots[i]) < schema::encode_slot(slots[i + 1]));
  for (auto s : slots)
    CHECK(schema::decode_slot(schema::encode_slot(s)) == s);
  CHECK(schema::encode_slot(1) == std::string("\0\0\0\0\0\0\0\1", 8));
}

TEST_CASE("entries and ballots round-trip through the schema") {
  accepted_entry e{42, ballot{7, 3}, {}, true};
  e.value.commands = {
    command{1, 2, op_code::set, {"key", std::string(300, 'x')}},
    command{3, 4, op_code::del, {"a", "", "c"}},
    command{5, 6, op_code::get, {std::string("a\0b", 3)}},
    command{7, 8, op_code::dbsize, {}}};
  auto decoded = schema::decode_entry(42, schema::encode_entry(e));
  REQUIRE(decoded);
  CHECK(*decoded == e);
  accepted_entry nop{9, ballot{1, 1}, {}, false};
  CHECK(*schema::decode_entry(9, schema::encode_entry(nop)) == nop);
  CHECK(schema::decode_ballot(schema::encode_ballot(ballot{5, 9}))
        == ballot{5, 9});
}

TEST_CASE("a configuration value round-trips; format 1 bytes stay as they "
          "were") {
  accepted_entry plain{3, ballot{2, 1}, {}, false};
  plain.value.commands = {command{1, 2, op_code::set, {"k", "v"}}};
  auto bytes = schema::encode_entry(plain);
  CHECK(bytes[0] == 1);
  accepted_entry e{4, ballot{2, 1}, {}, true};
  e.value.config.epoch = 2;
  e.value.config.alpha = 16;
  e.value.config.members = {member{1, "h1", 7001, role_all, true, 77},
                            member{2, "h2", 7002, role_learner, false, 0}};
  auto cbytes = schema::encode_entry(e);
  CHECK(cbytes[0] == 2);
  auto decoded = schema::decode_entry(4, cbytes);
  REQUIRE(decoded);
  CHECK(*decoded == e);
  for (size_t cut = 0; cut < cbytes.size(); ++cut)
    CHECK_FALSE(schema::decode_entry(4, cbytes.substr(0, cut)));
  // A configuration that does not check out is corruption.
  auto bad = cbytes;
  bad[1 + 8 + 4 + 1 + 4 + 8 + 4 + 3] = 0; // no members
  CHECK_FALSE(schema::decode_entry(4, bad));
}

TEST_CASE("damaged entries are rejected, never trusted") {
  auto bytes = schema::encode_entry(entry(1, 2, "value"));
  for (size_t cut = 0; cut < bytes.size(); ++cut)
    CHECK_FALSE(schema::decode_entry(1, bytes.substr(0, cut)));
  CHECK_FALSE(schema::decode_entry(1, bytes + "x"));
  auto bad_format = bytes;
  bad_format[0] = 9;
  CHECK_FALSE(schema::decode_entry(1, bad_format));
  auto bad_op = bytes;
  bad_op[1 + 8 + 4 + 1 + 4 + 8 + 8] = 77;
  CHECK_FALSE(schema::decode_entry(1, bad_op));
  auto huge_count = bytes;
  huge_count[14] = '\x7f';
  CHECK_FALSE(schema::decode_entry(1, huge_count));
}

TEST_CASE("the LMDB store returns what was committed, in slot order") {
  temp_dir tmp;
  auto o = opts_in(tmp.sub("node1"));
  {
    auto s = open_ok(o);
    CHECK(s->load().value().acceptor.entries.empty());
    CHECK_FALSE(s->commit(batch_with({entry(300, 1, "c"), entry(2, 1, "a")},
                                     ballot{1, 2}, 5)));
    CHECK_FALSE(s->commit(batch_with({entry(2, 3, "a2", true)}, ballot{3, 2})));
  }
  auto s = open_ok(o);
  auto st = s->load().value();
  CHECK(st.acceptor.promised == ballot{3, 2});
  CHECK(st.proposer_round == 5);
  REQUIRE(st.acceptor.entries.size() == 2);
  CHECK(st.acceptor.entries.begin()->first == 2);
  CHECK(st.acceptor.entries.at(2) == entry(2, 3, "a2", true));
  CHECK(st.acceptor.entries.at(300) == entry(300, 1, "c"));
}

TEST_CASE("a group commit of many writes to one slot keeps the last") {
  temp_dir tmp;
  auto s = open_ok(opts_in(tmp.sub("n")));
  CHECK_FALSE(s->commit(batch_with({entry(5, 1, "first"), entry(6, 1, "x"),
                                    entry(5, 2, "second")})));
  CHECK(s->load().value().acceptor.entries.at(5) == entry(5, 2, "second"));
}

TEST_CASE("chosen marks and the log start survive a reopen; truncated slots "
          "are gone from disk") {
  temp_dir tmp;
  auto o = opts_in(tmp.sub("n"));
  {
    auto s = open_ok(o);
    CHECK_FALSE(s->commit(batch_with({entry(1, 1, "a"), entry(2, 1, "b"),
                                      entry(3, 1, "c"), entry(4, 1, "d")})));
    durable_batch marks;
    marks.acceptor.chosen_marks = {1, 2, 3};
    CHECK_FALSE(s->commit(marks));
    auto st = s->load().value();
    CHECK(st.acceptor.entries.at(1).chosen);
    CHECK(st.acceptor.entries.at(3).chosen);
    CHECK_FALSE(st.acceptor.entries.at(4).chosen);
    // The value is written once: a mark is a separate record.
    CHECK(st.acceptor.entries.at(2).value == entry(2, 1, "b").value);
    durable_batch cut;
    cut.acceptor.log_start = 3;
    CHECK_FALSE(s->commit(cut));
  }
  auto s = open_ok(o);
  auto st = s->load().value();
  CHECK(st.acceptor.log_start == 3);
  REQUIRE(st.acceptor.entries.size() == 2);
  CHECK(st.acceptor.entries.at(3).chosen);
  CHECK_FALSE(st.acceptor.entries.at(4).chosen);
  // Same as the in-memory model of the same writes.
  acceptor_state model;
  model.apply(batch_with({entry(1, 1, "a"), entry(2, 1, "b"), entry(3, 1, "c"),
                          entry(4, 1, "d")})
                .acceptor);
  acceptor_write w;
  w.chosen_marks = {1, 2, 3};
  w.log_start = 3;
  model.apply(w);
  CHECK(model.entries == st.acceptor.entries);
}

TEST_CASE("a missing data directory is an error unless asked to create it") {
  temp_dir tmp;
  auto o = opts_in(tmp.sub("absent"));
  o.create_dir = false;
  CHECK(open_error(o) == storage_errc::missing_directory);
  o.dir = tmp.sub("no/such/parent");
  o.create_dir = true;
  CHECK(open_error(o) == storage_errc::missing_directory);
}

TEST_CASE("a directory of another cluster or node is refused, data intact") {
  temp_dir tmp;
  auto o = opts_in(tmp.sub("n"));
  open_ok(o)->commit(batch_with({entry(0, 1, "keep")}, ballot{1, 2}));
  auto other_cluster = o;
  other_cluster.cluster_id = "another-cluster";
  CHECK(open_error(other_cluster) == storage_errc::wrong_cluster);
  auto other_node = o;
  other_node.node = 2;
  CHECK(open_error(other_node) == storage_errc::wrong_node);
  CHECK(open_ok(o)->load().value().acceptor.entries.at(0)
        == entry(0, 1, "keep"));
}

TEST_CASE("a second opener of a data directory gets a clear error") {
  temp_dir tmp;
  auto o = opts_in(tmp.sub("n"));
  auto first = open_ok(o);
  CHECK(open_error(o) == storage_errc::in_use);
  // Another process: the same answer, naming this process as the holder.
  auto code = in_child([&] {
    auto s = lmdb_store::open(o);
    if (s.ok())
      return 0;
    bool names_pid = s.error().message.find(std::to_string(::getppid()))
                     != std::string::npos;
    return s.error().code == storage_errc::in_use && names_pid ? 1 : 2;
  });
  CHECK(code == 1);
  first.reset();
  CHECK(lmdb_store::open(o).ok());
}

TEST_CASE("a read-only data directory gives a clear error") {
  temp_dir tmp;
  auto o = opts_in(tmp.sub("n"));
  open_ok(o)->commit(batch_with({entry(0, 1, "keep")}));
  // Root ignores permission bits, so the check runs as an unprivileged
  // user in a child process when the test runs as root.
  ::chmod(tmp.path().c_str(), 0755);
  ::chmod(o.dir.c_str(), 0555);
  auto code = in_child([&] {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0))
      return 3;
    auto s = lmdb_store::open(o);
    if (s.ok())
      return 0;
    return s.error().code == storage_errc::read_only ? 1 : 2;
  });
  ::chmod(o.dir.c_str(), 0750);
  CHECK(code == 1);
  CHECK(open_ok(o)->load().value().acceptor.entries.size() == 1);
}

TEST_CASE("a damaged or foreign data file is refused and left untouched") {
  temp_dir tmp;
  SUBCASE("garbage instead of data.mdb") {
    auto o = opts_in(tmp.sub("garbage"));
    std::filesystem::create_directory(o.dir);
    std::string junk(8192, '\0');
    for (size_t i = 0; i < junk.size(); ++i)
      junk[i] = static_cast<char>(i * 7919 % 251);
    std::ofstream(o.dir + "/data.mdb", std::ios::binary) << junk;
    CHECK(open_error(o) == storage_errc::corrupt);
    CHECK(read_file(o.dir + "/data.mdb") == junk);
  }
  SUBCASE("an LMDB environment written by another program") {
    auto o = opts_in(tmp.sub("foreign"));
    std::filesystem::create_directory(o.dir);
    MDB_env* env = nullptr;
    MDB_txn* txn = nullptr;
    MDB_dbi dbi;
    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_open(env, o.dir.c_str(), 0, 0640) == 0);
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    REQUIRE(mdb_dbi_open(txn, nullptr, 0, &dbi) == 0);
    std::string k = "their-key", v = "their-value";
    MDB_val key{k.size(), k.data()}, val{v.size(), v.data()};
    REQUIRE(mdb_put(txn, dbi, &key, &val, 0) == 0);
    REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
    auto before = read_file(o.dir + "/data.mdb");
    CHECK(open_error(o) == storage_errc::foreign);
    CHECK(read_file(o.dir + "/data.mdb") == before);
  }
}

TEST_CASE("a full store fails the commit and keeps what was stored") {
  temp_dir tmp;
  auto o = opts_in(tmp.sub("n"));
  o.map_size_bytes = 1 << 20;
  auto s = open_ok(o);
  std::string big(16 * 1024, 'v');
  slot_t slot = 0;
  storage_status err;
  while (!err && slot < 1000) {
    err = s->commit(batch_with({entry(slot, 1, big)}, ballot{slot + 1, 2}));
    ++slot;
  }
  REQUIRE(err);
  CHECK(err->code == storage_errc::map_full);
  MESSAGE(err->message);
  auto stored = slot - 1;
  auto st = s->load().value();
  CHECK(st.acceptor.entries.size() == stored);
  CHECK(st.acceptor.promised == ballot{stored, 2});
  s.reset();
  // Reopened with a larger map, everything committed is there.
  o.map_size_bytes = 64 << 20;
  auto bigger = open_ok(o);
  CHECK(bigger->load().value().acceptor.entries.size() == stored);
  CHECK_FALSE(bigger->commit(batch_with({entry(stored, 1, big)})));
}

TEST_CASE("bad settings are refused") {
  temp_dir tmp;
  auto o = opts_in(tmp.sub("n"));
  o.map_size_bytes = 1000;
  CHECK(open_error(o) == storage_errc::invalid_argument);
  o = opts_in(tmp.sub("n"));
  o.node = 0;
  CHECK(open_error(o) == storage_errc::invalid_argument);
}

TEST_CASE("the cluster simulator keeps every invariant over LMDB stores") {
  // Every node commits to real LMDB environments in a temp dir (the
  // acceptor's and the learner's state) and reopens them at every restart;
  // the simulator checks each reload returns exactly what was committed.
  uint64_t first = 0, count = 12;
  if (auto* s = std::getenv("PAXOSKV_LMDB_SEEDS"))
    count = std::strtoull(s, nullptr, 10);
  for (uint64_t seed = first; seed < first + count; ++seed) {
    temp_dir tmp;
    auto make = [&](node_id n) -> std::unique_ptr<store> {
      auto o = opts_in(tmp.sub("node" + std::to_string(n)), n);
      auto s = lmdb_store::open(o);
      if (!s)
        return nullptr;
      return std::move(s.value());
    };
    auto make_state = [&](node_id n) -> std::unique_ptr<state_store> {
      lmdb_state_options o;
      o.dir = tmp.sub("node" + std::to_string(n)) + "-state";
      // The simulator's in-memory stores name their snapshots "sim"; the
      // real ones must produce the very same bytes.
      o.cluster_id = "sim";
      o.map_size_bytes = uint64_t{64} << 20;
      auto s = lmdb_state_store::open(o);
      if (!s)
        return nullptr;
      return std::move(s.value());
    };
    auto r = sim::run_seed(seed, nullptr, make, make_state);
    INFO("seed " << seed << ": " << r.violation);
    CHECK(r.ok);
  }
}
