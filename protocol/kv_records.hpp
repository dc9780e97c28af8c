// The durable form's record keys (kv_machine.hpp lists them), shared by the
// state machine's files.
#pragma once

#include <cstdint>
#include <string>

#include "protocol/codec.hpp"
#include "protocol/types.hpp"

namespace paxoskv::kv_records {

/// Record keys of the durable form (see kv_machine.hpp).
constexpr char clock_prefix = 'c';
constexpr char data_prefix = 'k';
constexpr char object_prefix = 'o';
constexpr char watch_prefix = 'w';
constexpr char script_prefix = 'x';
constexpr char session_prefix = 's';
constexpr char reply_prefix = 'r';
constexpr char tombstone_prefix = 't';
constexpr char membership_prefix = 'm';
inline const std::string membership_record(1, membership_prefix);
inline const std::string clock_record(1, clock_prefix);

inline std::string data_record(const std::string& key) {
  std::string r(1, data_prefix);
  r += key;
  return r;
}

inline std::string object_record(const std::string& key) {
  std::string r(1, object_prefix);
  r += key;
  return r;
}

inline std::string watch_record(uint64_t client) {
  std::string r(1, watch_prefix);
  codec::put_u64(r, client);
  return r;
}

inline std::string u64_value(uint64_t x) {
  std::string v;
  codec::put_u64(v, x);
  return v;
}

/// Mixes a command's identity into a seed (SPOP, RANDOMKEY in the log).
inline uint64_t command_seed(slot_t slot, const command& c, uint64_t salt) {
  uint64_t h = slot * 0x9e3779b97f4a7c15ull ^ c.client_id;
  h = (h ^ (h >> 31)) * 0xbf58476d1ce4e5b9ull ^ c.sequence;
  h = (h ^ (h >> 29)) * 0x94d049bb133111ebull ^ salt;
  return h ^ (h >> 32);
}

inline std::string session_record(uint64_t client) {
  std::string r(1, session_prefix);
  codec::put_u64(r, client);
  return r;
}

inline std::string tombstone_record(uint64_t client) {
  std::string r(1, tombstone_prefix);
  codec::put_u64(r, client);
  return r;
}

inline std::string session_value(uint64_t applied_upto, slot_t last_slot) {
  std::string v;
  codec::put_u64(v, applied_upto);
  codec::put_u64(v, last_slot);
  return v;
}

inline std::string reply_record(uint64_t client, uint64_t sequence) {
  std::string r(1, reply_prefix);
  codec::put_u64(r, client);
  codec::put_u64(r, sequence);
  return r;
}

} // namespace paxoskv::kv_records
