#include "protocol/kv_machine.hpp"

#include <cassert>
#include <climits>
#include <cstdint>

#include "protocol/codec.hpp"

namespace paxoskv {

namespace {

command_result ok() {
  return {result_kind::ok, {}, 0};
}

command_result integer(int64_t n) {
  return {result_kind::integer, {}, n};
}

command_result error(const char* text) {
  return {result_kind::error, text, 0};
}

/// Parses a whole decimal int64, as Redis does for INCRBY.
bool parse_int64(const std::string& s, int64_t& out) {
  if (s.empty() || s.size() > 20)
    return false;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size())
    return false;
  // Accumulate negatively: INT64_MIN has no positive counterpart.
  int64_t x = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    int digit = s[i] - '0';
    if (x < (INT64_MIN + digit) / 10)
      return false;
    x = x * 10 - digit;
  }
  if (s[0] != '-') {
    if (x == INT64_MIN)
      return false;
    x = -x;
  }
  out = x;
  return true;
}



/// Record keys of the durable form (see kv_machine.hpp).
constexpr char data_prefix = 'k';
constexpr char session_prefix = 's';
constexpr char reply_prefix = 'r';
constexpr char tombstone_prefix = 't';
constexpr char membership_prefix = 'm';
const std::string membership_record(1, membership_prefix);

std::string data_record(const std::string& key) {
  std::string r(1, data_prefix);
  r += key;
  return r;
}

std::string session_record(uint64_t client) {
  std::string r(1, session_prefix);
  codec::put_u64(r, client);
  return r;
}

std::string tombstone_record(uint64_t client) {
  std::string r(1, tombstone_prefix);
  codec::put_u64(r, client);
  return r;
}

std::string session_value(uint64_t applied_upto, slot_t last_slot) {
  std::string v;
  codec::put_u64(v, applied_upto);
  codec::put_u64(v, last_slot);
  return v;
}

std::string reply_record(uint64_t client, uint64_t sequence) {
  std::string r(1, reply_prefix);
  codec::put_u64(r, client);
  codec::put_u64(r, sequence);
  return r;
}

} // namespace

const char* const session_expired_error
  = "ERR client session expired (idle too long, or too many sessions); "
    "this command was not applied: reconnect to start a new session";

const char* const reply_not_kept_error
  = "ERR command applied earlier; its reply is no longer kept";

kv_machine::kv_machine(kv_machine_config cfg) : cfg_(cfg) {
  assert(cfg_.replies_per_client_max > 0 && cfg_.sessions_max > 0);
}

void kv_machine::touch(uint64_t client, session& s, slot_t slot) {
  by_activity_.erase({s.last_slot, client});
  s.last_slot = slot;
  by_activity_.insert({slot, client});
  note(session_record(client), session_value(s.applied_upto, slot));
}

void kv_machine::expire_session(uint64_t client, slot_t slot) {
  auto i = sessions_.find(client);
  if (i == sessions_.end())
    return;
  for (auto& [seq, r] : i->second.replies)
    note(reply_record(client, seq), std::nullopt);
  note(session_record(client), std::nullopt);
  by_activity_.erase({i->second.last_slot, client});
  auto upto = i->second.applied_upto;
  sessions_.erase(i);
  note(tombstone_record(client), session_value(upto, slot));
  tombstones_[client] = tombstone{slot, upto};
  tombstone_order_.insert({slot, client});
}

void kv_machine::expire(slot_t slot) {
  auto idle = cfg_.session_idle_slots;
  while (!by_activity_.empty()
         && (sessions_.size() > cfg_.sessions_max
             || by_activity_.begin()->first + idle <= slot))
    expire_session(by_activity_.begin()->second, slot);
  // Tombstones go only beyond their bound, oldest first: a copy of an
  // expired session's command may still be on its way long after.
  while (!tombstone_order_.empty() && tombstones_.size() > cfg_.tombstones_max) {
    auto client = tombstone_order_.begin()->second;
    tombstone_order_.erase(tombstone_order_.begin());
    tombstones_.erase(client);
    note(tombstone_record(client), std::nullopt);
  }
}

void kv_machine::note(std::string record, std::optional<std::string> value) {
  changes_.records[std::move(record)] = std::move(value);
  dirty_ = true;
}

void kv_machine::put(const std::string& key, std::string value) {
  note(data_record(key), value);
  data_[key] = std::move(value);
}

bool kv_machine::erase(const std::string& key) {
  if (data_.erase(key) == 0)
    return false;
  note(data_record(key), std::nullopt);
  return true;
}

apply_result kv_machine::apply(slot_t slot, const command& c) {
  assert(slot == applied_);
  if (auto t = tombstones_.find(c.client_id); t != tombstones_.end()) {
    // An expired session: what it applied stays applied, nothing more is.
    if (c.sequence <= t->second.applied_upto)
      return {{result_kind::error, reply_not_kept_error, 0}, true, false};
    return {{result_kind::error, session_expired_error, 0}, false, false};
  }
  auto& s = sessions_[c.client_id];
  if (c.sequence <= s.applied_upto) {
    // A duplicate: applied before, its state change is not repeated.
    auto r = s.replies.find(c.sequence);
    return {r != s.replies.end()
              ? r->second
              : command_result{result_kind::error, reply_not_kept_error, 0},
            true, false};
  }
  if (c.sequence != s.applied_upto + 1) {
    // Its predecessor is not applied yet: applying it now would break the
    // client's order. Deterministic on every replica.
    if (s.applied_upto == 0 && s.replies.empty())
      sessions_.erase(c.client_id); // Nothing to remember yet.
    return {{result_kind::not_applied,
             "an earlier command of this client is not applied yet", 0},
            false, true};
  }
  auto result = execute(c);
  s.applied_upto = c.sequence;
  touch(c.client_id, s, slot);
  s.replies.emplace(c.sequence, result);
  note(reply_record(c.client_id, c.sequence), encode_result(result));
  while (s.replies.size() > cfg_.replies_per_client_max) {
    note(reply_record(c.client_id, s.replies.begin()->first), std::nullopt);
    s.replies.erase(s.replies.begin());
  }
  return {std::move(result), false, false};
}

void kv_machine::end_slot(slot_t slot) {
  assert(slot == applied_);
  expire(slot);
  applied_ = slot + 1;
  changes_.applied = applied_;
  dirty_ = true;
}

uint64_t kv_machine::applied_upto(uint64_t client_id) const {
  auto s = sessions_.find(client_id);
  return s == sessions_.end() ? 0 : s->second.applied_upto;
}

std::optional<command_result> kv_machine::saved_reply(uint64_t client_id,
                                                      uint64_t sequence) const {
  auto s = sessions_.find(client_id);
  if (s == sessions_.end())
    return std::nullopt;
  auto r = s->second.replies.find(sequence);
  if (r == s->second.replies.end())
    return std::nullopt;
  return r->second;
}

std::optional<state_write> kv_machine::take_changes() {
  if (!dirty_)
    return std::nullopt;
  auto w = std::move(changes_);
  changes_ = {};
  changes_.applied = applied_;
  dirty_ = false;
  w.applied = applied_;
  return w;
}

void kv_machine::save(
  const std::function<void(std::string_view, std::string_view)>& f) const {
  // In key order: 'k' < 'm' < 'r' < 's' < 't'.
  for (auto& [k, v] : data_)
    f(data_record(k), v);
  if (!membership_.empty())
    f(membership_record, membership_);
  for (auto& [client, s] : sessions_)
    for (auto& [seq, r] : s.replies)
      f(reply_record(client, seq), encode_result(r));
  for (auto& [client, s] : sessions_)
    f(session_record(client), session_value(s.applied_upto, s.last_slot));
  for (auto& [client, t] : tombstones_)
    f(tombstone_record(client), session_value(t.applied_upto, t.at));
}

void kv_machine::begin_load(slot_t applied) {
  applied_ = applied;
  data_.clear();
  sessions_.clear();
  by_activity_.clear();
  tombstones_.clear();
  tombstone_order_.clear();
  membership_.clear();
  changes_ = {};
  changes_.applied = applied;
  dirty_ = false;
}

bool kv_machine::load_record(std::string_view key, std::string_view value) {
  if (key.empty())
    return false;
  auto rest = key.substr(1);
  switch (key[0]) {
    case data_prefix:
      data_.emplace(std::string(rest), std::string(value));
      return true;
    case session_prefix: {
      codec::reader k(rest), v(value);
      auto client = k.uint(8);
      auto upto = v.uint(8);
      auto last = v.uint(8);
      if (!k.ok() || !k.at_end() || !v.ok() || !v.at_end())
        return false;
      auto& s = sessions_[client];
      s.applied_upto = upto;
      s.last_slot = last;
      by_activity_.insert({last, client});
      return true;
    }
    case tombstone_prefix: {
      codec::reader k(rest), v(value);
      auto client = k.uint(8);
      auto upto = v.uint(8);
      auto at = v.uint(8);
      if (!k.ok() || !k.at_end() || !v.ok() || !v.at_end())
        return false;
      tombstones_[client] = tombstone{at, upto};
      tombstone_order_.insert({at, client});
      return true;
    }
    case reply_prefix: {
      codec::reader k(rest);
      auto client = k.uint(8);
      auto seq = k.uint(8);
      auto r = decode_result(value);
      if (!k.ok() || !k.at_end() || !r)
        return false;
      sessions_[client].replies.emplace(seq, std::move(*r));
      return true;
    }
    case membership_prefix:
      if (!rest.empty() || !decode_history(value))
        return false;
      membership_ = std::string(value);
      return true;
    default:
      return false;
  }
}

void kv_machine::set_membership(std::string bytes) {
  if (bytes == membership_)
    return;
  membership_ = std::move(bytes);
  note(membership_record, membership_);
}

bool kv_machine::end_load() {
  for (auto& [client, s] : sessions_)
    if (s.applied_upto == 0 || tombstones_.count(client) > 0
        || s.replies.size() > cfg_.replies_per_client_max
        || (!s.replies.empty() && s.replies.rbegin()->first > s.applied_upto))
      return false;
  return true;
}

std::string kv_machine::encode_result(const command_result& r) {
  std::string out;
  codec::put_u8(out, static_cast<uint8_t>(r.kind));
  codec::put_bytes(out, r.text);
  codec::put_u64(out, static_cast<uint64_t>(r.number));
  codec::put_u32(out, static_cast<uint32_t>(r.items.size()));
  for (size_t i = 0; i < r.items.size(); ++i) {
    codec::put_u8(out, i < r.present.size() ? r.present[i] : 0);
    codec::put_bytes(out, r.items[i]);
  }
  return out;
}

std::optional<command_result>
kv_machine::decode_result(std::string_view bytes) {
  codec::reader in(bytes);
  command_result r;
  auto kind = in.uint(1);
  if (kind > static_cast<uint8_t>(result_kind::array))
    return std::nullopt;
  r.kind = static_cast<result_kind>(kind);
  r.text = in.bytes();
  r.number = static_cast<int64_t>(in.uint(8));
  auto n = in.uint(4);
  // Every item takes at least 5 bytes.
  if (!in.ok() || n > in.remaining() / 5)
    return std::nullopt;
  for (uint64_t i = 0; i < n && in.ok(); ++i) {
    r.present.push_back(static_cast<uint8_t>(in.uint(1)));
    r.items.push_back(in.bytes());
  }
  if (!in.ok() || !in.at_end())
    return std::nullopt;
  return r;
}

command_result kv_machine::read(const command& c) const {
  auto& a = c.args;
  switch (c.op) {
    case op_code::get: {
      if (a.size() != 1)
        break;
      auto i = data_.find(a[0]);
      if (i == data_.end())
        return {result_kind::nil, {}, 0};
      return {result_kind::value, i->second, 0};
    }
    case op_code::exists: {
      if (a.empty())
        break;
      int64_t n = 0;
      for (auto& k : a)
        n += static_cast<int64_t>(data_.count(k));
      return integer(n);
    }
    case op_code::mget: {
      if (a.empty())
        break;
      command_result r{result_kind::array, {}, 0};
      for (auto& k : a) {
        auto i = data_.find(k);
        r.items.push_back(i == data_.end() ? std::string{} : i->second);
        r.present.push_back(i == data_.end() ? 0 : 1);
      }
      return r;
    }
    case op_code::strlen: {
      if (a.size() != 1)
        break;
      auto i = data_.find(a[0]);
      return integer(i == data_.end() ? 0
                                      : static_cast<int64_t>(i->second.size()));
    }
    case op_code::dbsize:
      return integer(static_cast<int64_t>(data_.size()));
    default:
      return error("ERR not a read-only command");
  }
  return error("ERR wrong number of arguments");
}

command_result kv_machine::execute(const command& c) {
  // Arity is checked by the client service; a command that reaches the log
  // with another one still gets a deterministic answer on every replica.
  if (is_read_only(c.op))
    return read(c); // A log read.
  auto& a = c.args;
  switch (c.op) {
    case op_code::set:
    case op_code::set_nx:
    case op_code::set_xx: {
      if (a.size() != 2)
        break;
      bool exists = data_.count(a[0]) > 0;
      if ((c.op == op_code::set_nx && exists)
          || (c.op == op_code::set_xx && !exists))
        return {result_kind::nil, {}, 0};
      put(a[0], a[1]);
      return ok();
    }
    case op_code::del: {
      if (a.empty())
        break;
      int64_t n = 0;
      for (auto& k : a)
        n += erase(k) ? 1 : 0;
      return integer(n);
    }
    case op_code::mset: {
      if (a.empty() || a.size() % 2 != 0)
        break;
      for (size_t i = 0; i < a.size(); i += 2)
        put(a[i], a[i + 1]);
      return ok();
    }
    case op_code::incrby: {
      if (a.size() != 2)
        break;
      int64_t delta = 0, current = 0;
      if (!parse_int64(a[1], delta))
        return error("ERR value is not an integer or out of range");
      auto i = data_.find(a[0]);
      if (i != data_.end() && !parse_int64(i->second, current))
        return error("ERR value is not an integer or out of range");
      if ((delta > 0 && current > INT64_MAX - delta)
          || (delta < 0 && current < INT64_MIN - delta))
        return error("ERR increment or decrement would overflow");
      put(a[0], std::to_string(current + delta));
      return integer(current + delta);
    }
    case op_code::append: {
      if (a.size() != 2)
        break;
      auto i = data_.find(a[0]);
      auto v = (i == data_.end() ? std::string() : i->second) + a[1];
      auto n = static_cast<int64_t>(v.size());
      put(a[0], std::move(v));
      return integer(n);
    }
    default:
      return ok(); // nop (no other op changes state).
  }
  return error("ERR wrong number of arguments");
}

} // namespace paxoskv
