#include "protocol/redis/keyspace.hpp"

#include <cctype>

#include "protocol/codec.hpp"

namespace paxoskv::redis {

const char* type_name(kind k) {
  switch (k) {
    case kind::string:
      return "string";
    case kind::hash:
      return "hash";
    case kind::list:
      return "list";
    case kind::set:
      return "set";
  }
  return "none";
}

size_t object::length() const {
  switch (type()) {
    case kind::string:
      return 1;
    case kind::hash:
      return hash()->size();
    case kind::list:
      return list()->size();
    case kind::set:
      return set()->size();
  }
  return 0;
}

bool object::empty_collection() const {
  return type() != kind::string && length() == 0;
}

uint64_t key_hash(std::string_view key) {
  // FNV-1a, then a 64-bit finalizer: fixed forever, since cursors handed
  // to clients outlive leaders and versions.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h == 0 ? 1 : h;
}

std::string encode_object(const object& o) {
  std::string out;
  codec::put_u8(out, static_cast<uint8_t>(o.type()));
  codec::put_u64(out, o.expire_at);
  switch (o.type()) {
    case kind::string:
      codec::put_bytes(out, *o.str());
      break;
    case kind::hash:
      codec::put_u32(out, static_cast<uint32_t>(o.hash()->size()));
      for (auto& [f, v] : *o.hash()) {
        codec::put_bytes(out, f);
        codec::put_bytes(out, v);
      }
      break;
    case kind::list:
      codec::put_u32(out, static_cast<uint32_t>(o.list()->size()));
      for (auto& e : *o.list())
        codec::put_bytes(out, e);
      break;
    case kind::set:
      codec::put_u32(out, static_cast<uint32_t>(o.set()->size()));
      for (auto& e : *o.set())
        codec::put_bytes(out, e);
      break;
  }
  return out;
}

std::optional<object> decode_object(std::string_view bytes) {
  codec::reader in(bytes);
  object o;
  auto k = in.uint(1);
  o.expire_at = in.uint(8);
  if (!in.ok() || k > static_cast<uint8_t>(kind::set))
    return std::nullopt;
  if (k == 0) {
    o.value = in.bytes();
  } else {
    auto n = in.uint(4);
    // Every element takes at least 4 bytes.
    if (!in.ok() || n > in.remaining() / 4)
      return std::nullopt;
    if (k == 1) {
      hash_t h;
      for (uint64_t i = 0; i < n && in.ok(); ++i) {
        auto f = in.bytes();
        h[std::move(f)] = in.bytes();
      }
      o.value = std::move(h);
    } else if (k == 2) {
      list_t l;
      for (uint64_t i = 0; i < n && in.ok(); ++i)
        l.push_back(in.bytes());
      o.value = std::move(l);
    } else {
      set_t s;
      for (uint64_t i = 0; i < n && in.ok(); ++i)
        s.insert(in.bytes());
      o.value = std::move(s);
    }
  }
  if (!in.ok() || !in.at_end() || o.empty_collection())
    return std::nullopt;
  return o;
}

const object* keyspace::find(const std::string& key) const {
  auto i = objects_.find(key);
  if (i == objects_.end())
    return nullptr;
  if (i->second.expire_at != 0 && i->second.expire_at <= now_)
    return nullptr;
  return &i->second;
}

object* keyspace::find_mut(const std::string& key) {
  auto i = objects_.find(key);
  if (i == objects_.end())
    return nullptr;
  if (i->second.expire_at != 0 && i->second.expire_at <= now_) {
    unindex(key, i->second);
    objects_.erase(i);
    touched(key);
    return nullptr;
  }
  return &i->second;
}

void keyspace::unindex(const std::string& key, const object& o) {
  if (o.expire_at != 0)
    expiries_.erase({o.expire_at, key});
}

void keyspace::touched(const std::string& key) {
  dirty_.insert(key);
  if (on_touch)
    on_touch(&key);
}

object& keyspace::put(const std::string& key, object o) {
  auto i = objects_.find(key);
  if (i != objects_.end()) {
    unindex(key, i->second);
    i->second = std::move(o);
  } else {
    i = objects_.emplace(key, std::move(o)).first;
  }
  if (i->second.expire_at != 0)
    expiries_.insert({i->second.expire_at, key});
  touched(key);
  return i->second;
}

bool keyspace::erase(const std::string& key) {
  auto i = objects_.find(key);
  if (i == objects_.end())
    return false;
  bool live = i->second.expire_at == 0 || i->second.expire_at > now_;
  unindex(key, i->second);
  objects_.erase(i);
  touched(key);
  return live;
}

void keyspace::set_expire(const std::string& key, uint64_t at) {
  auto i = objects_.find(key);
  if (i == objects_.end())
    return;
  unindex(key, i->second);
  i->second.expire_at = at;
  if (at != 0)
    expiries_.insert({at, key});
  touched(key);
}

void keyspace::modified(const std::string& key) {
  auto i = objects_.find(key);
  if (i != objects_.end() && i->second.empty_collection()) {
    unindex(key, i->second);
    objects_.erase(i);
  }
  touched(key);
}

void keyspace::clear() {
  // Each key held is touched (as in Redis, a WATCH of a key that did not
  // exist survives FLUSHALL).
  for (auto& [k, o] : objects_) {
    dirty_.insert(k);
    if (on_touch)
      on_touch(&k);
  }
  objects_.clear();
  expiries_.clear();
}

size_t keyspace::live_count() const {
  size_t expired = 0;
  for (auto i = expiries_.begin(); i != expiries_.end() && i->first <= now_;
       ++i)
    ++expired;
  return objects_.size() - expired;
}

size_t keyspace::reclaim(size_t max) {
  size_t n = 0;
  while (n < max && !expiries_.empty() && expiries_.begin()->first <= now_) {
    auto key = expiries_.begin()->second;
    expiries_.erase(expiries_.begin());
    objects_.erase(key);
    touched(key);
    ++n;
  }
  return n;
}

uint64_t keyspace::next_expiry() const {
  return expiries_.empty() ? 0 : expiries_.begin()->first;
}

std::set<std::string> keyspace::take_dirty() {
  std::set<std::string> out;
  out.swap(dirty_);
  return out;
}

void keyspace::load(std::string key, object o) {
  if (o.expire_at != 0)
    expiries_.insert({o.expire_at, key});
  objects_[std::move(key)] = std::move(o);
}

namespace {

/// Matches one pattern element at `p` against the character `c`; sets
/// `next` past the element.
bool element_matches(std::string_view pat, size_t p, unsigned char c,
                     bool nocase, size_t& next) {
  auto fold = [nocase](unsigned char x) {
    return nocase ? static_cast<unsigned char>(std::tolower(x)) : x;
  };
  if (pat[p] == '?') {
    next = p + 1;
    return true;
  }
  if (pat[p] == '[') {
    size_t i = p + 1;
    bool negate = i < pat.size() && pat[i] == '^';
    if (negate)
      ++i;
    bool match = false;
    while (i < pat.size() && pat[i] != ']') {
      if (pat[i] == '\\' && i + 1 < pat.size()) {
        ++i;
        match = match || fold(pat[i]) == fold(c);
      } else if (i + 2 < pat.size() && pat[i + 1] == '-' && pat[i + 2] != ']') {
        auto lo = fold(pat[i]), hi = fold(pat[i + 2]);
        if (lo > hi)
          std::swap(lo, hi);
        match = match || (fold(c) >= lo && fold(c) <= hi);
        i += 2;
      } else {
        match = match || fold(pat[i]) == fold(c);
      }
      ++i;
    }
    next = i < pat.size() ? i + 1 : i; // An unterminated class ends it.
    return match != negate;
  }
  size_t i = p;
  if (pat[i] == '\\' && i + 1 < pat.size())
    ++i;
  next = i + 1;
  return fold(pat[i]) == fold(c);
}

} // namespace

bool glob_match(std::string_view pat, std::string_view s, bool nocase) {
  // Greedy with backtracking to the last '*' only: O(pattern x string),
  // whatever the pattern (no exponential blow-up on "*a*a*a...b").
  size_t p = 0, i = 0;
  size_t star_p = std::string_view::npos, star_i = 0;
  while (i < s.size()) {
    if (p < pat.size() && pat[p] == '*') {
      while (p < pat.size() && pat[p] == '*')
        ++p;
      star_p = p;
      star_i = i;
      continue;
    }
    size_t next = 0;
    if (p < pat.size()
        && element_matches(pat, p, static_cast<unsigned char>(s[i]), nocase,
                           next)) {
      p = next;
      ++i;
      continue;
    }
    if (star_p == std::string_view::npos)
      return false;
    p = star_p;
    i = ++star_i;
  }
  while (p < pat.size() && pat[p] == '*')
    ++p;
  return p == pat.size();
}

} // namespace paxoskv::redis
