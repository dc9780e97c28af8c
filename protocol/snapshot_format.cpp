#include "protocol/snapshot_format.hpp"

#include "protocol/codec.hpp"

namespace paxoskv::snapshot {

namespace {

constexpr std::string_view magic = "PKVSNAP1";
constexpr uint32_t format = 1;

} // namespace

uint64_t fnv1a(std::string_view bytes, uint64_t h) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

encoder::encoder(std::string cluster_id, slot_t applied, uint64_t records,
                 std::function<void(std::string_view)> out)
  : out_(std::move(out)), expected_(records) {
  std::string head(magic);
  codec::put_u32(head, format);
  codec::put_bytes(head, cluster_id);
  codec::put_u64(head, applied);
  codec::put_u64(head, records);
  emit(head);
}

void encoder::emit(const std::string& bytes) {
  size_ += bytes.size();
  hash_ = fnv1a(bytes, hash_);
  out_(bytes);
}

void encoder::add(std::string_view key, std::string_view value) {
  std::string rec;
  rec.reserve(8 + key.size() + value.size());
  codec::put_bytes(rec, key);
  codec::put_bytes(rec, value);
  ++added_;
  emit(rec);
}

std::pair<uint64_t, uint64_t> encoder::finish() {
  std::string tail;
  codec::put_u64(tail, hash_);
  out_(tail);
  size_ += tail.size();
  return {size_, hash_};
}

std::string encode(const std::string& cluster_id, const state_image& img) {
  std::string out;
  encoder e(cluster_id, img.applied, img.records.size(),
            [&](std::string_view b) { out.append(b.data(), b.size()); });
  for (auto& [k, v] : img.records)
    e.add(k, v);
  e.finish();
  return out;
}

bool trailer_checksum(std::string_view stream, uint64_t& out) {
  if (stream.size() < 8)
    return false;
  codec::reader r(stream.substr(stream.size() - 8));
  out = r.uint(8);
  return true;
}

decode_error decode_into(std::string_view stream,
                         const std::string& cluster_id, state_machine& sm) {
  auto fail = [&](const std::string& why) {
    sm.begin_load(0);
    return decode_error("snapshot " + why);
  };
  uint64_t sum = 0;
  if (stream.size() < magic.size() + 8 || !trailer_checksum(stream, sum))
    return fail("is truncated");
  auto body = stream.substr(0, stream.size() - 8);
  if (fnv1a(body) != sum)
    return fail("checksum does not match: damaged");
  if (body.substr(0, magic.size()) != magic)
    return fail("is not a paxoskv snapshot");
  codec::reader r(body.substr(magic.size()));
  auto fmt = r.uint(4);
  auto cluster = r.bytes();
  auto applied = r.uint(8);
  auto count = r.uint(8);
  if (!r.ok())
    return fail("header is truncated");
  if (fmt != format)
    return fail("format " + std::to_string(fmt) + " is not supported");
  if (cluster != cluster_id)
    return fail("belongs to cluster '" + cluster + "', not '" + cluster_id
                + "'");
  sm.begin_load(applied);
  std::string last;
  for (uint64_t i = 0; i < count; ++i) {
    auto k = r.bytes();
    auto v = r.bytes();
    if (!r.ok())
      return fail("record " + std::to_string(i) + " is truncated");
    if (i > 0 && k <= last)
      return fail("records are out of order");
    if (!sm.load_record(k, v))
      return fail("record " + std::to_string(i) + " does not decode");
    last = std::move(k);
  }
  if (!r.at_end())
    return fail("has bytes after its records");
  if (!sm.end_load())
    return fail("records disagree with each other");
  return {};
}

} // namespace paxoskv::snapshot
