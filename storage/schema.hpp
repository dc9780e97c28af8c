// The on-disk schema of a paxoskv data directory (format version 1).
//
// One LMDB environment per node data directory:
//
//   <dir>/data.mdb, <dir>/lock.mdb   LMDB's own files
//   <dir>/paxoskv.lock               held with flock() by the one process
//                                    using the directory; holds its pid
//
// Named databases (all integers big-endian, so keys sort numerically):
//
//   "meta"          key (ASCII)        value
//                   format_version     u32 = 1
//                   cluster_id         bytes (the cluster's name)
//                   node_id            u32
//                   promised           u64 round, u32 node  (acceptor)
//                   proposer_round     u64                  (proposer)
//                   log_start          u64: every slot below is chosen and
//                                      deleted (absent: 0)
//                   acceptor_configs   the configurations governing the
//                                      slots from the acceptor's
//                                      first_unchosen when log_start was
//                                      written (membership.hpp's encoding:
//                                      u32 count, then per entry u64 chosen
//                                      slot, u64 first slot governed, the
//                                      configuration); absent: the
//                                      bootstrap configuration
//
//   "acceptor_log"  key: u64 slot      value: an accepted entry
//                   u8  entry format = 1
//                   u64 ballot round, u32 ballot node
//                   u8  chosen (0 or 1)
//                   u32 number of commands, then per command:
//                     u64 client_id, u64 sequence, u8 op,
//                     u32 number of arguments, then per argument:
//                       u32 length, bytes
//                   Format 2 (a configuration value, no commands): the
//                   same, then the configuration: u64 epoch, u32 alpha,
//                   u32 number of members, then per member: u32 id,
//                   u32 length + host, u32 port, u8 roles, u8 voter,
//                   u64 incarnation
//                   The entry's chosen byte is 1 when it was stored with a
//                   value already known chosen; an accepted value later
//                   found chosen gets a mark instead (the value is not
//                   written again).
//
//   "chosen_marks"  key: u64 slot      value: empty
//                   the slot's stored value is chosen. (Data directories
//                   written before this database existed get it, empty, at
//                   the first open.)
//
// Decoding checks every length and field; anything that does not parse
// exactly is reported as corruption, never trusted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/types.hpp"

namespace paxoskv::schema {

constexpr uint32_t format_version = 1;
constexpr uint8_t entry_format = 1;
/// An entry whose value is a configuration: format 1's fields (no
/// commands), then the configuration.
constexpr uint8_t entry_format_config = 2;
/// A batch stamped with the leader's clock: format 1's fields, then the
/// stamp (u64 Unix ms). Unstamped batches keep format 1.
constexpr uint8_t entry_format_timed = 3;

constexpr const char* meta_db = "meta";
constexpr const char* log_db = "acceptor_log";
constexpr const char* marks_db = "chosen_marks";

constexpr const char* key_format_version = "format_version";
constexpr const char* key_cluster_id = "cluster_id";
constexpr const char* key_node_id = "node_id";
constexpr const char* key_promised = "promised";
constexpr const char* key_proposer_round = "proposer_round";
constexpr const char* key_log_start = "log_start";
constexpr const char* key_acceptor_configs = "acceptor_configs";
/// A random u64 drawn when the directory is created (membership.hpp):
/// a wiped and recreated directory has another one.
constexpr const char* key_incarnation = "incarnation";
/// How the directory was created: "bootstrap" (a first member of its
/// cluster) or "join". Absent (older directories): as bootstrap.
constexpr const char* key_origin = "origin";

std::string encode_u32(uint32_t x);
std::string encode_u64(uint64_t x);
std::optional<uint32_t> decode_u32(std::string_view bytes);
std::optional<uint64_t> decode_u64(std::string_view bytes);

/// Key of a slot: 8 bytes big-endian, so LMDB's byte order is slot order.
std::string encode_slot(slot_t slot);
std::optional<slot_t> decode_slot(std::string_view bytes);

std::string encode_ballot(const ballot& b);
std::optional<ballot> decode_ballot(std::string_view bytes);

/// The entry's slot is the key, not part of the value.
std::string encode_entry(const accepted_entry& e);
std::optional<accepted_entry> decode_entry(slot_t slot,
                                           std::string_view bytes);

} // namespace paxoskv::schema
