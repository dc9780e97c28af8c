// The smallest protocol types: node ids, slots, majorities.
#pragma once

#include <cstddef>
#include <cstdint>

namespace paxoskv {

/// Identifies a node of the cluster; ids are unique and small (1..N).
using node_id = uint32_t;

/// Index of an entry in the replicated log; slot 0 is the first entry.
using slot_t = uint64_t;

/// Size of a majority of `n` voters.
inline size_t majority_of(size_t n) {
  return n / 2 + 1;
}

} // namespace paxoskv
