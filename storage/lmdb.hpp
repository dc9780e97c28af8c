// Small RAII wrappers over LMDB's C API, for storage/ only.
//
// - env: closes the environment.
// - txn: aborts unless committed (a transaction left by an early return or
//   an error never half-applies).
// - cursor: closed when it goes out of scope, which must be before its
//   transaction commits or aborts.
// Every LMDB return code is checked by the caller; nothing here throws.
#pragma once

#include <lmdb.h>

#include <string>
#include <string_view>
#include <utility>

namespace paxoskv::lmdb {

inline std::string_view view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

inline MDB_val val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}

class env {
public:
  env() = default;
  explicit env(MDB_env* handle) : handle_(handle) {}
  env(env&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  env& operator=(env&& other) noexcept {
    reset();
    handle_ = std::exchange(other.handle_, nullptr);
    return *this;
  }
  env(const env&) = delete;
  env& operator=(const env&) = delete;
  ~env() { reset(); }

  MDB_env* get() const { return handle_; }
  void reset() {
    if (handle_)
      mdb_env_close(std::exchange(handle_, nullptr));
  }

private:
  MDB_env* handle_ = nullptr;
};

class txn {
public:
  txn() = default;
  txn(txn&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  txn& operator=(txn&&) = delete;
  txn(const txn&) = delete;
  txn& operator=(const txn&) = delete;
  ~txn() { abort(); }

  /// Begins a transaction; returns LMDB's code (0 on success).
  int begin(MDB_env* e, bool read_only) {
    abort();
    return mdb_txn_begin(e, nullptr, read_only ? MDB_RDONLY : 0, &handle_);
  }

  /// Commits (for a write transaction: with fsync); the handle is gone
  /// whatever the outcome.
  int commit() { return mdb_txn_commit(std::exchange(handle_, nullptr)); }

  void abort() {
    if (handle_)
      mdb_txn_abort(std::exchange(handle_, nullptr));
  }

  MDB_txn* get() const { return handle_; }

private:
  MDB_txn* handle_ = nullptr;
};

class cursor {
public:
  cursor() = default;
  cursor(const cursor&) = delete;
  cursor& operator=(const cursor&) = delete;
  ~cursor() {
    if (handle_)
      mdb_cursor_close(handle_);
  }

  int open(MDB_txn* t, MDB_dbi dbi) { return mdb_cursor_open(t, dbi, &handle_); }
  MDB_cursor* get() const { return handle_; }

private:
  MDB_cursor* handle_ = nullptr;
};

} // namespace paxoskv::lmdb
