// The LMDB state store: a learner's state machine in its own environment,
// <data dir>/state, apart from the acceptor's so that writing the state
// behind the apply path never waits for (or delays) an acceptor's fsync.
//
//   "meta"     format_version  u32 = 1
//              cluster_id      bytes
//              applied         u64: the first slot not applied
//   "records"  the machine's records, key -> value
//
// Each commit is one write transaction with LMDB's full sync: the records
// and the applied slot change together, so what is on disk is always the
// state after some whole slot. A consistent read transaction of it is a
// snapshot: serving one writes it once to snapshot-<slot>.pkvs (from a read
// transaction, while commits go on; the two newest are kept), and chunks
// are read from that file. A snapshot being received is stored in
// incoming.pkvs (each chunk fsynced) with incoming.meta naming it, so a
// restarted receiver resumes; installing it replaces every record and the
// applied slot in one transaction.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "storage/lmdb_dir.hpp"
#include "storage/state_store.hpp"

namespace paxoskv {

struct lmdb_state_options {
  /// The state directory (created if missing; its parent must exist).
  std::string dir;
  /// The cluster it must belong to (written on first open).
  std::string cluster_id;
  uint64_t map_size_bytes = uint64_t{4} << 30;
};

class lmdb_state_store final : public state_store {
public:
  static storage_result<std::unique_ptr<lmdb_state_store>>
  open(const lmdb_state_options& opts);

  storage_status load(state_machine& sm) const override;
  storage_status commit(const state_write& w) override;
  storage_result<snapshot_info> prepare_snapshot(slot_t wanted) override;
  storage_result<std::string> read_snapshot(slot_t snapshot, uint64_t offset,
                                            uint32_t max) override;
  std::optional<snapshot_transfer> partial_snapshot() const override;
  storage_status store_chunk(const snapshot_chunk& c) override;
  storage_status install_snapshot(state_machine& sm) override;

  /// The first slot not applied, as committed.
  storage_result<slot_t> applied() const;

private:
  lmdb_state_store() = default;
  storage_status check_or_init(const std::string& cluster_id);
  storage_result<slot_t> read_applied(lmdb::txn& t) const;
  /// Snapshots kept, by slot, from the file names.
  std::map<slot_t, std::string> kept() const;
  storage_result<snapshot_info> info_of(slot_t snapshot,
                                        const std::string& path) const;
  storage_status write_snapshot(slot_t& out);
  storage_error io_fail(const std::string& what) const;
  void load_partial();

  std::string cluster_;
  std::unique_ptr<lmdb_dir> dir_;
  std::optional<snapshot_transfer> partial_;
  MDB_dbi meta_ = 0;
  MDB_dbi records_ = 0;
};

} // namespace paxoskv
