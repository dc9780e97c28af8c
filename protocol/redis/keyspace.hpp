// The Redis data of the state machine: typed values (strings, hashes,
// lists, sets) with expiry, in the order SCAN walks them.
//
// Time is the log's: `now()` is what the state machine was told (the
// highest leader stamp applied, or for a read served outside the log, that
// or the serving node's clock if later). A key whose expiry is at or before
// `now()` is absent to every command; writes delete it when they meet it,
// and `reclaim` deletes a bounded number per slot, so that expired keys go
// without a burst of work and identically on every replica.
//
// Keys are ordered by (hash, key) with a fixed 64-bit hash: SCAN's cursor
// is the hash of the next key to return, so a key present during a whole
// iteration is returned whatever is added or removed meanwhile.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>

namespace paxoskv::redis {

enum class kind : uint8_t { string = 0, hash = 1, list = 2, set = 3 };

const char* type_name(kind k);

using hash_t = std::map<std::string, std::string>;
using list_t = std::deque<std::string>;
using set_t = std::set<std::string>;

struct object {
  /// Alternatives in the order of `kind`.
  std::variant<std::string, hash_t, list_t, set_t> value;
  /// Unix ms at which the key expires (0: never).
  uint64_t expire_at = 0;

  kind type() const { return static_cast<kind>(value.index()); }
  std::string* str() { return std::get_if<std::string>(&value); }
  const std::string* str() const { return std::get_if<std::string>(&value); }
  hash_t* hash() { return std::get_if<hash_t>(&value); }
  const hash_t* hash() const { return std::get_if<hash_t>(&value); }
  list_t* list() { return std::get_if<list_t>(&value); }
  const list_t* list() const { return std::get_if<list_t>(&value); }
  set_t* set() { return std::get_if<set_t>(&value); }
  const set_t* set() const { return std::get_if<set_t>(&value); }
  /// Elements (1 for a string).
  size_t length() const;
  /// Whether a collection became empty (Redis then deletes the key).
  bool empty_collection() const;
};

/// The fixed hash that orders keys (never 0, so that cursor 0 starts).
uint64_t key_hash(std::string_view key);

/// Stands for "the first key with a hash at or above `h`" in lookups.
struct hash_probe {
  uint64_t h;
};

struct hash_order {
  using is_transparent = void;
  bool operator()(const std::string& a, const std::string& b) const {
    auto ha = key_hash(a), hb = key_hash(b);
    return ha != hb ? ha < hb : a < b;
  }
  bool operator()(const std::string& a, hash_probe b) const {
    return key_hash(a) < b.h;
  }
  bool operator()(hash_probe a, const std::string& b) const {
    return a.h <= key_hash(b);
  }
};

/// Durable encoding of an object ('o' records): kind, expiry, contents.
std::string encode_object(const object& o);
std::optional<object> decode_object(std::string_view bytes);

class keyspace {
public:
  using map = std::map<std::string, object, hash_order>;

  /// The time expiry is judged at. A clock, not data: a read outside the
  /// log may move it on a const keyspace; the log sets it back.
  void set_now(uint64_t ms) const { now_ = ms; }
  uint64_t now() const { return now_; }

  /// A live key (present and not expired at now()), or null.
  const object* find(const std::string& key) const;
  /// The same for changing it; an expired key met here is deleted.
  object* find_mut(const std::string& key);
  /// Sets a key's whole value (and expiry), replacing what was there.
  object& put(const std::string& key, object o);
  /// Deletes a key; true if it was live.
  bool erase(const std::string& key);
  /// Changes a live key's expiry (0: persist).
  void set_expire(const std::string& key, uint64_t at);
  /// Records that a live key's value changed in place (after find_mut).
  void modified(const std::string& key);
  /// Deletes every key.
  void clear();

  /// Keys live at now().
  size_t live_count() const;
  /// Keys with an expiry (expired ones not reclaimed yet included).
  size_t expiring() const { return expiries_.size(); }
  /// All keys held, expired ones not reclaimed yet included.
  size_t held() const { return objects_.size(); }
  /// Deletes up to `max` keys expired at now(); returns how many.
  size_t reclaim(size_t max);
  /// The earliest expiry held (0: none).
  uint64_t next_expiry() const;

  const map& objects() const { return objects_; }

  /// Keys changed since the last call (their records must be rewritten).
  std::set<std::string> take_dirty();
  /// Called with each key written or deleted (WATCH).
  std::function<void(const std::string*)> on_touch;

  /// Loading: adds a key as stored (no notes).
  void load(std::string key, object o);

private:
  void unindex(const std::string& key, const object& o);
  void touched(const std::string& key);

  map objects_;
  /// (expiry, key) of every key with one.
  std::set<std::pair<uint64_t, std::string>> expiries_;
  std::set<std::string> dirty_;
  mutable uint64_t now_ = 0;
};

/// The live value of type T (std::string, hash_t, list_t, set_t) at `key`:
/// null if absent, or with `wrong` set if another type holds it.
template <class T>
const T* find_as(const keyspace& ks, const std::string& key, bool& wrong) {
  wrong = false;
  auto* o = ks.find(key);
  if (o == nullptr)
    return nullptr;
  auto* v = std::get_if<T>(&o->value);
  wrong = v == nullptr;
  return v;
}

/// The value of type T at `key` to change, created empty when absent (the
/// caller checked the type with find_as).
template <class T>
T* find_or_create(keyspace& ks, const std::string& key) {
  if (auto* o = ks.find_mut(key))
    return std::get_if<T>(&o->value);
  object n;
  n.value = T{};
  return std::get_if<T>(&ks.put(key, std::move(n)).value);
}

/// Redis's glob-style pattern match (KEYS, SCAN MATCH).
bool glob_match(std::string_view pattern, std::string_view s,
                bool nocase = false);

} // namespace paxoskv::redis
