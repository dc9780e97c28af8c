#include "storage/schema.hpp"

#include "protocol/codec.hpp"

namespace paxoskv::schema {

using codec::put_bytes;
using codec::put_u32;
using codec::put_u64;
using codec::put_u8;
using codec::reader;

std::string encode_u32(uint32_t x) {
  std::string out;
  put_u32(out, x);
  return out;
}

std::string encode_u64(uint64_t x) {
  std::string out;
  put_u64(out, x);
  return out;
}

std::optional<uint32_t> decode_u32(std::string_view bytes) {
  reader r(bytes);
  auto x = r.uint(4);
  if (!r.ok() || !r.at_end())
    return std::nullopt;
  return static_cast<uint32_t>(x);
}

std::optional<uint64_t> decode_u64(std::string_view bytes) {
  reader r(bytes);
  auto x = r.uint(8);
  if (!r.ok() || !r.at_end())
    return std::nullopt;
  return x;
}

std::string encode_slot(slot_t slot) {
  return encode_u64(slot);
}

std::optional<slot_t> decode_slot(std::string_view bytes) {
  return decode_u64(bytes);
}

std::string encode_ballot(const ballot& b) {
  std::string out;
  put_u64(out, b.round);
  put_u32(out, b.node);
  return out;
}

std::optional<ballot> decode_ballot(std::string_view bytes) {
  reader r(bytes);
  ballot b;
  b.round = r.uint(8);
  b.node = static_cast<node_id>(r.uint(4));
  if (!r.ok() || !r.at_end())
    return std::nullopt;
  return b;
}

std::string encode_entry(const accepted_entry& e) {
  std::string out;
  out.reserve(32 + e.value.size_bytes());
  // Configuration values take format 2; every other value keeps format 1,
  // so data directories written before configurations existed read as
  // they are.
  put_u8(out, e.value.is_config()      ? entry_format_config
              : e.value.time_ms != 0 ? entry_format_timed
                                     : entry_format);
  put_u64(out, e.accepted_ballot.round);
  put_u32(out, e.accepted_ballot.node);
  put_u8(out, e.chosen ? 1 : 0);
  put_u32(out, static_cast<uint32_t>(e.value.commands.size()));
  for (auto& c : e.value.commands) {
    put_u64(out, c.client_id);
    put_u64(out, c.sequence);
    put_u8(out, static_cast<uint8_t>(c.op));
    put_u32(out, static_cast<uint32_t>(c.args.size()));
    for (auto& a : c.args)
      put_bytes(out, a);
  }
  if (e.value.is_config())
    encode(out, e.value.config);
  else if (e.value.time_ms != 0)
    put_u64(out, e.value.time_ms);
  return out;
}

std::optional<accepted_entry> decode_entry(slot_t slot,
                                           std::string_view bytes) {
  reader r(bytes);
  accepted_entry e;
  e.slot = slot;
  auto format = r.uint(1);
  if (format != entry_format && format != entry_format_config
      && format != entry_format_timed)
    return std::nullopt;
  e.accepted_ballot.round = r.uint(8);
  e.accepted_ballot.node = static_cast<node_id>(r.uint(4));
  auto chosen = r.uint(1);
  if (chosen > 1)
    return std::nullopt;
  e.chosen = chosen == 1;
  auto count = r.uint(4);
  // Every command takes at least 21 bytes: a count beyond what is left is
  // corruption, caught before reserving memory for it.
  if (!r.ok() || count > bytes.size() / 21)
    return std::nullopt;
  e.value.commands.reserve(count);
  for (uint64_t i = 0; i < count && r.ok(); ++i) {
    command c;
    c.client_id = r.uint(8);
    c.sequence = r.uint(8);
    auto op = r.uint(1);
    if (op > static_cast<uint8_t>(op_code_max))
      return std::nullopt;
    c.op = static_cast<op_code>(op);
    auto nargs = r.uint(4);
    // Every argument takes at least 4 bytes (its length).
    if (!r.ok() || nargs > bytes.size() / 4)
      return std::nullopt;
    c.args.reserve(nargs);
    for (uint64_t k = 0; k < nargs && r.ok(); ++k)
      c.args.push_back(r.bytes());
    e.value.commands.push_back(std::move(c));
  }
  if (format == entry_format_config) {
    e.value.config = read_configuration(r);
    if (!e.value.commands.empty())
      return std::nullopt;
  } else if (format == entry_format_timed) {
    e.value.time_ms = r.uint(8);
    if (e.value.time_ms == 0)
      return std::nullopt;
  }
  if (!r.ok() || !r.at_end())
    return std::nullopt;
  return e;
}

} // namespace paxoskv::schema
