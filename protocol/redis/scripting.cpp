#include "protocol/redis/scripting.hpp"

#include <cstring>
#include <lua.hpp>

namespace paxoskv::redis {

// -- SHA-1 -------------------------------------------------------------------

std::string sha1_hex(std::string_view data) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476,
                   0xC3D2E1F0};
  std::string msg(data);
  uint64_t bits = static_cast<uint64_t>(data.size()) * 8;
  msg.push_back(static_cast<char>(0x80));
  while (msg.size() % 64 != 56)
    msg.push_back(0);
  for (int i = 7; i >= 0; --i)
    msg.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
  auto rol = [](uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
  for (size_t off = 0; off < msg.size(); off += 64) {
    uint32_t w[80];
    for (int i = 0; i < 16; ++i)
      w[i] = (uint32_t(uint8_t(msg[off + 4 * i])) << 24)
             | (uint32_t(uint8_t(msg[off + 4 * i + 1])) << 16)
             | (uint32_t(uint8_t(msg[off + 4 * i + 2])) << 8)
             | uint32_t(uint8_t(msg[off + 4 * i + 3]));
    for (int i = 16; i < 80; ++i)
      w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
      uint32_t f, k;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDC;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6;
      }
      uint32_t t = rol(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = rol(b, 30);
      b = a;
      a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (auto x : h)
    for (int i = 7; i >= 0; --i)
      out.push_back(hex[(x >> (4 * i)) & 0xf]);
  return out;
}

// -- the cache ---------------------------------------------------------------

std::string script_cache::add(const std::string& body) {
  auto sha = sha1_hex(body);
  auto i = scripts_.find(sha);
  if (i != scripts_.end()) {
    by_order_.erase(i->second.order);
    i->second.order = next_order_++;
    by_order_[i->second.order] = sha;
  } else {
    auto order = next_order_++;
    scripts_[sha] = {order, body};
    by_order_[order] = sha;
    bytes_ += body.size();
  }
  changed_[sha] = true;
  // The oldest go, never the one just added.
  while ((scripts_.size() > scripts_max || bytes_ > bytes_max)
         && by_order_.size() > 1) {
    auto old = by_order_.begin()->second;
    by_order_.erase(by_order_.begin());
    bytes_ -= scripts_.at(old).body.size();
    scripts_.erase(old);
    changed_[old] = false;
  }
  return sha;
}

const std::string* script_cache::find(const std::string& sha) const {
  auto i = scripts_.find(sha);
  return i == scripts_.end() ? nullptr : &i->second.body;
}

void script_cache::clear() {
  for (auto& [sha, e] : scripts_)
    changed_[sha] = false;
  scripts_.clear();
  by_order_.clear();
  bytes_ = 0;
}

void script_cache::load(std::string sha, uint64_t order, std::string body) {
  bytes_ += body.size();
  by_order_[order] = sha;
  next_order_ = std::max(next_order_, order + 1);
  scripts_[std::move(sha)] = {order, std::move(body)};
}

std::map<std::string, bool> script_cache::take_changes() {
  std::map<std::string, bool> out;
  out.swap(changed_);
  return out;
}

// -- running a script --------------------------------------------------------

namespace {

struct run_state {
  keyspace* ks;
  exec_env env;
  uint64_t calls = 0;
  uint64_t instructions = 0;
  uint64_t instructions_max = 0;
  size_t memory = 0;
  size_t memory_max = 0;
  uint64_t random = 0;
  /// The script line of the last failed redis.call (error messages).
  int error_line = 0;
};

run_state* state_of(lua_State* L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "paxoskv_state");
  auto* s = static_cast<run_state*>(lua_touserdata(L, -1));
  lua_pop(L, 1);
  return s;
}

void* bounded_alloc(void* ud, void* ptr, size_t old, size_t size) {
  auto* s = static_cast<run_state*>(ud);
  if (size == 0) {
    std::free(ptr);
    s->memory -= old;
    return nullptr;
  }
  if (size > old && s->memory + (size - old) > s->memory_max)
    return nullptr; // Lua raises "not enough memory".
  void* p = std::realloc(ptr, size);
  if (p != nullptr)
    s->memory = s->memory + size - old;
  return p;
}

void count_hook(lua_State* L, lua_Debug*) {
  auto* s = state_of(L);
  s->instructions += 1000;
  if (s->instructions > s->instructions_max)
    luaL_error(L, "script exceeded its instruction budget (%d million)",
               static_cast<int>(s->instructions_max / 1000000));
}

/// Pushes a RESP reply, parsed from `r` at `pos`, as Redis converts it.
void push_reply(lua_State* L, const std::string& r, size_t& pos, int depth) {
  auto end = r.find("\r\n", pos);
  if (end == std::string::npos || depth > 100) {
    lua_pushboolean(L, 0);
    pos = r.size();
    return;
  }
  char type = r[pos];
  std::string line = r.substr(pos + 1, end - pos - 1);
  pos = end + 2;
  switch (type) {
    case '+':
      lua_newtable(L);
      lua_pushstring(L, "ok");
      lua_pushlstring(L, line.data(), line.size());
      lua_settable(L, -3);
      return;
    case '-':
      lua_newtable(L);
      lua_pushstring(L, "err");
      lua_pushlstring(L, line.data(), line.size());
      lua_settable(L, -3);
      return;
    case ':':
      lua_pushnumber(L, static_cast<lua_Number>(std::stoll(line)));
      return;
    case '$': {
      if (line == "-1") {
        lua_pushboolean(L, 0);
        return;
      }
      auto n = std::stoul(line);
      lua_pushlstring(L, r.data() + pos, n);
      pos += n + 2;
      return;
    }
    case '*': {
      if (line == "-1") {
        lua_pushboolean(L, 0);
        return;
      }
      auto n = std::stoul(line);
      lua_newtable(L);
      for (size_t i = 1; i <= n; ++i) {
        push_reply(L, r, pos, depth + 1);
        lua_rawseti(L, -2, static_cast<int>(i));
      }
      return;
    }
    default:
      lua_pushboolean(L, 0);
  }
}

/// redis.call (raise = true) and redis.pcall.
int call(lua_State* L, bool raise) {
  auto* s = state_of(L);
  int argc = lua_gettop(L);
  auto fail = [&](const char* msg) -> int {
    if (raise) {
      lua_Debug ar;
      if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar))
        s->error_line = ar.currentline;
    }
    lua_newtable(L);
    lua_pushstring(L, "err");
    lua_pushstring(L, msg);
    lua_settable(L, -3);
    return raise ? lua_error(L) : 1;
  };
  if (argc == 0)
    return fail("ERR Please specify at least one argument for this redis lib "
                "call");
  args_t args;
  for (int i = 1; i <= argc; ++i) {
    if (lua_type(L, i) != LUA_TSTRING && lua_type(L, i) != LUA_TNUMBER)
      return fail("ERR Lua redis lib command arguments must be strings or "
                  "integers");
    size_t len = 0;
    const char* p = lua_tolstring(L, i, &len);
    args.emplace_back(p, len);
  }
  auto* spec = find_command(upper(args[0]));
  if (spec == nullptr)
    return fail("ERR Unknown Redis command called from script");
  if ((spec->read == nullptr && spec->write == nullptr)
      || spec->has(flag_session))
    return fail("ERR This Redis command is not allowed from script");
  exec_env env{s->env.seed ^ (++s->calls * 0x9e3779b97f4a7c15ull)};
  auto reply = run_command(*s->ks, args, env);
  if (raise && !reply.empty() && reply[0] == '-') {
    // The command's error, raised as Redis does: a table with `err`.
    lua_Debug ar;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar))
      s->error_line = ar.currentline;
    lua_newtable(L);
    lua_pushstring(L, "err");
    lua_pushlstring(L, reply.data() + 1, reply.size() - 3);
    lua_settable(L, -3);
    return lua_error(L);
  }
  size_t pos = 0;
  push_reply(L, reply, pos, 0);
  return 1;
}

int redis_call(lua_State* L) {
  return call(L, true);
}
int redis_pcall(lua_State* L) {
  return call(L, false);
}

int single_field(lua_State* L, const char* field) {
  if (lua_gettop(L) != 1 || lua_type(L, 1) != LUA_TSTRING)
    return luaL_error(L, "wrong number or type of arguments");
  lua_newtable(L);
  lua_pushstring(L, field);
  lua_pushvalue(L, 1);
  lua_settable(L, -3);
  return 1;
}

int redis_error_reply(lua_State* L) {
  return single_field(L, "err");
}
int redis_status_reply(lua_State* L) {
  return single_field(L, "ok");
}

int redis_sha1hex(lua_State* L) {
  size_t len = 0;
  const char* p = luaL_checklstring(L, 1, &len);
  auto hex = sha1_hex(std::string_view(p, len));
  lua_pushlstring(L, hex.data(), hex.size());
  return 1;
}

int redis_nothing(lua_State*) {
  return 0;
}

/// math.random, from the command's seed (Redis also makes it repeatable).
int math_random(lua_State* L) {
  auto* s = state_of(L);
  det_random rnd{s->random};
  s->random = rnd.next();
  double r = static_cast<double>(s->random >> 11) / 9007199254740992.0;
  switch (lua_gettop(L)) {
    case 0:
      lua_pushnumber(L, r);
      return 1;
    case 1: {
      auto u = luaL_checkint(L, 1);
      luaL_argcheck(L, 1 <= u, 1, "interval is empty");
      lua_pushnumber(L, static_cast<lua_Number>(static_cast<int>(r * u) + 1));
      return 1;
    }
    default: {
      auto l = luaL_checkint(L, 1), u = luaL_checkint(L, 2);
      luaL_argcheck(L, l <= u, 2, "interval is empty");
      lua_pushnumber(L, static_cast<lua_Number>(
                          static_cast<int>(r * (u - l + 1)) + l));
      return 1;
    }
  }
}

int math_randomseed(lua_State* L) {
  state_of(L)->random = static_cast<uint64_t>(luaL_checknumber(L, 1));
  return 0;
}

void open_library(lua_State* L, const char* name, lua_CFunction f) {
  lua_pushcfunction(L, f);
  lua_pushstring(L, name);
  lua_call(L, 1, 0);
}

/// The script's return value as RESP, with Redis's conversions.
std::string to_reply(lua_State* L, int index, int depth) {
  if (depth > 100)
    return err("ERR reached lua stack limit");
  switch (lua_type(L, index)) {
    case LUA_TNUMBER:
      return integer(static_cast<int64_t>(lua_tonumber(L, index)));
    case LUA_TSTRING: {
      size_t len = 0;
      const char* p = lua_tolstring(L, index, &len);
      return bulk(std::string_view(p, len));
    }
    case LUA_TBOOLEAN:
      return lua_toboolean(L, index) ? integer(1) : nil();
    case LUA_TTABLE: {
      int t = index < 0 ? lua_gettop(L) + index + 1 : index;
      lua_getfield(L, t, "err");
      if (lua_type(L, -1) == LUA_TSTRING) {
        std::string e = lua_tostring(L, -1);
        lua_pop(L, 1);
        return err(e);
      }
      lua_pop(L, 1);
      lua_getfield(L, t, "ok");
      if (lua_type(L, -1) == LUA_TSTRING) {
        std::string o = lua_tostring(L, -1);
        lua_pop(L, 1);
        return simple(o);
      }
      lua_pop(L, 1);
      std::string items;
      size_t n = 0;
      for (int i = 1;; ++i) {
        lua_rawgeti(L, t, i);
        if (lua_isnil(L, -1)) {
          lua_pop(L, 1);
          break;
        }
        items += to_reply(L, -1, depth + 1);
        lua_pop(L, 1);
        ++n;
      }
      return array_header(n) + items;
    }
    default:
      return nil();
  }
}

} // namespace

std::string compile_error(const std::string& body) {
  run_state s;
  s.memory_max = script_limits{}.memory_bytes_max;
  lua_State* L = lua_newstate(bounded_alloc, &s);
  if (L == nullptr)
    return err("ERR cannot start the script interpreter");
  std::string out;
  try {
    if (luaL_loadbuffer(L, body.data(), body.size(), "@user_script") != 0)
      out = err(std::string("ERR Error compiling script (new function): ")
                + (lua_tostring(L, -1) ? lua_tostring(L, -1) : "?"));
  } catch (...) {
    out = err("ERR Error compiling script (out of memory)");
  }
  lua_close(L);
  return out;
}

std::string run_script(keyspace& ks, const std::string& body,
                       const std::string& sha, const args_t& keys,
                       const args_t& argv, const exec_env& env,
                       const script_limits& limits) {
  run_state s;
  s.ks = &ks;
  s.env = env;
  s.instructions_max = limits.instructions_max;
  s.memory_max = limits.memory_bytes_max;
  s.random = env.seed;
  lua_State* L = lua_newstate(bounded_alloc, &s);
  if (L == nullptr)
    return err("ERR cannot start the script interpreter");
  struct closer {
    lua_State* L;
    ~closer() { lua_close(L); }
  } close_it{L};
  std::string out;
  try {
    lua_pushlightuserdata(L, &s);
    lua_setfield(L, LUA_REGISTRYINDEX, "paxoskv_state");
    open_library(L, "", luaopen_base);
    open_library(L, LUA_TABLIBNAME, luaopen_table);
    open_library(L, LUA_STRLIBNAME, luaopen_string);
    open_library(L, LUA_MATHLIBNAME, luaopen_math);
    // What could read files or the outside, or leak between runs.
    for (auto name : {"dofile", "loadfile", "print", "collectgarbage",
                      "getfenv", "setfenv", "newproxy", "gcinfo", "module",
                      "require"}) {
      lua_pushnil(L);
      lua_setglobal(L, name);
    }
    lua_getglobal(L, "math");
    lua_pushcfunction(L, math_random);
    lua_setfield(L, -2, "random");
    lua_pushcfunction(L, math_randomseed);
    lua_setfield(L, -2, "randomseed");
    lua_pop(L, 1);
    lua_newtable(L);
    const std::pair<const char*, lua_CFunction> fns[] = {
      {"call", redis_call},
      {"pcall", redis_pcall},
      {"error_reply", redis_error_reply},
      {"status_reply", redis_status_reply},
      {"sha1hex", redis_sha1hex},
      {"log", redis_nothing},
      {"set_repl", redis_nothing},
      {"replicate_commands", redis_nothing},
      {"breakpoint", redis_nothing},
      {"debug", redis_nothing}};
    for (auto& [name, f] : fns) {
      lua_pushcfunction(L, f);
      lua_setfield(L, -2, name);
    }
    int level = 0;
    for (auto name : {"LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING"}) {
      lua_pushnumber(L, level++);
      lua_setfield(L, -2, name);
    }
    lua_setglobal(L, "redis");
    // Undefined globals are errors, as in Redis (a typo is not nil).
    static const char* protect =
      "setmetatable(_G, {__index = function(_, k) error(\"Script attempted "
      "to access nonexistent global variable '\" .. tostring(k) .. \"'\", "
      "2) end})";
    if (luaL_loadbuffer(L, protect, std::strlen(protect), "=protect") != 0
        || lua_pcall(L, 0, 0, 0) != 0)
      return err("ERR cannot start the script interpreter");
    auto push_list = [&](const args_t& items, const char* name) {
      lua_newtable(L);
      for (size_t i = 0; i < items.size(); ++i) {
        lua_pushlstring(L, items[i].data(), items[i].size());
        lua_rawseti(L, -2, static_cast<int>(i + 1));
      }
      lua_setglobal(L, name);
    };
    push_list(keys, "KEYS");
    push_list(argv, "ARGV");
    std::string chunk = "@user_script";
    if (luaL_loadbuffer(L, body.data(), body.size(), chunk.c_str()) != 0) {
      std::string why = lua_tostring(L, -1) ? lua_tostring(L, -1) : "?";
      return err("ERR Error compiling script (new function): " + why);
    }
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 1000);
    if (lua_pcall(L, 0, 1, 0) != 0) {
      if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "err");
        if (lua_type(L, -1) == LUA_TSTRING) {
          std::string e = lua_tostring(L, -1);
          return err(e + " script: " + sha + ", on @user_script:"
                     + std::to_string(s.error_line) + ".");
        }
        lua_pop(L, 1);
      }
      std::string why = lua_tostring(L, -1) ? lua_tostring(L, -1)
                                            : "error object is not a string";
      // "user_script:<line>: ..." names the line, as Redis reports it.
      std::string line = "?";
      if (why.rfind("user_script:", 0) == 0)
        line = why.substr(12, why.find(':', 12) - 12);
      return err("ERR " + why + " script: " + sha + ", on @user_script:"
                 + line + ".");
    }
    lua_sethook(L, nullptr, 0, 0);
    out = to_reply(L, -1, 0);
  } catch (...) {
    out = err("ERR script failed (out of memory?) script: " + sha);
  }
  return out;
}

} // namespace paxoskv::redis
