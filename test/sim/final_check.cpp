// The simulator's final checks: liveness, replies against a reference state
// machine (the specification), read-your-writes, and linearizability.
#include "test/sim/cluster.hpp"

#include <algorithm>
#include <cassert>

#include <caf/deep_to_string.hpp>

#include "protocol/codec.hpp"
#include "protocol/kv_machine.hpp"
#include "protocol/redis/commands.hpp"
#include "test/lin/checker.hpp"

namespace paxoskv::sim {

// -- final checks ----------------------------------------------------------------

namespace {

/// A deliberately simple state machine, independent of `kv_machine`, that
/// computes what each command must have returned. It is the specification:
/// a client's command n takes effect only right after its command n - 1,
/// once; anything else changes nothing. It implements the same interface,
/// so that its durable form can be compared with a replica's.
struct reference_machine final : state_machine {
  explicit reference_machine(const kv_machine_config& c) : cfg(c) {}
  kv_machine_config cfg;
  slot_t next = 0;
  std::map<std::string, std::string> data;
  std::map<std::pair<uint64_t, uint64_t>, command_result> results;
  std::map<uint64_t, uint64_t> sessions;
  /// Per session the slot of its last applied command; expired sessions
  /// and the slot they expired at.
  std::map<uint64_t, slot_t> active;
  std::map<uint64_t, slot_t> expired;
  std::map<uint64_t, uint64_t> expired_upto;
  /// Order in which commands took effect, and for each write the position
  /// it took effect at; per key, the positions of DELs.
  uint64_t position = 0;
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> position_of;
  std::map<std::string, uint64_t> position_of_value;
  std::map<std::string, std::vector<uint64_t>> deletes;

  apply_result apply(slot_t slot, const command& c) override {
    auto key = std::make_pair(c.client_id, c.sequence);
    if (expired.count(c.client_id) > 0) {
      if (c.sequence <= expired_upto.at(c.client_id))
        return {{result_kind::error, reply_not_kept_error, 0}, true, false};
      command_result r{result_kind::error, session_expired_error, 0};
      results.emplace(key, r);
      return {r, false, false};
    }
    auto& last = sessions[c.client_id];
    if (c.sequence <= last)
      return {results.at({c.client_id, c.sequence}), true, false};
    if (c.sequence != last + 1) {
      if (last == 0)
        sessions.erase(c.client_id);
      return {{result_kind::not_applied, {}, 0}, false, true};
    }
    last = c.sequence;
    active[c.client_id] = slot;
    command_result r;
    auto& k = c.args.at(0);
    switch (c.op) {
      case op_code::get:
        r = read(c);
        break;
      case op_code::set:
        data[k] = c.args.at(1);
        position_of_value[c.args.at(1)] = position;
        break;
      case op_code::del:
        r = {result_kind::integer, {}, static_cast<int64_t>(data.erase(k))};
        deletes[k].push_back(position);
        break;
      case op_code::redis:
        r = {result_kind::raw, run_redis(c.args), 0};
        break;
      default:
        assert(!"the simulator's clients issue only get, set, del and Redis "
                "commands");
    }
    results[key] = r;
    position_of[key] = position++;
    return {r, false, false};
  }
  /// The (slot, client) smallest in `m`, the next to go.
  static std::pair<slot_t, uint64_t> oldest(const std::map<uint64_t, slot_t>& m) {
    std::pair<slot_t, uint64_t> o{UINT64_MAX, UINT64_MAX};
    for (auto& [client, at] : m)
      o = std::min(o, std::make_pair(at, client));
    return o;
  }
  /// Redis commands (on keys the native ones never use) run on a keyspace
  /// of their own at the log's clock; EXEC runs its commands in order.
  redis::keyspace ks;
  std::string run_redis(const std::vector<std::string>& a) {
    ks.set_now(clock);
    if (a.at(0) != "EXEC")
      return redis::run_command(ks, a, {});
    std::vector<std::vector<std::string>> queued;
    for (size_t i = 1; i < a.size(); i += 1 + std::stoul(a[i]))
      queued.emplace_back(a.begin() + static_cast<long>(i) + 1,
                          a.begin() + static_cast<long>(i + 1 + std::stoul(a[i])));
    std::string out = redis::array_header(queued.size());
    for (auto& q : queued)
      out += redis::run_command(ks, q, {});
    return out;
  }
  void end_slot(slot_t slot) override {
    // Every key expired by the slot's clock goes.
    ks.set_now(clock);
    ks.reclaim(SIZE_MAX);
    // Sessions idle for session_idle_slots, or the least recently active
    // beyond sessions_max, expire; tombstones likewise.
    while (!active.empty()) {
      auto [at, client] = oldest(active);
      if (active.size() <= cfg.sessions_max && at + cfg.session_idle_slots > slot)
        break;
      active.erase(client);
      expired_upto[client] = sessions.at(client);
      sessions.erase(client);
      expired[client] = slot;
    }
    while (expired.size() > cfg.tombstones_max) {
      auto client = oldest(expired).second;
      expired.erase(client);
      expired_upto.erase(client);
    }
    next = slot + 1;
  }
  command_result read(const command& c) const override {
    if (c.op == op_code::redis) {
      ks.set_now(clock);
      return {result_kind::raw, redis::run_read(ks, c.args, {}), 0};
    }
    auto i = data.find(c.args.at(0));
    if (i == data.end())
      return {result_kind::nil, {}, 0};
    return {result_kind::value, i->second, 0};
  }
  slot_t applied() const override { return next; }
  uint64_t applied_upto(uint64_t client) const override {
    auto i = sessions.find(client);
    return i == sessions.end() ? 0 : i->second;
  }
  std::optional<command_result> saved_reply(uint64_t client,
                                            uint64_t seq) const override {
    auto i = results.find({client, seq});
    if (i == results.end())
      return std::nullopt;
    return i->second;
  }
  std::optional<state_write> take_changes() override { return std::nullopt; }
  /// The log's clock: the highest stamp applied.
  uint64_t clock = 0;
  void begin_slot(slot_t, uint64_t time_ms) override {
    clock = std::max(clock, time_ms);
  }
  /// The keys and each client's last applied sequence, in kv_machine's
  /// record format (not the saved replies, which kv_machine bounds).
  void save(const std::function<void(std::string_view, std::string_view)>& f)
    const override {
    std::map<std::string, std::string> records;
    if (clock != 0) {
      std::string v;
      codec::put_u64(v, clock);
      records["c"] = v;
    }
    for (auto& [k, v] : data)
      records["k" + k] = v;
    for (auto& [k, o] : ks.objects())
      if (o.type() == redis::kind::string && o.expire_at == 0)
        records["k" + k] = *o.str();
      else
        records["o" + k] = redis::encode_object(o);
    if (!membership_record.empty())
      records["m"] = membership_record;
    for (auto& [k, v] : records)
      f(k, v);
    for (auto& [client, upto] : sessions) {
      std::string key = "s", value;
      codec::put_u64(key, client);
      codec::put_u64(value, upto);
      codec::put_u64(value, active.at(client));
      f(key, value);
    }
    for (auto& [client, at] : expired) {
      std::string key = "t", value;
      codec::put_u64(key, client);
      codec::put_u64(value, expired_upto.at(client));
      codec::put_u64(value, at);
      f(key, value);
    }
  }
  void begin_load(slot_t) override { assert(!"not loaded in the checks"); }
  bool load_record(std::string_view, std::string_view) override {
    return false;
  }
  bool end_load() override { return false; }
  size_t size() const override { return data.size(); }
  void set_membership(std::string bytes) override {
    membership_record = std::move(bytes);
  }
  const std::string& membership() const override { return membership_record; }
  std::string membership_record;

  /// True if a leader or lease read of `key` returning `r` may follow the
  /// write at position `after` (the read's own client's last write).
  bool read_sees(const std::string& key, const command_result& r,
                 uint64_t after) const {
    if (r.kind == result_kind::value) {
      auto p = position_of_value.find(r.text);
      return p != position_of_value.end() && p->second >= after;
    }
    auto d = deletes.find(key);
    if (d == deletes.end())
      return false;
    return std::any_of(d->second.begin(), d->second.end(),
                       [&](uint64_t p) { return p >= after; });
  }
};

/// Applies the chosen log below `upto`, with the membership record as a
/// replica keeps it: the history, trimmed as slots are applied, written
/// with every configuration applied.
void replay(reference_machine& ref, const std::map<slot_t, log_value>& truth,
            config_history configs, slot_t upto) {
  for (slot_t s = 0; s < upto; ++s) {
    auto& v = truth.at(s);
    ref.begin_slot(s, v.time_ms);
    for (auto& c : v.commands)
      ref.apply(s, c);
    if (v.is_config() && configs.on_chosen(s, v.config))
      ref.set_membership(encode_history(configs));
    ref.end_slot(s);
    configs.trim(s + 1);
  }
}

} // namespace

state_image cluster::reference_image(slot_t upto) const {
  reference_machine ref(opts_.sessions);
  replay(ref, truth_, bootstrap_configs(), upto);
  return save_image(ref);
}

state_image without_replies(state_image img) {
  // The keys and sessions; saved replies are bounded and not compared.
  for (auto i = img.records.begin(); i != img.records.end();)
    i = i->first[0] == 'r' ? img.records.erase(i) : std::next(i);
  return img;
}

namespace {

/// The bulk strings of a flat RESP array ("" for nil); nullopt if `raw`
/// is not one.
std::optional<std::vector<std::string>> flat_array(const std::string& raw) {
  std::vector<std::string> out;
  size_t pos = 0;
  auto line = [&](std::string& l) {
    auto e = raw.find("\r\n", pos);
    if (e == std::string::npos)
      return false;
    l = raw.substr(pos, e - pos);
    pos = e + 2;
    return true;
  };
  std::string l;
  if (!line(l) || l.empty() || l[0] != '*')
    return std::nullopt;
  auto n = std::stoul(l.substr(1));
  for (size_t i = 0; i < n; ++i) {
    if (!line(l) || l.empty() || l[0] != '$')
      return std::nullopt;
    if (l == "$-1") {
      out.emplace_back();
      continue;
    }
    auto len = std::stoul(l.substr(1));
    out.push_back(raw.substr(pos, len));
    pos += len + 2;
  }
  return out;
}

} // namespace

namespace {

/// What is wrong with the answer to a Redis command ("": nothing).
std::string redis_ack_problem(const reference_machine& ref,
                              const client_ack& a) {
  auto& args = a.cmd.args;
  bool definite = a.result.kind == result_kind::raw;
  // Both sides of the transfers, read at once (a transaction in the log,
  // or MGET at any level): what the transfers moved out of one is in the
  // other.
  bool audit = (args.size() == 3 && args[0] == "MGET")
               || (args.size() == 7 && args[0] == "EXEC" && args[2] == "GET");
  if (definite && audit) {
    auto v = flat_array(a.result.text);
    auto number = [](const std::string& s) {
      return s.empty() ? 0 : std::stoll(s);
    };
    if (!v || v->size() != 2)
      return "audit of the transfers answered " + a.result.text;
    if (number((*v)[0]) + number((*v)[1]) != 0)
      return "a " + to_string(a.level) + " read saw a transaction half "
             "applied: ta=" + (*v)[0] + " tb=" + (*v)[1];
  }
  if (is_read_only(a.cmd) && a.level != read_level::log)
    return {}; // Not in the log: no result to compare.
  if (a.result.kind == result_kind::unknown
      || a.result.kind == result_kind::error)
    return {}; // Session expired, or its reply no longer kept.
  auto r = ref.results.find({a.cmd.client_id, a.cmd.sequence});
  if (a.result.kind == result_kind::not_applied)
    return r == ref.results.end()
             ? std::string()
             : "command " + caf::deep_to_string(a.cmd)
                 + " was answered not applied but was applied";
  if (r == ref.results.end())
    return "acknowledged Redis command " + caf::deep_to_string(a.cmd)
           + " is not in the chosen log";
  if (r->second != a.result)
    return "client was told " + a.result.text + " for "
           + caf::deep_to_string(a.cmd) + "; the log produces "
           + r->second.text;
  return {};
}

} // namespace



void cluster::check_final() {
  if (violation_)
    return;
  if (!clients_done()) {
    fail("liveness: clients still waiting after the network healed");
    return;
  }
  auto prefix = chosen_prefix();
  for (auto id : front_ids()) {
    if (!is_up(id))
      continue;
    if (learner_of(id).next_slot() != prefix) {
      fail("liveness: learner " + std::to_string(id) + " applied "
           + std::to_string(learner_of(id).next_slot())
           + " slots, "
           + std::to_string(prefix) + " are chosen");
      return;
    }
  }
  reference_machine ref(opts_.sessions);
  replay(ref, truth_, bootstrap_configs(), prefix);
  auto expected = save_image(ref);
  for (auto id : front_ids())
    if (is_up(id)
        && without_replies(save_image(learner_of(id).machine())) != expected)
      fail("learner " + std::to_string(id)
           + " state differs from the reference state machine");
  std::vector<lin::operation> history;
  /// Per session and key, the position of its last write known applied.
  std::map<std::pair<uint64_t, std::string>, uint64_t> last_write;
  std::map<uint64_t, uint64_t> session_order;
  for (auto& a : acks_) {
    if (a.cmd.op == op_code::redis) {
      if (auto problem = redis_ack_problem(ref, a); !problem.empty())
        fail(problem);
      continue;
    }
    // Invocations happen before deliveries within a tick, replies during
    // them: 2t and 2t+1 keep real-time order exact.
    lin::operation op;
    op.key = a.cmd.args.at(0);
    op.invoke = 2 * a.invoked;
    op.complete = 2 * a.completed + 1;
    op.client = static_cast<uint32_t>(a.cmd.client_id);
    // Acks of a session are recorded in request order.
    op.session = a.cmd.client_id;
    op.order = session_order[a.cmd.client_id]++;
    bool expired_session = a.result.kind == result_kind::error
                           && a.result.text == session_expired_error;
    // Applied once, long ago; what it returned is no longer known.
    bool reply_gone = a.result.kind == result_kind::error
                      && a.result.text == reply_not_kept_error;
    if (a.result.kind == result_kind::unknown)
      op.result = lin::outcome::unknown;
    else if (a.result.kind == result_kind::not_applied || expired_session)
      op.result = lin::outcome::failed;
    else if (reply_gone && a.cmd.op == op_code::get)
      op.result = lin::outcome::unknown;
    if (a.cmd.op == op_code::set) {
      op.write = true;
      op.value = a.cmd.args.at(1);
    } else if (a.cmd.op == op_code::del) {
      op.write = true;
    } else if (a.result.kind == result_kind::value) {
      op.value = a.result.text;
    }
    history.push_back(std::move(op));
    auto definite = a.result.kind != result_kind::unknown
                    && a.result.kind != result_kind::not_applied;
    auto who = std::to_string(a.cmd.client_id) + "/"
               + std::to_string(a.cmd.sequence);
    if (is_read_only(a.cmd) && a.level != read_level::log) {
      // Not in the log. It must see its own connection's earlier writes,
      // which linearizability alone does not demand of pipelined requests.
      auto w = last_write.find({a.cmd.client_id, a.cmd.args.at(0)});
      if (definite && w != last_write.end()
          && !ref.read_sees(a.cmd.args.at(0), a.result, w->second))
        fail("a " + to_string(a.level) + " read of session "
             + std::to_string(a.cmd.client_id)
             + " missed that session's earlier write");
      continue;
    }
    if (!definite) {
      if (a.result.kind == result_kind::not_applied
          && ref.results.count({a.cmd.client_id, a.cmd.sequence}) > 0)
        fail("command " + who + " was answered not applied but was applied");
      continue;
    }
    auto r = ref.results.find({a.cmd.client_id, a.cmd.sequence});
    if (r == ref.results.end())
      fail("acknowledged command " + who + " is not in the chosen log");
    else if (r->second != a.result && !reply_gone)
      fail("client " + who + " was told a result the log does not produce");
    else if (a.cmd.op != op_code::get && !expired_session)
      last_write[{a.cmd.client_id, a.cmd.args.at(0)}]
        = ref.position_of.at({a.cmd.client_id, a.cmd.sequence});
  }
  if (violation_)
    return;
  auto v = lin::check(history);
  if (v.linearizable)
    return;
  fail("client history is not linearizable: " + v.explanation);
  // With --verbose, the whole history, to find the offending operations.
  if (opts_.trace)
    for (auto& a : acks_)
      trace("history " + caf::deep_to_string(a.cmd) + " level "
            + to_string(a.level) + " ticks " + std::to_string(a.invoked) + ".."
            + std::to_string(a.completed) + " -> " + to_string(a.result.kind)
            + " " + a.result.text);
}

} // namespace paxoskv::sim
