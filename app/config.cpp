#include "app/config.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace paxoskv {

node_config::node_config() {
  opt_group{custom_options_, "global"}
    .add(cluster_id, "cluster-id", "name of the cluster (required)")
    .add(node, "node-id", "this node's id, > 0 (required)")
    .add(roles, "roles",
         "roles this process hosts, comma-separated subset of "
         "proposer,acceptor,learner,elector (default: all four)")
    .add(data_dir, "data-dir",
         "data directory (required when hosting an acceptor or a proposer)")
    .add(peers, "peers",
         "every process of the cluster: ID@HOST:PORT,ID@HOST:PORT,... "
         "(this node's entry is where it listens)")
    .add(acceptors, "acceptors", "ids of the acceptor nodes (default: all)")
    .add(proposers, "proposers", "ids of the proposer nodes (default: all)")
    .add(learners, "learners", "ids of the learner nodes (default: all)")
    .add(electors, "electors",
         "ids of the elector nodes (default: the proposers)")
    .add(listen_host, "listen-host",
         "address to listen on (default: the host of this node's peer entry)")
    .add(heartbeat_ms, "heartbeat-ms", "heartbeat interval T in ms (100)")
    .add(election_timeout_ms, "election-timeout-ms",
         "election timeout in ms (default 2T)")
    .add(client_timeout_ms, "client-timeout-ms",
         "how long a client waits for its command before hearing "
         "'outcome unknown' (5000)")
    .add(client_port, "client-port",
         "port of the Redis-protocol client service (0: none)")
    .add(client_value_max_bytes, "client-value-max-bytes",
         "largest value a client may write (1048576)")
    .add(client_connections_max, "client-connections-max",
         "open client connections at most (10000)")
    .add(client_idle_timeout_s, "client-idle-timeout-s",
         "close client connections idle this long (0: never)")
    .add(read_level, "read-level",
         "how reads are served unless a connection says otherwise "
         "(READLEVEL): log, leader or lease (leader)")
    .add(lease_ms, "lease-ms",
         "read lease a leader holds, in ms; acceptors refuse other leaders "
         "that long, so a failover may wait for it; 0: no leases, lease "
         "reads are served as leader reads (default: the election timeout, at "
         "least 2 x heartbeat-ms)")
    .add(lease_margin_ms, "lease-margin-ms",
         "taken off the lease for clock drift (default: lease-ms / 10)")
    .add(requirepass, "requirepass",
         "password clients must AUTH with (empty: none)")
    .add(map_size_mb, "map-size-mb",
         "largest size of the data file in MiB (4096)")
    .add(log_tail_slots, "log-tail-slots",
         "chosen slots each acceptor keeps below what a majority of learners "
         "hold on disk, for learners that lag a little (10000); the log "
         "before them is compacted away")
    .add(log_tail_mb, "log-tail-mb",
         "largest size of that tail in MiB; at most a quarter of map-size-mb "
         "(default: 64, or a quarter of map-size-mb if that is less)")
    .add(snapshot_rate_mb, "snapshot-rate-mb",
         "pace of a snapshot transfer to a learner that lags past the "
         "compacted log, in MiB/s (32)")
    .add(log_level, "log-level", "error, warning, info or debug (info)")
    .add(peer_timeout_ms, "peer-timeout-ms",
         "a peer connection on which nothing arrived for this long is "
         "dropped and dialled again, so a peer whose packets vanish "
         "(blackholed) is noticed and nothing queues for it meanwhile; "
         "keepalives go every heartbeat-ms (default: 10 x heartbeat-ms, at "
         "least 1000)")
    .add(worker_threads, "worker-threads",
         "threads running the role actors (1); fsyncs, the network and "
         "the client service have threads of their own")
    .add(bootstrap, "bootstrap",
         "create a new cluster if the data directory is empty: the role "
         "lists and peers are its first membership (ignored once the "
         "directory holds data)")
    .add(join, "join",
         "this node is not a member yet: if the data directory is empty, "
         "ask the peers listed for the cluster's membership and wait to be "
         "added with paxoskv-cli member add (ignored once the directory "
         "holds data)")
    .add(join_timeout_s, "join-timeout-s",
         "how long --join looks for a member that answers (60)")
    .add(alpha, "alpha",
         "membership window: a configuration chosen at slot i governs from "
         "slot i + alpha; fixed at --bootstrap (64, at least 16)");
}

bool node_config::check_config_file(std::string& error) const {
  if (config_file_path.empty())
    return true;
  std::ifstream in(config_file_path);
  if (!in)
    return true; // No file: CAF's default name is optional.
  std::string line, section = "global";
  for (size_t number = 1; std::getline(in, line); ++number) {
    auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == ';' || line[first] == '#')
      continue;
    line = line.substr(first);
    if (line[0] == '[') {
      auto end = line.find(']');
      section = line.substr(1, end == std::string::npos ? end : end - 1);
      continue;
    }
    auto eq = line.find('=');
    auto key = line.substr(0, eq);
    key.erase(key.find_last_not_of(" \t") + 1);
    if (custom_options_.qualified_name_lookup(section, key) == nullptr) {
      error = config_file_path + " line " + std::to_string(number)
              + ": unknown key '" + key + "' in section [" + section
              + "] (see paxoskv-node --help for the keys of [global])";
      return false;
    }
  }
  return true;
}

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) {
    cur.erase(0, cur.find_first_not_of(" \t"));
    cur.erase(cur.find_last_not_of(" \t") + 1);
    if (!cur.empty())
      out.push_back(cur);
  }
  return out;
}

bool parse_u32(const std::string& s, uint32_t& out) {
  if (s.empty() || s.size() > 9
      || !std::all_of(s.begin(), s.end(), ::isdigit))
    return false;
  out = static_cast<uint32_t>(std::stoul(s));
  return true;
}

/// Parses a list of node ids; empty means `fallback`.
bool parse_ids(const char* field, const std::string& s,
               const std::vector<node_id>& fallback,
               const std::set<node_id>& known, std::vector<node_id>& out,
               std::string& error) {
  if (s.empty()) {
    out = fallback;
    return true;
  }
  for (auto& item : split(s, ',')) {
    uint32_t id = 0;
    if (!parse_u32(item, id) || id == 0) {
      error = std::string(field) + ": '" + item + "' is not a node id";
      return false;
    }
    if (known.count(id) == 0) {
      error = std::string(field) + ": node " + item + " is not in peers";
      return false;
    }
    out.push_back(id);
  }
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end()) {
    error = std::string(field) + ": a node is listed twice";
    return false;
  }
  return true;
}

} // namespace

std::optional<std::pair<std::string, uint16_t>>
parse_host_port(const std::string& s) {
  auto colon = s.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || colon == 0
      || !parse_u32(s.substr(colon + 1), port) || port == 0 || port > 65535)
    return std::nullopt;
  return std::make_pair(s.substr(0, colon), static_cast<uint16_t>(port));
}

std::optional<std::vector<peer_address>> parse_peers(const std::string& s,
                                                     std::string& error) {
  std::vector<peer_address> out;
  std::set<node_id> ids;
  for (auto& item : split(s, ',')) {
    auto at = item.find('@');
    uint32_t id = 0;
    auto hp = at == std::string::npos ? std::nullopt
                                      : parse_host_port(item.substr(at + 1));
    if (at == std::string::npos || !parse_u32(item.substr(0, at), id)
        || id == 0 || !hp) {
      error = "peers: '" + item + "' is not ID@HOST:PORT";
      return std::nullopt;
    }
    if (!ids.insert(id).second) {
      error = "peers: node " + std::to_string(id) + " is listed twice";
      return std::nullopt;
    }
    out.push_back({id, hp->first, hp->second});
  }
  if (out.empty()) {
    error = "peers: required (ID@HOST:PORT,...)";
    return std::nullopt;
  }
  return out;
}

std::optional<validated_config> validate(const node_config& cfg,
                                         std::string& error) {
  validated_config v;
  auto& s = v.settings;
  if (cfg.cluster_id.empty()) {
    error = "cluster-id: required";
    return std::nullopt;
  }
  s.cluster_id = cfg.cluster_id;
  if (cfg.node == 0) {
    error = "node-id: required, a number > 0";
    return std::nullopt;
  }
  s.self = cfg.node;
  s.acceptor = s.proposer = s.learner = s.elector = false;
  for (auto& r : split(cfg.roles, ',')) {
    if (r == "acceptor")
      s.acceptor = true;
    else if (r == "proposer")
      s.proposer = true;
    else if (r == "learner")
      s.learner = true;
    else if (r == "elector")
      s.elector = true;
    else {
      error = "roles: unknown role '" + r
              + "' (proposer, acceptor, learner, elector)";
      return std::nullopt;
    }
  }
  if (!s.acceptor && !s.proposer && !s.learner && !s.elector) {
    error = "roles: at least one role is required";
    return std::nullopt;
  }
  auto peers = parse_peers(cfg.peers, error);
  if (!peers)
    return std::nullopt;
  s.peers = *peers;
  std::set<node_id> known;
  std::vector<node_id> all;
  for (auto& p : s.peers) {
    known.insert(p.node);
    all.push_back(p.node);
    if (p.node == s.self) {
      v.peer_port = p.port;
      v.listen_host = cfg.listen_host.empty() ? p.host : cfg.listen_host;
    }
  }
  std::sort(all.begin(), all.end());
  if (v.peer_port == 0) {
    error = "peers: this node (" + std::to_string(s.self) + ") is not listed";
    return std::nullopt;
  }
  if (!parse_ids("acceptors", cfg.acceptors, all, known, s.acceptors, error)
      || !parse_ids("proposers", cfg.proposers, all, known, s.proposers, error)
      || !parse_ids("learners", cfg.learners, all, known, s.learners, error)
      || !parse_ids("electors", cfg.electors, s.proposers, known, s.electors,
                    error))
    return std::nullopt;
  if (s.electors != s.proposers) {
    error = "electors: must be the proposer nodes (each proposer is led by "
            "its node's elector)";
    return std::nullopt;
  }
  auto hosts = [&](const std::vector<node_id>& ids) {
    return std::find(ids.begin(), ids.end(), s.self) != ids.end();
  };
  struct {
    const char* name;
    bool hosted;
    const std::vector<node_id>& ids;
  } checks[] = {{"acceptors", s.acceptor, s.acceptors},
                {"proposers", s.proposer, s.proposers},
                {"learners", s.learner, s.learners},
                {"electors", s.elector, s.electors}};
  for (auto& c : checks)
    if (c.hosted && !hosts(c.ids)) {
      error = std::string("roles: this node hosts a role but is not in ")
              + c.name;
      return std::nullopt;
    }
  if ((s.acceptor || s.proposer) && cfg.data_dir.empty()) {
    error = "data-dir: required when hosting an acceptor or a proposer";
    return std::nullopt;
  }
  s.data_dir = cfg.data_dir;
  if (cfg.heartbeat_ms < ticks_per_heartbeat || cfg.heartbeat_ms > 60000) {
    error = "heartbeat-ms: must be between 5 and 60000";
    return std::nullopt;
  }
  s.heartbeat = std::chrono::milliseconds(cfg.heartbeat_ms);
  auto timeout = cfg.election_timeout_ms == 0 ? 2 * cfg.heartbeat_ms
                                              : cfg.election_timeout_ms;
  if (timeout < cfg.heartbeat_ms) {
    error = "election-timeout-ms: must be at least heartbeat-ms";
    return std::nullopt;
  }
  s.election_timeout = std::chrono::milliseconds(timeout);
  if (cfg.client_timeout_ms < 10) {
    error = "client-timeout-ms: must be at least 10";
    return std::nullopt;
  }
  s.client_timeout = std::chrono::milliseconds(cfg.client_timeout_ms);
  auto lease = cfg.lease_ms < 0
                 ? std::max(int64_t{timeout}, 2 * int64_t{cfg.heartbeat_ms})
                 : cfg.lease_ms;
  auto margin = cfg.lease_margin_ms < 0 ? lease / 10 : cfg.lease_margin_ms;
  if (lease > 600000) {
    error = "lease-ms: must be at most 600000";
    return std::nullopt;
  }
  if (lease > 0 && lease - margin <= int64_t{cfg.heartbeat_ms}) {
    error = "lease-ms: must exceed heartbeat-ms + lease-margin-ms (the "
            "lease is renewed every heartbeat), or be 0";
    return std::nullopt;
  }
  s.lease = std::chrono::milliseconds(lease);
  s.lease_margin = std::chrono::milliseconds(lease > 0 ? margin : 0);
  if (cfg.map_size_mb < 1 || cfg.map_size_mb > (uint64_t{1} << 24)) {
    error = "map-size-mb: must be between 1 and 16777216";
    return std::nullopt;
  }
  s.map_size_bytes = cfg.map_size_mb << 20;
  // The tail must fit in the map with room to spare: compaction keeps the
  // used size near the tail plus what is not yet chosen.
  auto tail_max = std::max<int64_t>(1, static_cast<int64_t>(cfg.map_size_mb / 4));
  auto tail_mb = cfg.log_tail_mb < 0 ? std::min<int64_t>(64, tail_max)
                                     : cfg.log_tail_mb;
  if (tail_mb < 1 || tail_mb > tail_max) {
    error = "log-tail-mb: must be between 1 and a quarter of map-size-mb ("
            + std::to_string(tail_max) + ")";
    return std::nullopt;
  }
  if (cfg.snapshot_rate_mb < 1 || cfg.snapshot_rate_mb > (uint64_t{1} << 20)) {
    error = "snapshot-rate-mb: must be between 1 and 1048576";
    return std::nullopt;
  }
  s.log_tail_slots = cfg.log_tail_slots;
  s.log_tail_bytes = static_cast<uint64_t>(tail_mb) << 20;
  s.snapshot_rate_bytes = cfg.snapshot_rate_mb << 20;
  if (cfg.client_port != 0 && !s.learner) {
    error = "client-port: the client service needs a learner in this process";
    return std::nullopt;
  }
  if (cfg.client_value_max_bytes < 1
      || cfg.client_value_max_bytes > (uint64_t{512} << 20)) {
    error = "client-value-max-bytes: must be between 1 and 536870912";
    return std::nullopt;
  }
  if (cfg.client_connections_max < 1) {
    error = "client-connections-max: must be at least 1";
    return std::nullopt;
  }
  v.client.host = v.listen_host;
  v.client.port = cfg.client_port;
  v.client.node = s.self;
  v.client.value_bytes_max = cfg.client_value_max_bytes;
  v.client.connections_max = cfg.client_connections_max;
  v.client.idle_timeout = std::chrono::seconds(cfg.client_idle_timeout_s);
  v.client.password = cfg.requirepass;
  if (cfg.worker_threads < 1 || cfg.worker_threads > 256) {
    error = "worker-threads: must be between 1 and 256";
    return std::nullopt;
  }
  v.worker_threads = cfg.worker_threads;
  if (cfg.bootstrap && cfg.join) {
    error = "bootstrap: --bootstrap creates a cluster and --join joins one; "
            "give one of them";
    return std::nullopt;
  }
  s.mode = cfg.bootstrap ? start_mode::bootstrap
           : cfg.join    ? start_mode::join
                         : start_mode::existing_only;
  if (cfg.join && s.peers.size() < 2) {
    error = "peers: --join needs a member to ask (ID@HOST:PORT of a member "
            "besides this node's entry)";
    return std::nullopt;
  }
  if (cfg.join_timeout_s < 1 || cfg.join_timeout_s > 86400) {
    error = "join-timeout-s: must be between 1 and 86400";
    return std::nullopt;
  }
  v.join_timeout = std::chrono::seconds(cfg.join_timeout_s);
  // At least the proposer's window of slots in flight (16).
  if (cfg.alpha < 16 || cfg.alpha > 1000000) {
    error = "alpha: must be between 16 and 1000000";
    return std::nullopt;
  }
  s.alpha = cfg.alpha;
  auto peer_timeout = cfg.peer_timeout_ms >= 0
                        ? cfg.peer_timeout_ms
                        : std::max<int64_t>(1000, 10 * int64_t{cfg.heartbeat_ms});
  // At least 3T (a peer misses two keepalives first) and 200 ms (tools
  // such as paxoskv-cli send theirs every 50 ms).
  auto least = std::max<int64_t>(200, 3 * int64_t{cfg.heartbeat_ms});
  if (peer_timeout < least || peer_timeout > 3600000) {
    error = "peer-timeout-ms: must be at least " + std::to_string(least)
            + " (3 x heartbeat-ms, and 200) and at most 3600000";
    return std::nullopt;
  }
  v.peer_timeout = std::chrono::milliseconds(peer_timeout);
  if (auto l = parse_read_level(cfg.read_level))
    v.client.read = *l;
  else {
    error = "read-level: must be log, leader or lease";
    return std::nullopt;
  }
  static const std::pair<const char*, paxoskv::log_level> levels[] = {
    {"error", log_level::error},
    {"warning", log_level::warning},
    {"info", log_level::info},
    {"debug", log_level::debug}};
  bool found = false;
  for (auto& [name, lvl] : levels)
    if (cfg.log_level == name) {
      v.level = lvl;
      found = true;
    }
  if (!found) {
    error = "log-level: must be error, warning, info or debug";
    return std::nullopt;
  }
  return v;
}

} // namespace paxoskv
