// The LMDB-backed store of a node's durable state (schema in schema.hpp).
//
// Durability: every commit is one LMDB write transaction committed with
// LMDB's default full sync (no MDB_NOSYNC, MDB_NOMETASYNC or MDB_MAPASYNC
// anywhere), so `commit` returns only once the batch is on disk. A batch is
// all the writes of a group commit: many accepts, one fsync.
//
// Opening checks the directory, takes an exclusive lock on it (a second
// process gets a clear error), opens LMDB, and checks the format version,
// the cluster id and the node id. Every failure is a storage_error with a
// message naming the directory; the stored data is never modified by a
// failed open or a failed commit.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "storage/lmdb_dir.hpp"
#include "storage/store.hpp"

namespace paxoskv {

struct lmdb_options {
  /// The node's data directory.
  std::string dir;
  /// Create the directory if it does not exist (its parent must).
  bool create_dir = false;
  /// The cluster this directory must belong to (written on first open).
  std::string cluster_id;
  /// The node this directory must belong to (written on first open).
  node_id node = 0;
  /// Written on first open: the directory belongs to a first member of the
  /// cluster (--bootstrap) rather than to one that joined.
  bool bootstrap = true;
  /// Largest size the data file may grow to. LMDB reserves address space,
  /// not disk, for it; when it is reached commits fail with map_full.
  uint64_t map_size_bytes = uint64_t{4} << 30;
};

class lmdb_store final : public store {
public:
  /// Opens (or initialises) the data directory.
  static storage_result<std::unique_ptr<lmdb_store>>
  open(const lmdb_options& opts);

  ~lmdb_store() override;

  storage_result<durable_state> load() const override;
  storage_status commit(const durable_batch& batch) override;

  const lmdb_options& options() const { return opts_; }
  /// The directory's incarnation (membership.hpp).
  uint64_t incarnation() const { return incarnation_; }
  /// Whether this open created the directory's databases.
  bool created() const { return created_; }
  /// Whether the directory was created by a bootstrap (membership.hpp).
  bool bootstrapped() const { return bootstrapped_; }

private:
  lmdb_store() = default;

  storage_status check_or_init_meta();
  storage_status init_meta(lmdb::txn t);
  storage_status check_meta(lmdb::txn& t);
  /// Reads the incarnation, drawing and storing one if the directory
  /// predates incarnations.
  storage_status read_or_draw_incarnation(lmdb::txn& t);
  storage_status load_log(lmdb::txn& t, acceptor_state& out) const;
  /// Reads an optional u64 record of "meta" into `out` (absent: unchanged).
  storage_status load_u64(lmdb::txn& t, const char* key, uint64_t& out) const;
  /// Deletes every record of `dbi` whose slot key is below `end`.
  int delete_below(lmdb::txn& t, MDB_dbi dbi, slot_t end);
  storage_error fail(storage_errc code, const std::string& what) const;
  storage_error fail_lmdb(const std::string& what, int rc) const;

  lmdb_options opts_;
  std::unique_ptr<lmdb_dir> dir_;
  MDB_dbi meta_ = 0;
  MDB_dbi log_ = 0;
  MDB_dbi marks_ = 0;
  uint64_t incarnation_ = 0;
  bool created_ = false;
  bool bootstrapped_ = true;
};

} // namespace paxoskv
