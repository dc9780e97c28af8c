// The durable form of a learner's state machine (state_machine.hpp): its
// records and the first slot not applied, written behind the apply path.
//
// A state store commits a state_write atomically and durably; `load` fills
// a machine with what was committed, so a restarted learner continues from
// there instead of replaying the log. It also keeps snapshots: it serves
// its own durable state as a snapshot stream (snapshot_format.hpp) in
// chunks, stores the chunks of one it receives (surviving a restart, so
// the transfer resumes), and installs a received one in place of its
// state atomically. The in-memory store backs the simulator; the LMDB
// store (lmdb_state_store.hpp) backs real nodes.
#pragma once

#include <map>
#include <optional>

#include "protocol/learner.hpp"
#include "protocol/state_machine.hpp"
#include "storage/error.hpp"

namespace paxoskv {

/// A snapshot kept for serving.
struct snapshot_info {
  slot_t snapshot = 0;
  uint64_t total = 0;
  uint64_t checksum = 0;
};

class state_store {
public:
  virtual ~state_store() = default;
  /// Loads the committed form into `sm` (replacing its state).
  virtual storage_status load(state_machine& sm) const = 0;
  /// Makes `w` durable, atomically; returns once it is on disk.
  virtual storage_status commit(const state_write& w) = 0;

  // -- serving snapshots ------------------------------------------------------

  /// The snapshot to serve for a request naming `wanted` (0: the newest):
  /// that one while it is kept, else the newest, taken from the committed
  /// state when none is as new as it.
  virtual storage_result<snapshot_info> prepare_snapshot(slot_t wanted) = 0;
  /// Bytes of a kept snapshot.
  virtual storage_result<std::string> read_snapshot(slot_t snapshot,
                                                    uint64_t offset,
                                                    uint32_t max) = 0;

  // -- receiving one ----------------------------------------------------------

  /// The transfer whose chunks are stored, if any.
  virtual std::optional<snapshot_transfer> partial_snapshot() const = 0;
  /// Stores a verified chunk durably: at offset 0 it starts a new transfer
  /// (what was stored before is discarded), else it must continue the one
  /// stored.
  virtual storage_status store_chunk(const snapshot_chunk& c) = 0;
  /// Verifies the complete received snapshot, replaces the state with it
  /// atomically (all of it or nothing), discards the transfer, and loads
  /// `sm` from it.
  virtual storage_status install_snapshot(state_machine& sm) = 0;
};

/// The answer to a learner's request for a chunk of this node's snapshot
/// (`self`: this node): the chunk, or the reason it cannot be served. A
/// request naming a snapshot no longer kept gets the newest from byte 0.
snapshot_chunk serve_chunk(state_store& store, node_id self,
                           const snapshot_request& r);

class memory_state_store final : public state_store {
public:
  explicit memory_state_store(std::string cluster_id = "sim")
    : cluster_(std::move(cluster_id)) {}

  storage_status load(state_machine& sm) const override;
  storage_status commit(const state_write& w) override;
  storage_result<snapshot_info> prepare_snapshot(slot_t wanted) override;
  storage_result<std::string> read_snapshot(slot_t snapshot, uint64_t offset,
                                            uint32_t max) override;
  std::optional<snapshot_transfer> partial_snapshot() const override;
  storage_status store_chunk(const snapshot_chunk& c) override;
  storage_status install_snapshot(state_machine& sm) override;

  const state_image& image() const { return image_; }

private:
  std::string cluster_;
  state_image image_;
  /// Snapshots kept for serving (the two newest), by slot.
  std::map<slot_t, std::string> kept_;
  std::optional<snapshot_transfer> partial_;
  std::string received_;
};

} // namespace paxoskv
