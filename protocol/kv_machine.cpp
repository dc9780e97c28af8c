#include "protocol/kv_machine.hpp"

#include <algorithm>
#include <cassert>
#include <climits>
#include <cstdint>

#include "protocol/codec.hpp"
#include "protocol/kv_records.hpp"
#include "protocol/redis/commands.hpp"

namespace paxoskv {

using namespace kv_records;

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
  if (s.last_slot != slot || by_activity_.count({slot, client}) == 0) {
    by_activity_.erase({s.last_slot, client});
    s.last_slot = slot;
    by_activity_.insert({slot, client});
  }
  note(session_record(client), session_value(s.applied_upto, slot));
}

void kv_machine::expire_session(uint64_t client, slot_t slot) {
  auto i = sessions_.find(client);
  if (i == sessions_.end())
    return;
  for (auto& [seq, r] : i->second.replies)
    note(reply_record(client, seq), std::nullopt);
  note(session_record(client), std::nullopt);
  if (!i->second.watched.empty()) {
    for (auto& [k, live] : i->second.watched)
      if (auto w = watchers_.find(k); w != watchers_.end()) {
        w->second.erase(client);
        if (w->second.empty())
          watchers_.erase(w);
      }
    note(watch_record(client), std::nullopt);
  }
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

void kv_machine::flush_keys() {
  for (auto& [sha, present] : scripts_.take_changes()) {
    std::string record(1, script_prefix);
    record += sha;
    if (!present) {
      note(record, std::nullopt);
      continue;
    }
    auto& e = scripts_.scripts().at(sha);
    std::string v;
    codec::put_u64(v, e.order);
    v += e.body;
    note(record, std::move(v));
  }
  for (auto& key : ks_.take_dirty()) {
    auto i = ks_.objects().find(key);
    if (i == ks_.objects().end()) {
      if (object_records_.erase(key) > 0)
        note(object_record(key), std::nullopt);
      else
        note(data_record(key), std::nullopt);
    } else if (i->second.type() == redis::kind::string
               && i->second.expire_at == 0) {
      if (object_records_.erase(key) > 0)
        note(object_record(key), std::nullopt);
      note(data_record(key), *i->second.str());
    } else {
      if (object_records_.insert(key).second)
        note(data_record(key), std::nullopt);
      note(object_record(key), redis::encode_object(i->second));
    }
  }
}

std::map<std::string, std::string> kv_machine::data() const {
  std::map<std::string, std::string> out;
  for (auto& [k, o] : ks_.objects())
    if (ks_.find(k) != nullptr && o.type() == redis::kind::string)
      out.emplace(k, *o.str());
  return out;
}

void kv_machine::begin_slot(slot_t slot, uint64_t time_ms) {
  assert(slot == applied_);
  (void)slot;
  slot_commands_ = 0;
  if (time_ms > clock_) {
    clock_ = time_ms;
    note(clock_record, u64_value(clock_));
  }
}

void kv_machine::observe_clock(uint64_t unix_ms) {
  observed_clock_ = unix_ms;
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
  ++slot_commands_;
  auto result = execute(slot, c);
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
  bind_keyspace();
  ks_.set_now(clock_);
  ks_.reclaim(std::max(cfg_.reclaim_per_slot, 2 * slot_commands_));
  slot_commands_ = 0;
  expire(slot);
  flush_keys();
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
  flush_keys();
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
  // In key order: 'c' < 'k' < 'm' < 'o' < 'r' < 's' < 't' < 'w'; keys are
  // held in hash order, so each kind is sorted first.
  if (clock_ != 0)
    f(clock_record, u64_value(clock_));
  using entry = std::pair<const std::string, redis::object>;
  std::vector<const entry*> plain, rich;
  for (auto& e : ks_.objects())
    (e.second.type() == redis::kind::string && e.second.expire_at == 0
       ? plain
       : rich)
      .push_back(&e);
  auto by_key = [](const entry* a, const entry* b) { return a->first < b->first; };
  std::sort(plain.begin(), plain.end(), by_key);
  std::sort(rich.begin(), rich.end(), by_key);
  for (auto* e : plain)
    f(data_record(e->first), *e->second.str());
  if (!membership_.empty())
    f(membership_record, membership_);
  for (auto* e : rich)
    f(object_record(e->first), redis::encode_object(e->second));
  for (auto& [client, s] : sessions_)
    for (auto& [seq, r] : s.replies)
      f(reply_record(client, seq), encode_result(r));
  for (auto& [client, s] : sessions_)
    f(session_record(client), session_value(s.applied_upto, s.last_slot));
  for (auto& [client, t] : tombstones_)
    f(tombstone_record(client), session_value(t.applied_upto, t.at));
  for (auto& [client, s] : sessions_)
    if (!s.watched.empty())
      f(watch_record(client), watch_value(s));
  for (auto& [sha, e] : scripts_.scripts()) {
    std::string v;
    codec::put_u64(v, e.order);
    v += e.body;
    f(std::string(1, script_prefix) + sha, v);
  }
}

void kv_machine::begin_load(slot_t applied) {
  applied_ = applied;
  ks_ = redis::keyspace{};
  object_records_.clear();
  clock_ = 0;
  slot_commands_ = 0;
  watchers_.clear();
  scripts_ = redis::script_cache{};
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
    case clock_prefix: {
      codec::reader v(value);
      clock_ = v.uint(8);
      return rest.empty() && v.ok() && v.at_end();
    }
    case data_prefix: {
      redis::object o;
      o.value = std::string(value);
      ks_.load(std::string(rest), std::move(o));
      return true;
    }
    case object_prefix: {
      auto o = redis::decode_object(value);
      if (!o || (o->type() == redis::kind::string && o->expire_at == 0))
        return false;
      object_records_.insert(std::string(rest));
      ks_.load(std::string(rest), std::move(*o));
      return true;
    }
    case script_prefix: {
      codec::reader v(value);
      auto order = v.uint(8);
      if (!v.ok() || rest.size() != 40 || order == 0)
        return false;
      auto body = std::string(value.substr(8));
      if (redis::sha1_hex(body) != rest)
        return false;
      scripts_.load(std::string(rest), order, std::move(body));
      return true;
    }
    case watch_prefix: {
      codec::reader k(rest), v(value);
      auto client = k.uint(8);
      auto dirty = v.uint(1);
      auto n = v.uint(4);
      // Every watched key takes at least 5 bytes.
      if (!k.ok() || !k.at_end() || !v.ok() || dirty > 1 || n == 0
          || n > v.remaining() / 5)
        return false;
      auto& s = sessions_[client];
      s.watch_dirty = dirty == 1;
      for (uint64_t i = 0; i < n && v.ok(); ++i) {
        auto wk = v.bytes();
        auto live = v.uint(1);
        if (live > 1)
          return false;
        s.watched[wk] = live == 1;
        watchers_[wk].insert(client);
      }
      return v.ok() && v.at_end();
    }
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
  ks_.set_now(clock_);
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
  if (kind > static_cast<uint8_t>(result_kind::raw))
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
  // Outside the log: expiry at the later of the log's clock and this
  // node's (a key the leader would find expired is not served).
  ks_.set_now(std::max(clock_, observed_clock_));
  if (c.op == op_code::redis) {
    redis::exec_env env{observed_clock_ ^ c.client_id ^ (c.sequence << 20)};
    auto reply = redis::run_read(ks_, c.args, env);
    ks_.set_now(clock_);
    return {result_kind::raw, std::move(reply), 0};
  }
  auto r = read_native(c);
  ks_.set_now(clock_);
  return r;
}

command_result kv_machine::execute(slot_t slot, const command& c) {
  bind_keyspace();
  ks_.set_now(clock_);
  if (c.op == op_code::redis)
    return execute_redis(slot, c);
  return execute_native(c);
}

command_result kv_machine::execute_native(const command& c) {
  // Arity is checked by the client service; a command that reaches the log
  // with another one still gets a deterministic answer on every replica.
  auto& a = c.args;
  auto string_at = [this](const std::string& key, bool& wrong) {
    return redis::find_as<std::string>(ks_, key, wrong);
  };
  auto put = [this](const std::string& key, std::string value) {
    redis::object o;
    o.value = std::move(value);
    ks_.put(key, std::move(o));
  };
  // Changes a string in place (its expiry stays), or creates it.
  auto update = [this, &put](const std::string& key, std::string value) {
    if (auto* o = ks_.find_mut(key)) {
      *o->str() = std::move(value);
      ks_.modified(key);
    } else {
      put(key, std::move(value));
    }
  };
  bool wrong = false;
  if (is_read_only(c.op))
    return read_native(c);
  switch (c.op) {
    case op_code::nop:
      return ok();
    case op_code::set:
    case op_code::set_nx:
    case op_code::set_xx: {
      if (a.size() != 2)
        break;
      bool exists = ks_.find(a[0]) != nullptr;
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
        n += ks_.erase(k) ? 1 : 0;
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
      if (!redis::parse_int(a[1], delta))
        return error(redis::not_integer);
      auto* v = string_at(a[0], wrong);
      if (wrong)
        return error(redis::wrongtype);
      if (v != nullptr && !redis::parse_int(*v, current))
        return error(redis::not_integer);
      if ((delta > 0 && current > INT64_MAX - delta)
          || (delta < 0 && current < INT64_MIN - delta))
        return error(redis::overflow);
      update(a[0], std::to_string(current + delta));
      return integer(current + delta);
    }
    case op_code::append: {
      if (a.size() != 2)
        break;
      auto* v = string_at(a[0], wrong);
      if (wrong)
        return error(redis::wrongtype);
      auto joined = (v == nullptr ? std::string() : *v) + a[1];
      auto n = static_cast<int64_t>(joined.size());
      update(a[0], std::move(joined));
      return integer(n);
    }
    default:
      return error("ERR not a native command");
  }
  return error("ERR wrong number of arguments");
}

command_result kv_machine::read_native(const command& c) const {
  auto& a = c.args;
  auto string_at = [this](const std::string& key, bool& wrong) {
    return redis::find_as<std::string>(ks_, key, wrong);
  };
  bool wrong = false;
  switch (c.op) {
    case op_code::get: {
      if (a.size() != 1)
        break;
      auto* v = string_at(a[0], wrong);
      if (wrong)
        return error(redis::wrongtype);
      if (v == nullptr)
        return {result_kind::nil, {}, 0};
      return {result_kind::value, *v, 0};
    }
    case op_code::exists: {
      if (a.empty())
        break;
      int64_t n = 0;
      for (auto& k : a)
        n += ks_.find(k) != nullptr ? 1 : 0;
      return integer(n);
    }
    case op_code::mget: {
      if (a.empty())
        break;
      command_result r{result_kind::array, {}, 0};
      for (auto& k : a) {
        auto* v = string_at(k, wrong);
        r.items.push_back(v == nullptr ? std::string{} : *v);
        r.present.push_back(v == nullptr ? 0 : 1);
      }
      return r;
    }
    case op_code::strlen: {
      if (a.size() != 1)
        break;
      auto* v = string_at(a[0], wrong);
      if (wrong)
        return error(redis::wrongtype);
      return integer(v == nullptr ? 0 : static_cast<int64_t>(v->size()));
    }
    case op_code::dbsize:
      return integer(static_cast<int64_t>(ks_.live_count()));
    default:
      return error("ERR not a read-only command");
  }
  return error("ERR wrong number of arguments");
}

} // namespace paxoskv
