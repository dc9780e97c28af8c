// The snapshot stream: a state machine's whole durable form at one slot, as
// bytes that travel in chunks between learners.
//
//   magic "PKVSNAP1"
//   u32 format = 1, bytes cluster_id, u64 applied, u64 record count
//   per record: bytes key, bytes value          (keys ascending)
//   u64 checksum: FNV-1a 64 of everything before it
//
// (bytes: u32 length, then the bytes; integers big-endian.) Every chunk of
// it carries its own FNV-1a checksum, and the whole stream's checksum is
// known before the first chunk, so a damaged chunk is refused when it
// arrives and a damaged stream before it is installed. The content at a
// given slot is the same on every replica (the state machine is
// deterministic), so the slot names the snapshot.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/state_machine.hpp"

namespace paxoskv::snapshot {

/// FNV-1a 64, continued from `h` (start with fnv_basis).
constexpr uint64_t fnv_basis = 0xcbf29ce484222325ULL;
uint64_t fnv1a(std::string_view bytes, uint64_t h = fnv_basis);

/// Builds a stream, handing out its bytes as they are produced.
class encoder {
public:
  /// `out` receives the bytes (it may write them to a file).
  encoder(std::string cluster_id, slot_t applied, uint64_t records,
          std::function<void(std::string_view)> out);

  void add(std::string_view key, std::string_view value);

  /// Writes the checksum; returns the stream's total size and checksum.
  std::pair<uint64_t, uint64_t> finish();

private:
  void emit(const std::string& bytes);

  std::function<void(std::string_view)> out_;
  uint64_t size_ = 0;
  uint64_t hash_ = fnv_basis;
  uint64_t expected_ = 0;
  uint64_t added_ = 0;
};

/// The whole stream of an image (the simulator's snapshots, tests).
std::string encode(const std::string& cluster_id, const state_image& img);

/// Why a stream does not load, or empty.
using decode_error = std::string;

/// Loads a complete stream into `sm` (begin_load ... end_load), checking
/// the magic, the cluster, every length and the checksum. On error the
/// machine is left empty at slot 0.
decode_error decode_into(std::string_view stream,
                         const std::string& cluster_id, state_machine& sm);

/// The checksum a complete stream ends with, if it is long enough.
bool trailer_checksum(std::string_view stream, uint64_t& out);

} // namespace paxoskv::snapshot
