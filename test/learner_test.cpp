#include <doctest/doctest.h>

#include "protocol/learner.hpp"
#include "protocol/snapshot_format.hpp"
#include "test/helpers.hpp"

using namespace paxoskv;
using namespace paxoskv::test;

namespace {

learner make_learner(size_t buffer = 16) {
  learner_config cfg;
  cfg.self = 2;
  cfg.acceptors = {1, 2, 3};
  cfg.poll_ticks = 4;
  cfg.buffer_slots_max = buffer;
  return learner(cfg);
}

chosen one(slot_t slot, log_value v) {
  return chosen{{chosen_entry{slot, std::move(v)}}};
}

} // namespace

TEST_CASE("learner applies slots strictly in order") {
  auto l = make_learner();
  auto early = l.on_chosen(one(1, batch_of(set_cmd(1, 2, "k", "second"))));
  CHECK(early.applied.empty());
  CHECK(data_of(l).empty());
  auto both = l.on_chosen(one(0, batch_of(set_cmd(1, 1, "k", "first"))));
  REQUIRE(both.applied.size() == 2);
  CHECK(both.applied[0].slot == 0);
  CHECK(both.applied[1].slot == 1);
  CHECK(data_of(l).at("k") == "second");
  CHECK(l.next_slot() == 2);
}

TEST_CASE("a duplicate client command applies once and gets the saved reply") {
  auto l = make_learner();
  auto first = l.on_chosen(one(0, batch_of(set_cmd(5, 1, "k", "a"))));
  REQUIRE(first.outcomes.size() == 1);
  CHECK_FALSE(first.outcomes[0].duplicate);
  l.on_chosen(one(1, batch_of(set_cmd(6, 1, "k", "b"))));
  // The same (client, sequence) chosen again, e.g. re-proposed after a
  // leader change: the state must not go back to "a".
  auto again = l.on_chosen(one(2, batch_of(set_cmd(5, 1, "k", "a"))));
  REQUIRE(again.outcomes.size() == 1);
  CHECK(again.outcomes[0].duplicate);
  CHECK(again.outcomes[0].result == first.outcomes[0].result);
  CHECK(data_of(l).at("k") == "b");
  CHECK(l.saved_reply(5, 1).has_value());
}

TEST_CASE("the state machine implements GET, SET, DEL and NOP") {
  auto l = make_learner();
  log_value v;
  v.commands = {
    command{1, 1, op_code::get, {"k"}},
    command{1, 2, op_code::set, {"k", "v"}},
    command{1, 3, op_code::get, {"k"}},
    command{1, 4, op_code::del, {"k"}},
    command{1, 5, op_code::del, {"k"}},
    command{1, 6, op_code::nop, {}},
  };
  auto step = l.on_chosen(one(0, v));
  REQUIRE(step.outcomes.size() == 6);
  CHECK(step.outcomes[0].result.kind == result_kind::nil);
  CHECK(step.outcomes[1].result.kind == result_kind::ok);
  CHECK(step.outcomes[2].result == command_result{result_kind::value, "v", 0});
  CHECK(step.outcomes[3].result.number == 1);
  CHECK(step.outcomes[4].result.number == 0);
  CHECK(step.outcomes[5].result.kind == result_kind::ok);
  CHECK(data_of(l).empty());
  // A NOP slot (empty batch) is applied and changes nothing.
  CHECK(l.on_chosen(one(1, nop_value())).applied.size() == 1);
  CHECK(l.next_slot() == 2);
}

TEST_CASE("old retries beyond the saved replies are not applied again") {
  learner_config cfg;
  cfg.self = 2;
  cfg.acceptors = {1};
  cfg.replies_per_client_max = 2;
  learner l(cfg);
  for (uint64_t seq = 1; seq <= 3; ++seq)
    l.on_chosen(one(seq - 1, batch_of(set_cmd(5, seq, "k",
                                               "v" + std::to_string(seq)))));
  auto stale = l.on_chosen(one(3, batch_of(set_cmd(5, 1, "k", "v1"))));
  REQUIRE(stale.outcomes.size() == 1);
  CHECK(stale.outcomes[0].duplicate);
  CHECK(stale.outcomes[0].result.kind == result_kind::error);
  CHECK(data_of(l).at("k") == "v3");
  // Within the window the saved reply comes back.
  auto recent = l.on_chosen(one(4, batch_of(set_cmd(5, 3, "k", "v3"))));
  REQUIRE(recent.outcomes.size() == 1);
  CHECK(recent.outcomes[0].result.kind == result_kind::ok);
}

TEST_CASE("a client's command chosen ahead of its predecessor is not applied "
          "until it comes again after it") {
  auto l = make_learner();
  auto ahead = l.on_chosen(one(0, batch_of(set_cmd(5, 2, "k", "second"))));
  REQUIRE(ahead.outcomes.size() == 1);
  CHECK(ahead.outcomes[0].out_of_order);
  CHECK(ahead.outcomes[0].result.kind == result_kind::not_applied);
  CHECK(data_of(l).empty());
  l.on_chosen(one(1, batch_of(set_cmd(5, 1, "k", "first"))));
  CHECK(data_of(l).at("k") == "first");
  auto again = l.on_chosen(one(2, batch_of(set_cmd(5, 2, "k", "second"))));
  REQUIRE(again.outcomes.size() == 1);
  CHECK_FALSE(again.outcomes[0].out_of_order);
  CHECK(data_of(l).at("k") == "second");
  CHECK(l.applied_upto(5) == 2);
}

TEST_CASE("learner asks acceptors in turn for what it misses") {
  auto l = make_learner();
  std::vector<uint64_t> asked;
  for (int i = 0; i < 12; ++i)
    for (auto& [to, r] : of_type<learn_request>(l.on_tick().send_now)) {
      CHECK(r.from_slot == 0);
      asked.push_back(to);
    }
  CHECK(asked == std::vector<uint64_t>{1, 2, 3});
}

TEST_CASE("learner buffers a bounded number of slots ahead") {
  auto l = make_learner(4);
  l.on_chosen(one(10, nop_value()));
  CHECK(l.buffered() == 0);
  l.on_chosen(one(3, nop_value()));
  CHECK(l.buffered() == 1);
}

namespace {

/// Applies one command per slot and returns its result.
struct machine {
  learner l = make_learner();
  slot_t slot = 0;
  uint64_t seq = 0;

  command_result run(op_code op, std::vector<std::string> args) {
    auto step = l.on_chosen(one(slot++, batch_of(command{9, ++seq, op,
                                                         std::move(args)})));
    REQUIRE(step.outcomes.size() == 1);
    return step.outcomes[0].result;
  }
};

command_result integer(int64_t n) {
  return {result_kind::integer, {}, n};
}

} // namespace

TEST_CASE("SET NX and XX apply only when the key is absent or present") {
  machine m;
  CHECK(m.run(op_code::set_xx, {"k", "a"}).kind == result_kind::nil);
  CHECK(m.run(op_code::set_nx, {"k", "b"}).kind == result_kind::ok);
  CHECK(m.run(op_code::set_nx, {"k", "c"}).kind == result_kind::nil);
  CHECK(m.run(op_code::set_xx, {"k", "d"}).kind == result_kind::ok);
  CHECK(data_of(m.l).at("k") == "d");
}

TEST_CASE("multi-key commands apply as one: MSET, MGET, DEL, EXISTS") {
  machine m;
  CHECK(m.run(op_code::mset, {"a", "1", "b", "2"}).kind == result_kind::ok);
  auto got = m.run(op_code::mget, {"a", "missing", "b"});
  CHECK(got.kind == result_kind::array);
  CHECK(got.items == std::vector<std::string>{"1", "", "2"});
  CHECK(got.present == std::vector<uint8_t>{1, 0, 1});
  CHECK(m.run(op_code::exists, {"a", "a", "zz"}) == integer(2));
  CHECK(m.run(op_code::del, {"a", "b", "zz"}) == integer(2));
  CHECK(m.run(op_code::dbsize, {}) == integer(0));
}

TEST_CASE("INCRBY, APPEND and STRLEN follow Redis") {
  machine m;
  CHECK(m.run(op_code::incrby, {"n", "5"}) == integer(5));
  CHECK(m.run(op_code::incrby, {"n", "-7"}) == integer(-2));
  CHECK(m.run(op_code::append, {"n", "x"}) == integer(3));
  CHECK(m.run(op_code::incrby, {"n", "1"}).text
        == "ERR value is not an integer or out of range");
  CHECK(m.run(op_code::strlen, {"n"}) == integer(3));
  CHECK(m.run(op_code::strlen, {"none"}) == integer(0));
  CHECK(m.run(op_code::set, {"big", "9223372036854775807"}).kind
        == result_kind::ok);
  CHECK(m.run(op_code::incrby, {"big", "1"}).text
        == "ERR increment or decrement would overflow");
  CHECK(m.run(op_code::set, {"small", "-9223372036854775808"}).kind
        == result_kind::ok);
  CHECK(m.run(op_code::incrby, {"small", "0"})
        == integer(INT64_MIN));
  CHECK(m.run(op_code::incrby, {"small", "-1"}).kind == result_kind::error);
  CHECK(m.run(op_code::incrby, {"x", "9223372036854775808"}).kind
        == result_kind::error);
  CHECK(m.run(op_code::incrby, {"x", "12a"}).kind == result_kind::error);
}

TEST_CASE("a command with the wrong number of arguments fails the same way "
          "on every replica") {
  machine m;
  CHECK(m.run(op_code::get, {}).text == "ERR wrong number of arguments");
  CHECK(m.run(op_code::mset, {"a"}).kind == result_kind::error);
  CHECK(data_of(m.l).empty());
}

namespace {

command get_cmd(uint64_t client, uint64_t seq, std::string key) {
  return command{client, seq, op_code::get, {std::move(key)}};
}

std::vector<command_outcome> reads_of(const learner_step& s) {
  std::vector<command_outcome> out;
  for (auto& o : s.outcomes)
    if (o.read)
      out.push_back(o);
  return out;
}

} // namespace

TEST_CASE("a leader read waits for its index to be applied, then reads "
          "without touching the log or the session") {
  auto l = make_learner();
  l.on_chosen(one(0, batch_of(set_cmd(1, 1, "k", "a"))));
  auto step = l.on_read(get_cmd(5, 1, "k"), read_level::leader);
  CHECK(step.outcomes.empty());
  auto reqs = of_type<read_request>(step.send_now);
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].first == 2); // Its own node's proposer.
  auto id = reqs[0].second.id;
  // Reads arriving meanwhile wait for the next request.
  CHECK(of_type<read_request>(
          l.on_read(get_cmd(6, 1, "k"), read_level::leader).send_now)
          .empty());
  CHECK(l.reads_waiting() == 2);
  // Index 2: slot 1 must be applied first.
  step = l.on_read_index(read_index{id, 2, 1});
  CHECK(reads_of(step).empty());
  auto next = of_type<read_request>(step.send_now);
  REQUIRE(next.size() == 1);
  step = l.on_chosen(one(1, batch_of(set_cmd(1, 2, "k", "b"))));
  auto served = reads_of(step);
  REQUIRE(served.size() == 1);
  CHECK(served[0].client_id == 5);
  CHECK(served[0].result == command_result{result_kind::value, "b", 0});
  CHECK_FALSE(l.saved_reply(5, 1).has_value());
  // A late or repeated answer for a finished request is ignored.
  CHECK(reads_of(l.on_read_index(read_index{id, 0, 1})).empty());
  served = reads_of(l.on_read_index(read_index{next[0].second.id, 1, 1}));
  REQUIRE(served.size() == 1);
  CHECK(served[0].client_id == 6);
  CHECK(l.reads_waiting() == 0);
}

namespace {

/// A learner that resends read requests every 3 ticks, with ids from 1001.
learner read_learner(uint32_t timeout_ticks) {
  learner_config cfg;
  cfg.self = 2;
  cfg.read_resend_ticks = 3;
  cfg.read_timeout_ticks = timeout_ticks;
  cfg.read_id_base = 1000;
  return learner(cfg);
}

} // namespace

TEST_CASE("an unanswered read request is resent under the same id, and a "
          "read that is never confirmed fails as not applied") {
  auto l = read_learner(10);
  auto first = of_type<read_request>(
    l.on_read(get_cmd(5, 1, "k"), read_level::lease).send_now);
  REQUIRE(first.size() == 1);
  CHECK(first[0].second.id == 1001);
  CHECK(first[0].second.level == read_level::lease);
  std::vector<read_request> resent;
  std::vector<command_outcome> failed;
  for (int i = 0; i < 12; ++i) {
    auto step = l.on_tick();
    for (auto& [to, r] : of_type<read_request>(step.send_now))
      resent.push_back(r);
    for (auto& o : reads_of(step))
      failed.push_back(o);
  }
  REQUIRE(resent.size() >= 2);
  for (auto& r : resent)
    CHECK(r.id == 1001);
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].result.kind == result_kind::not_applied);
  CHECK(l.reads_waiting() == 0);
  // An answer after the read failed changes nothing.
  CHECK(reads_of(l.on_read_index(read_index{1001, 0, 1})).empty());
}

TEST_CASE("an answer slower than the resend period still serves the read") {
  // On a network whose round trip exceeds the resend period, every answer
  // arrives after a resend; it must still count, or no read is ever served.
  auto l = read_learner(100);
  auto first = of_type<read_request>(
    l.on_read(get_cmd(5, 1, "k"), read_level::leader).send_now);
  REQUIRE(first.size() == 1);
  for (int i = 0; i < 8; ++i)
    l.on_tick(); // Two resends.
  // A read that arrives meanwhile waits for the next request: the index
  // answering the first one was taken before it arrived.
  auto later = l.on_read(get_cmd(6, 1, "k"), read_level::leader);
  CHECK(of_type<read_request>(later.send_now).empty());
  auto answered = l.on_read_index(read_index{first[0].second.id, 0, 1});
  auto served = reads_of(answered);
  REQUIRE(served.size() == 1);
  CHECK(served[0].client_id == 5);
  // The later read gets a request of its own.
  auto next = of_type<read_request>(answered.send_now);
  REQUIRE(next.size() == 1);
  CHECK(next[0].second.id != first[0].second.id);
  CHECK(l.reads_waiting() == 1);
}

TEST_CASE("a learner that is behind fetches chunk after chunk without "
          "waiting for its poll timer") {
  auto l = make_learner(256);
  auto nop_chunk = [](slot_t from, slot_t to) {
    chosen c;
    for (auto s = from; s < to; ++s)
      c.entries.push_back({s, nop_value()});
    return c;
  };
  // A leader's notification far ahead shows the learner is behind, but
  // only an answer that moves it forward asks for more (no request storm).
  CHECK(of_type<learn_request>(l.on_chosen(one(99, nop_value())).send_now)
          .empty());
  auto next = of_type<learn_request>(l.on_chosen(nop_chunk(0, 64)).send_now);
  REQUIRE(next.size() == 1);
  CHECK(next[0].second.from_slot == 64);
  // A duplicated answer moves nothing and asks for nothing.
  CHECK(of_type<learn_request>(l.on_chosen(nop_chunk(0, 64)).send_now)
          .empty());
  // Caught up: no more requests.
  CHECK(of_type<learn_request>(l.on_chosen(nop_chunk(64, 99)).send_now)
          .empty());
  CHECK(l.next_slot() == 100);
  // A read index beyond what was applied starts fetching at once.
  auto step = l.on_read(command{5, 1, op_code::get, {"k"}}, read_level::leader);
  auto id = of_type<read_request>(step.send_now).at(0).second.id;
  auto fetch = of_type<learn_request>(l.on_read_index(read_index{id, 500, 1})
                                        .send_now);
  REQUIRE(fetch.size() == 1);
  CHECK(fetch[0].second.from_slot == 100);
}

namespace {

/// An acceptor's answer that its log starts at `start`, naming learner 3
/// as a snapshot source.
chosen compacted(node_id acceptor, slot_t start) {
  chosen c;
  c.serves_from = start;
  c.acceptor = acceptor;
  c.snapshot_source = 3;
  c.snapshot_durable = start + 10;
  return c;
}

/// A snapshot of a machine that applied `slots` NOPs, as chunks of `size`.
std::vector<snapshot_chunk> chunks_of(slot_t slots, size_t size) {
  state_image img;
  img.applied = slots;
  img.records["kx"] = "snapshotted";
  auto bytes = snapshot::encode("sim", img);
  uint64_t sum = 0;
  snapshot::trailer_checksum(bytes, sum);
  std::vector<snapshot_chunk> out;
  for (size_t off = 0; off < bytes.size(); off += size) {
    auto data = bytes.substr(off, size);
    out.push_back(snapshot_chunk{3, slots, bytes.size(), sum, off, data,
                                 snapshot::fnv1a(data), ""});
  }
  return out;
}

} // namespace

TEST_CASE("a learner behind every compacted log takes a snapshot chunk by "
          "chunk, verifies each, and installs it once all are stored") {
  auto l = make_learner();
  // One acceptor is not a majority: it asks another.
  auto s1 = l.on_chosen(compacted(1, 50));
  CHECK(of_type<snapshot_request>(s1.send_now).empty());
  CHECK(of_type<learn_request>(s1.send_now).size() == 1);
  auto s2 = l.on_chosen(compacted(2, 50));
  auto req = of_type<snapshot_request>(s2.send_now);
  REQUIRE(req.size() == 1);
  CHECK(req[0].first == 3);
  CHECK(req[0].second.offset == 0);
  REQUIRE(l.transfer());
  auto chunks = chunks_of(60, 16);
  REQUIRE(chunks.size() > 2);
  // A damaged chunk is not stored.
  auto bad = chunks[0];
  bad.data[3] ^= 1;
  CHECK(l.on_snapshot_chunk(bad).store_chunks.empty());
  for (size_t i = 0; i < chunks.size(); ++i) {
    auto st = l.on_snapshot_chunk(chunks[i]);
    REQUIRE(st.store_chunks.size() == 1);
    // A duplicate while it is being stored is ignored.
    CHECK(l.on_snapshot_chunk(chunks[i]).store_chunks.empty());
    auto end = chunks[i].offset + chunks[i].data.size();
    auto stored = l.on_chunk_stored(60, end, true);
    if (i + 1 < chunks.size()) {
      CHECK_FALSE(stored.install_snapshot);
      // The next chunk is asked for once the pace allows.
      for (int t = 0; t < 5 && of_type<snapshot_request>(stored.send_now).empty();
           ++t)
        stored = l.on_tick();
      auto next = of_type<snapshot_request>(stored.send_now);
      REQUIRE(next.size() == 1);
      CHECK(next[0].second.offset == end);
      CHECK(next[0].second.snapshot == 60);
    } else {
      CHECK(stored.install_snapshot);
    }
  }
  auto sm = std::make_unique<kv_machine>();
  state_image img;
  img.applied = 60;
  img.records["kx"] = "snapshotted";
  REQUIRE(load_image(*sm, img));
  auto done = l.on_snapshot_installed(std::move(sm), {});
  CHECK(l.next_slot() == 60);
  CHECK(l.durable() == 60);
  CHECK_FALSE(l.transfer());
  CHECK(data_of(l).at("x") == "snapshotted");
  // It takes the log after the snapshot.
  auto fetch = of_type<learn_request>(done.send_now);
  REQUIRE_FALSE(fetch.empty());
  CHECK(fetch[0].second.from_slot == 60);
}

TEST_CASE("a snapshot the log overtook during the transfer is not installed") {
  auto l = make_learner();
  l.on_chosen(compacted(1, 2));
  l.on_chosen(compacted(2, 2));
  REQUIRE(l.transfer());
  auto chunks = chunks_of(3, 1 << 20);
  REQUIRE(chunks.size() == 1);
  REQUIRE(l.on_snapshot_chunk(chunks[0]).store_chunks.size() == 1);
  // Meanwhile the log (from an acceptor that still had it) applies 0..4.
  chosen log;
  for (slot_t s = 0; s < 5; ++s)
    log.entries.push_back({s, nop_value()});
  l.on_chosen(log);
  REQUIRE(l.next_slot() == 5);
  auto stored = l.on_chunk_stored(3, chunks[0].data.size(), true);
  CHECK_FALSE(stored.install_snapshot);
  CHECK_FALSE(l.transfer());
  CHECK(l.next_slot() == 5);
}
