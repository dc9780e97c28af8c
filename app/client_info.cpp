// INFO and ROLE: the node's status from its roles (through the gateway)
// with the connection counters, in Redis's sections.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "app/client_session.hpp"
#include "protocol/redis/commands.hpp"

namespace paxoskv {

namespace {

using redis::lower;

/// Bytes of resident memory of this process (INFO memory).
uint64_t resident_bytes() {
  std::ifstream in("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  in >> size >> resident;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

std::string human_bytes(uint64_t n) {
  char buf[32];
  if (n >= (uint64_t{1} << 30))
    std::snprintf(buf, sizeof(buf), "%.2fG", n / double(uint64_t{1} << 30));
  else if (n >= (uint64_t{1} << 20))
    std::snprintf(buf, sizeof(buf), "%.2fM", n / double(uint64_t{1} << 20));
  else if (n >= 1024)
    std::snprintf(buf, sizeof(buf), "%.2fK", n / 1024.0);
  else
    std::snprintf(buf, sizeof(buf), "%lluB",
                  static_cast<unsigned long long>(n));
  return buf;
}

/// "k:v" lines into a map.
std::map<std::string, std::string> fields_of(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    auto colon = line.find(':');
    if (colon != std::string::npos && line[0] != '#')
      out[line.substr(0, colon)] = line.substr(colon + 1);
  }
  return out;
}

std::string field_or(const std::map<std::string, std::string>& f,
                     const std::string& k, const std::string& dflt) {
  auto i = f.find(k);
  return i == f.end() ? dflt : i->second;
}

} // namespace

void session::info(std::vector<std::string> sections) {
  for (auto& x : sections)
    x = lower(x);
  with_status([sections](session& self, const std::string& paxos) {
    auto* s = &self;
    auto& srv = s->srv_;
    auto f = fields_of(paxos);
    auto want = [&](const char* name, bool in_default) {
      if (sections.empty())
        return in_default;
      for (auto& x : sections)
        if (x == name || x == "all" || x == "everything"
            || (x == "default" && in_default))
          return true;
      return false;
    };
    auto up = std::chrono::duration_cast<std::chrono::seconds>(
                std::chrono::steady_clock::now() - srv.started)
                .count();
    std::string text;
    auto section = [&](const char* title, std::string body) {
      if (!text.empty())
        text += "\r\n";
      text += std::string("# ") + title + "\r\n" + body;
    };
    if (want("server", true))
      section("Server",
              "redis_version:7.0.0\r\nredis_mode:standalone\r\n"
              "paxoskv:1\r\nos:Linux\r\narch_bits:64\r\n"
              "process_id:" + std::to_string(::getpid())
                + "\r\ntcp_port:" + std::to_string(srv.cfg.port)
                + "\r\nuptime_in_seconds:" + std::to_string(up)
                + "\r\nuptime_in_days:"
                + std::to_string(up / 86400) + "\r\n");
    if (want("clients", true))
      section("Clients",
              "connected_clients:"
                + std::to_string(*srv.connections)
                + "\r\nmaxclients:"
                + std::to_string(srv.cfg.connections_max)
                + "\r\nblocked_clients:0\r\n"
                  "tracking_clients:0\r\n");
    if (want("memory", true)) {
      auto rss = resident_bytes();
      section("Memory",
              "used_memory:" + std::to_string(rss)
                + "\r\nused_memory_human:" + human_bytes(rss)
                + "\r\nused_memory_rss:" + std::to_string(rss)
                + "\r\nused_memory_rss_human:" + human_bytes(rss)
                + "\r\nmaxmemory:0\r\nmaxmemory_human:0B\r\n"
                  "maxmemory_policy:noeviction\r\n");
    }
    if (want("persistence", true))
      section("Persistence",
              "loading:0\r\naof_enabled:1\r\n"
              "rdb_changes_since_last_save:0\r\n");
    if (want("stats", true))
      section("Stats",
              "total_connections_received:"
                + std::to_string(srv.connections_received)
                + "\r\ntotal_commands_processed:"
                + std::to_string(srv.commands_processed)
                + "\r\ninstantaneous_ops_per_sec:"
                + std::to_string(srv.ops_per_sec())
                + "\r\nrejected_connections:"
                + std::to_string(srv.connections_rejected)
                + "\r\nexpired_keys:0\r\nevicted_keys:0\r\n");
    if (want("replication", true)) {
      bool leader = field_or(f, "paxos_role", "") == "leader";
      auto applied = field_or(f, "applied_index", "0");
      std::string body = std::string("role:")
                         + (leader ? "master" : "slave") + "\r\n";
      if (leader) {
        // Each follower's acceptor: how far it reported
        // the log chosen, and how long it has been silent.
        std::string lines;
        size_t n = 0;
        auto first = field_or(f, "first_unchosen", "0");
        for (auto& [k, v] : f) {
          if (k.rfind("acceptor_", 0) != 0
              || k == "acceptor_" + std::to_string(srv.cfg.node))
            continue;
          auto fu = v.substr(v.find('=') + 1);
          fu = fu.substr(0, fu.find(','));
          auto silent = v.substr(v.rfind('=') + 1);
          auto lag_slots = std::stoll(first) - std::stoll(fu);
          lines += "slave" + std::to_string(n++) + ":ip=node"
                   + k.substr(9) + ",port=0,state="
                   + (std::stoull(silent) < 100 ? "online"
                                                : "down")
                   + ",offset=" + fu + ",lag="
                   + std::to_string(std::max<int64_t>(0, lag_slots))
                   + "\r\n";
        }
        body += "connected_slaves:" + std::to_string(n) + "\r\n"
                + lines + "master_repl_offset:" + first + "\r\n";
      } else {
        body += "master_host:node" + field_or(f, "leader", "0")
                + "\r\nmaster_port:0\r\nmaster_link_status:"
                + (field_or(f, "leader", "0") != "0" ? "up"
                                                     : "down")
                + "\r\nslave_repl_offset:" + applied
                + "\r\nslave_read_only:1\r\n"
                  "connected_slaves:0\r\n"
                  "master_repl_offset:"
                + applied + "\r\n";
      }
      section("Replication", body);
    }
    if (want("cpu", true)) {
      auto ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
      std::ifstream stat("/proc/self/stat");
      std::string skip;
      double utime = 0, stime = 0;
      for (int i = 0; i < 13 && stat >> skip; ++i) {
      }
      stat >> utime >> stime;
      char buf[128];
      std::snprintf(buf, sizeof(buf),
                    "used_cpu_sys:%.6f\r\nused_cpu_user:%.6f\r\n",
                    stime / ticks, utime / ticks);
      section("CPU", buf);
    }
    if (want("keyspace", true)) {
      auto keys = field_or(f, "keys", "0");
      section("Keyspace",
              keys == "0" ? std::string()
                          : "db0:keys=" + keys + ",expires="
                              + field_or(f, "expires", "0")
                              + ",avg_ttl=0\r\n");
    }
    if (want("paxos", true))
      section("Paxos", paxos);
    return redis::bulk(text);
  });
}

void session::role() {
  with_status([](session& self, const std::string& paxos) {
    auto f = fields_of(paxos);
    auto own = "acceptor_" + std::to_string(self.srv_.cfg.node);
    auto applied = std::stoll(field_or(f, "applied_index", "0"));
    std::string out;
    if (field_or(f, "paxos_role", "") == "leader") {
      std::vector<std::pair<std::string, std::string>> rows;
      for (auto& [k, v] : f)
        if (k.rfind("acceptor_", 0) == 0 && k != own) {
          auto fu = v.substr(v.find('=') + 1);
          rows.emplace_back("node" + k.substr(9),
                            fu.substr(0, fu.find(',')));
        }
      out = redis::array_header(3) + redis::bulk("master")
            + redis::integer(applied)
            + redis::array_header(rows.size());
      for (auto& [node, offset] : rows)
        out += redis::array_header(3) + redis::bulk(node)
               + redis::bulk("0") + redis::bulk(offset);
    } else {
      auto leader = field_or(f, "leader", "0");
      out = redis::array_header(5) + redis::bulk("slave")
            + redis::bulk("node" + leader) + redis::integer(0)
            + redis::bulk(leader != "0" ? "connected"
                                        : "connect")
            + redis::integer(applied);
    }
    return out;
  });
}

void session::with_status(
  std::function<std::string(session&, const std::string& paxos)> reply) {
  auto id = push_slot();
  std::weak_ptr<session> weak = shared_from_this();
  auto io = io_;
  caf::anon_send(srv_.gateway,
                 info_msg{read_level_, [weak, io, id, reply = std::move(reply)](
                                         std::string paxos) {
                            asio::post(*io, [weak, id, reply,
                                             paxos = std::move(paxos)] {
                              if (auto s = weak.lock())
                                s->complete(id, reply(*s, paxos));
                            });
                          }});
}

} // namespace paxoskv
