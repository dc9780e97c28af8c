// One LMDB environment in a directory of its own, held by one process.
//
// Opening checks the directory (creating it when asked), takes an exclusive
// flock() on <dir>/paxoskv.lock (a second process gets a clear error naming
// the holder's pid), and opens LMDB with its full sync on. Every failure is
// a storage_error whose message names the directory. The acceptor's store
// (lmdb_store) and the learner's state store (lmdb_state_store) each own
// one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "storage/error.hpp"
#include "storage/lmdb.hpp"

namespace paxoskv {

struct lmdb_dir_options {
  std::string dir;
  /// Create the directory if it does not exist (its parent must).
  bool create_dir = false;
  /// Largest size the data file may grow to (at least 1 MiB).
  uint64_t map_size_bytes = uint64_t{4} << 30;
  /// Named databases at most.
  unsigned max_dbs = 4;
  /// How messages name the directory.
  std::string what = "data directory";
};

class lmdb_dir {
public:
  static storage_result<std::unique_ptr<lmdb_dir>>
  open(const lmdb_dir_options& opts);

  ~lmdb_dir();

  MDB_env* env() const { return env_.get(); }
  const lmdb_dir_options& options() const { return opts_; }

  /// An error about this directory: "<what> <dir>: <text>".
  storage_error fail(storage_errc code, const std::string& text) const;
  /// An error for an LMDB return code, with what the operator can do.
  storage_error fail_lmdb(const std::string& doing, int rc) const;

private:
  lmdb_dir() = default;
  storage_status lock_directory();

  lmdb_dir_options opts_;
  std::string what_;
  int lock_fd_ = -1;
  lmdb::env env_;
};

} // namespace paxoskv
