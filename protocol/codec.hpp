// Big-endian byte encoding shared by everything paxoskv writes to disk or
// streams as bytes (the acceptor log, the state machine's records,
// snapshots). Decoding checks every length: a short or overlong input fails
// the reader, it is never trusted.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace paxoskv::codec {

inline void put_u8(std::string& out, uint8_t x) {
  out.push_back(static_cast<char>(x));
}

inline void put_u32(std::string& out, uint32_t x) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((x >> shift) & 0xff));
}

inline void put_u64(std::string& out, uint64_t x) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((x >> shift) & 0xff));
}

/// A u32 length, then the bytes.
inline void put_bytes(std::string& out, std::string_view s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out.append(s.data(), s.size());
}

/// Reads big-endian fields from a byte range; any overrun fails it, and a
/// failed reader returns zeros and empty strings from then on.
class reader {
public:
  explicit reader(std::string_view in) : in_(in) {}

  bool ok() const { return ok_; }
  bool at_end() const { return pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }
  void fail() { ok_ = false; }

  uint64_t uint(size_t width) {
    if (!ok_ || in_.size() - pos_ < width) {
      ok_ = false;
      return 0;
    }
    uint64_t x = 0;
    for (size_t i = 0; i < width; ++i)
      x = (x << 8) | static_cast<uint8_t>(in_[pos_ + i]);
    pos_ += width;
    return x;
  }

  std::string bytes() {
    auto n = uint(4);
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
      return {};
    }
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }

private:
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

} // namespace paxoskv::codec
