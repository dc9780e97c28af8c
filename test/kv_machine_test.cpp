#include <doctest/doctest.h>

#include "protocol/kv_machine.hpp"
#include "protocol/snapshot_format.hpp"
#include "storage/state_store.hpp"
#include "test/helpers.hpp"

using namespace paxoskv;
using namespace paxoskv::test;

namespace {

/// Applies `commands` as one slot each, writing every change behind into
/// `disk` as a replica's shell does.
void run(kv_machine& m, state_image& disk, const std::vector<command>& cmds) {
  for (auto& c : cmds) {
    m.apply(m.applied(), c);
    m.end_slot(m.applied());
    if (auto w = m.take_changes())
      disk.apply(*w);
  }
}

std::vector<command> workload() {
  return {set_cmd(1, 1, "a", "1"),
          set_cmd(2, 1, "b", "2"),
          command{1, 2, op_code::incrby, {"n", "5"}},
          command{2, 2, op_code::del, {"a"}},
          command{1, 3, op_code::append, {"b", "x"}},
          command{3, 1, op_code::mget, {"a", "b", "n"}},
          set_cmd(1, 4, "c", "3")};
}

} // namespace

TEST_CASE("the changes written behind add up to the machine's durable form") {
  kv_machine m;
  state_image disk;
  run(m, disk, workload());
  CHECK(disk == save_image(m));
  CHECK(disk.applied == 7);
  CHECK(m.data().count("a") == 0);
  CHECK(m.data().at("b") == "2x");
  // Nothing changed, nothing to write.
  CHECK_FALSE(m.take_changes());
}

TEST_CASE("a machine loaded from a durable form equals the one saved") {
  kv_machine m;
  state_image disk;
  run(m, disk, workload());
  kv_machine copy;
  REQUIRE(load_image(copy, disk));
  CHECK(copy.applied() == m.applied());
  CHECK(copy.data() == m.data());
  CHECK(save_image(copy) == disk);
  // Sessions came along: a duplicate gets its saved reply, and the next
  // command of a client applies in order.
  auto dup = copy.apply(copy.applied(), command{1, 2, op_code::incrby,
                                               {"n", "5"}});
  CHECK(dup.duplicate);
  CHECK(dup.result.number == 5);
  CHECK(copy.applied_upto(1) == 4);
  auto ahead = copy.apply(copy.applied(), set_cmd(2, 4, "z", "z"));
  CHECK(ahead.out_of_order);
  // Both machines go on identically.
  m.apply(m.applied(), set_cmd(2, 3, "d", "4"));
  copy.apply(copy.applied(), set_cmd(2, 3, "d", "4"));
  m.end_slot(m.applied());
  copy.end_slot(copy.applied());
  CHECK(save_image(copy) == save_image(m));
}

TEST_CASE("a damaged record fails the load and leaves an empty machine") {
  kv_machine m;
  state_image disk;
  run(m, disk, workload());
  for (auto& [k, v] : disk.records)
    if (k[0] == 'r') {
      v.resize(v.size() - 1); // A truncated saved reply.
      break;
    }
  kv_machine copy;
  CHECK_FALSE(load_image(copy, disk));
  CHECK(copy.applied() == 0);
  CHECK(copy.data().empty());
  state_image unknown;
  unknown.records["?what"] = "x";
  CHECK_FALSE(load_image(copy, unknown));
}

TEST_CASE("saved replies round-trip, arrays included") {
  command_result r{result_kind::array, "", 0, {"x", "", "yz"}, {1, 0, 1}};
  auto back = kv_machine::decode_result(kv_machine::encode_result(r));
  REQUIRE(back);
  CHECK(*back == r);
  CHECK_FALSE(kv_machine::decode_result("\x09"));
  CHECK_FALSE(kv_machine::decode_result(""));
}

TEST_CASE("saved replies per client are bounded, in memory and on disk") {
  kv_machine m(kv_machine_config{3});
  state_image disk;
  std::vector<command> cmds;
  for (uint64_t s = 1; s <= 10; ++s)
    cmds.push_back(set_cmd(1, s, "k", std::to_string(s)));
  run(m, disk, cmds);
  size_t replies = 0;
  for (auto& [k, v] : disk.records)
    replies += k[0] == 'r' ? 1 : 0;
  CHECK(replies == 3);
  CHECK(m.saved_reply(1, 10));
  CHECK_FALSE(m.saved_reply(1, 7));
  auto old = m.apply(m.applied(), set_cmd(1, 2, "k", "again"));
  CHECK(old.duplicate);
  CHECK(old.result.kind == result_kind::error);
  CHECK(m.data().at("k") == "10");
}

TEST_CASE("an idle session expires at the same slot on every replica; its "
          "client then hears 'session expired', never a second apply") {
  kv_machine_config cfg;
  cfg.session_idle_slots = 5;
  kv_machine m(cfg);
  state_image disk;
  run(m, disk, {set_cmd(1, 1, "a", "1"), set_cmd(1, 2, "a", "2")});
  // Client 2 keeps the log moving; client 1 stays idle.
  std::vector<command> others;
  for (uint64_t s = 1; s <= 5; ++s)
    others.push_back(set_cmd(2, s, "b", std::to_string(s)));
  run(m, disk, others);
  CHECK(m.sessions() == 1);
  CHECK(m.tombstones() == 1);
  // A retry of an applied command: applied once, its reply gone.
  auto again = m.apply(m.applied(), set_cmd(1, 2, "a", "2"));
  CHECK(again.duplicate);
  CHECK(again.result.text == reply_not_kept_error);
  // A new command of the expired session: not applied, and said so.
  auto next = m.apply(m.applied(), set_cmd(1, 3, "a", "3"));
  CHECK_FALSE(next.duplicate);
  CHECK(next.result.text == session_expired_error);
  // Not even as a new session's first command.
  auto first = m.apply(m.applied(), set_cmd(1, 1, "a", "x"));
  CHECK(first.duplicate);
  CHECK(m.data().at("a") == "2");
  m.end_slot(m.applied());
  // A replica loaded from the durable form decides the same.
  if (auto w = m.take_changes())
    disk.apply(*w);
  kv_machine copy(cfg);
  REQUIRE(load_image(copy, disk));
  CHECK(save_image(copy) == save_image(m));
  CHECK(copy.apply(copy.applied(), set_cmd(1, 4, "a", "4")).result.text
        == session_expired_error);
}

TEST_CASE("sessions are bounded: beyond sessions_max the least recently "
          "active expires, and tombstones are bounded too") {
  kv_machine_config cfg;
  cfg.sessions_max = 3;
  cfg.tombstones_max = 2;
  kv_machine m(cfg);
  state_image disk;
  std::vector<command> cmds;
  for (uint64_t c = 1; c <= 8; ++c)
    cmds.push_back(set_cmd(c, 1, "k" + std::to_string(c), "v"));
  run(m, disk, cmds);
  CHECK(m.sessions() == 3);
  CHECK(m.tombstones() == 2);
  // Clients 6, 7, 8 are the most recent; 4 and 5 have tombstones.
  CHECK(m.applied_upto(8) == 1);
  CHECK(m.applied_upto(5) == 0);
  CHECK(m.apply(m.applied(), set_cmd(5, 2, "x", "y")).result.text
        == session_expired_error);
  CHECK(disk == save_image(m));
}

TEST_CASE("a snapshot stream round-trips; damage, truncation and another "
          "cluster's snapshot are refused") {
  kv_machine m;
  state_image disk;
  run(m, disk, workload());
  auto bytes = snapshot::encode("c1", disk);
  uint64_t sum = 0;
  REQUIRE(snapshot::trailer_checksum(bytes, sum));
  kv_machine copy;
  CHECK(snapshot::decode_into(bytes, "c1", copy).empty());
  CHECK(save_image(copy) == disk);
  // Another cluster's.
  kv_machine other;
  auto err = snapshot::decode_into(bytes, "c2", other);
  CHECK(err.find("belongs to cluster 'c1'") != std::string::npos);
  CHECK(other.applied() == 0);
  // One flipped bit anywhere.
  for (size_t at : {size_t{3}, bytes.size() / 2, bytes.size() - 9}) {
    auto bad = bytes;
    bad[at] ^= 0x10;
    kv_machine k;
    CHECK_FALSE(snapshot::decode_into(bad, "c1", k).empty());
    CHECK(k.data().empty());
  }
  // Cut short.
  kv_machine k;
  CHECK_FALSE(
    snapshot::decode_into(bytes.substr(0, bytes.size() - 20), "c1", k).empty());
  // A chunk's own checksum tells a damaged chunk from a good one.
  auto chunk = bytes.substr(10, 30);
  auto damaged = chunk;
  damaged[0] ^= 1;
  CHECK(snapshot::fnv1a(chunk) != snapshot::fnv1a(damaged));
}

TEST_CASE("the in-memory store serves its snapshot, stores chunks, and "
          "installs only a complete, matching stream") {
  memory_state_store src, dst;
  kv_machine m;
  state_image img;
  run(m, img, workload());
  auto w = save_image(m);
  for (auto& [k, v] : w.records) {
    state_write sw;
    sw.applied = w.applied;
    sw.records[k] = v;
    src.commit(sw);
  }
  auto info = src.prepare_snapshot(0);
  REQUIRE(info);
  CHECK(info.value().snapshot == 7);
  uint64_t off = 0;
  kv_machine early;
  while (off < info.value().total) {
    auto data = src.read_snapshot(7, off, 25).value();
    snapshot_chunk c{1, 7, info.value().total, info.value().checksum, off,
                     data, snapshot::fnv1a(data), ""};
    // Installing before the last chunk is refused.
    CHECK(dst.install_snapshot(early));
    REQUIRE_FALSE(dst.store_chunk(c));
    off += data.size();
  }
  // A chunk out of place is refused.
  snapshot_chunk stray{1, 7, info.value().total, info.value().checksum, 3,
                       "xx", 0, ""};
  CHECK(dst.store_chunk(stray));
  kv_machine installed;
  REQUIRE_FALSE(dst.install_snapshot(installed));
  CHECK(save_image(installed) == save_image(m));
  CHECK(dst.image() == save_image(m));
  CHECK_FALSE(dst.partial_snapshot());
}
