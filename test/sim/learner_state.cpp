// The simulator's learner state stores: each node's state machine as
// committed (written behind the apply path), its snapshots served, stored
// and installed, and the oracle following a learner to the state it
// restored or installed.
#include "test/sim/cluster_parts.hpp"

#include "protocol/codec.hpp"
#include "protocol/kv_machine.hpp"

namespace paxoskv::sim {

kv_machine_config cluster::machine_config() const {
  auto c = opts_.sessions;
  c.replies_per_client_max = opts_.client_window_max;
  return c;
}

std::unique_ptr<state_machine> cluster::restore_state(node& nd) {
  auto machine = [&] { return std::make_unique<kv_machine>(machine_config()); };
  auto sm = machine();
  auto who = "state store of node " + std::to_string(nd.id);
  if (auto err = nd.state_disk.load(*sm))
    fail(who + ": " + err->message);
  if (opts_.make_state_store) {
    nd.state_backend.reset();
    nd.state_backend = opts_.make_state_store(nd.id);
    auto real = machine();
    if (!nd.state_backend)
      fail(who + " failed to open");
    else if (auto err = nd.state_backend->load(*real))
      fail(who + " failed to load: " + err->message);
    else if (save_image(*real) != nd.state_disk.image())
      fail(who + " reloaded a state other than the one committed");
  }
  return sm;
}

void cluster::follow_state(node& nd, bool installed) {
  // The oracle continues from the restored or installed state: the next
  // slot, and each client's last applied sequence (its session records).
  auto& img = nd.state_disk.image();
  nd.learner_next = img.applied;
  nd.client_applied.clear();
  for (auto& [k, v] : img.records)
    if (k[0] == 's') {
      codec::reader key(std::string_view(k).substr(1)), value(v);
      nd.client_applied[key.uint(8)] = value.uint(8);
    }
  if (!installed)
    return;
  // A snapshot is the state at its slot: every slot below it chosen, and
  // the keys and sessions those slots produce.
  for (slot_t s = 0; s < img.applied; ++s)
    if (truth_.count(s) == 0) {
      fail("node " + std::to_string(nd.id) + " installed a snapshot at slot "
           + std::to_string(img.applied) + " but slot " + std::to_string(s)
           + " is not chosen");
      return;
    }
  if (reference_image(img.applied) != without_replies(img))
    fail("node " + std::to_string(nd.id) + " installed a snapshot at slot "
         + std::to_string(img.applied)
         + " that differs from the reference machine there");
}

void cluster::commit_state(node& nd) {
  auto who = "state store of node " + std::to_string(nd.id);
  if (nd.state_pending) {
    // The learner's state store: its own environment, its own commit.
    auto w = std::move(*nd.state_pending);
    nd.state_pending.reset();
    if (nd.state_backend)
      if (auto err = nd.state_backend->commit(w))
        fail(who + " failed to commit: " + err->message);
    nd.state_disk.commit(w);
    auto& seen = durable_seen_[nd.id];
    seen = std::max(seen, w.applied);
    nd.learn->on_state_durable(w.applied);
  }
  auto chunks = std::move(nd.chunks_pending);
  nd.chunks_pending.clear();
  for (auto& c : chunks) {
    auto err = nd.state_disk.store_chunk(c);
    if (nd.state_backend) {
      auto real = nd.state_backend->store_chunk(c);
      if (static_cast<bool>(real) != static_cast<bool>(err))
        fail(who + " stored a snapshot chunk differently: "
             + (real ? real->message : err->message));
    }
    handle(nd, nd.learn->on_chunk_stored(c.snapshot,
                                         c.offset + c.data.size(), !err));
  }
  if (nd.install_pending) {
    nd.install_pending = false;
    auto sm = std::make_unique<kv_machine>(machine_config());
    auto err = nd.state_disk.install_snapshot(*sm);
    if (nd.state_backend) {
      kv_machine real(machine_config());
      auto real_err = nd.state_backend->install_snapshot(real);
      if (static_cast<bool>(real_err) != static_cast<bool>(err)
          || (!err && save_image(real) != nd.state_disk.image()))
        fail(who + " installed a snapshot differently");
    }
    if (err) {
      trace("node " + std::to_string(nd.id) + " snapshot install failed: "
            + err->message);
      handle(nd, nd.learn->on_snapshot_installed(nullptr, err->message));
      return;
    }
    auto& seen = durable_seen_[nd.id];
    seen = std::max(seen, nd.state_disk.image().applied);
    auto step = nd.learn->on_snapshot_installed(std::move(sm), {});
    follow_state(nd, true);
    handle(nd, std::move(step));
  }
}

void cluster::serve_snapshot(node& nd, const snapshot_request& r) {
  auto c = serve_chunk(nd.state_disk, nd.id, r);
  if (nd.state_backend) {
    // The real store serves the same bytes: the snapshot at a slot is the
    // same everywhere.
    auto real = serve_chunk(*nd.state_backend, nd.id, r);
    if (real.error != c.error || real.snapshot != c.snapshot
        || real.checksum != c.checksum || real.offset != c.offset
        || real.data != c.data)
      fail("state store of node " + std::to_string(nd.id)
           + " serves a snapshot other than the in-memory one");
  }
  send(nd.id, {r.learner, std::move(c)});
}

} // namespace paxoskv::sim
