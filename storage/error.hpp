// Storage errors: expected trouble (full disk, foreign directory, second
// process) is a value, never an exception and never a crash.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace paxoskv {

enum class storage_errc : uint8_t {
  /// The data directory does not exist (and was not to be created).
  missing_directory = 1,
  /// The data directory or its files cannot be written.
  read_only,
  /// Another process holds the data directory.
  in_use,
  /// The map size is reached: the store is full.
  map_full,
  /// The files are not an LMDB environment, or are damaged.
  corrupt,
  /// An LMDB environment not written by paxoskv.
  foreign,
  /// Written by an unknown version of the paxoskv format.
  unsupported_format,
  /// The directory belongs to another cluster.
  wrong_cluster,
  /// The directory belongs to another node.
  wrong_node,
  /// A bad setting (for example a zero map size).
  invalid_argument,
  /// Any other I/O failure.
  io_error,
};

std::string to_string(storage_errc x);

struct storage_error {
  storage_errc code = storage_errc::io_error;
  /// A full sentence for the operator: what failed, where, and what to do.
  std::string message;
};

/// Either a value or a storage error.
template <class T>
class storage_result {
public:
  storage_result(T value) : data_(std::move(value)) {}
  storage_result(storage_error err) : data_(std::move(err)) {}

  bool ok() const { return data_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(data_); }
  const T& value() const { return std::get<0>(data_); }
  const storage_error& error() const { return std::get<1>(data_); }

private:
  std::variant<T, storage_error> data_;
};

/// No value, just success or an error.
using storage_status = std::optional<storage_error>;

} // namespace paxoskv
