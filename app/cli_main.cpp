// paxoskv-cli: talks to a paxoskv cluster over the peer port.
//
//   paxoskv-cli [--node HOST:PORT] set KEY VALUE
//   paxoskv-cli [--node HOST:PORT] get KEY
//   paxoskv-cli [--node HOST:PORT] del KEY
//   paxoskv-cli status [--json] HOST:PORT [HOST:PORT...]
//   paxoskv-cli member list|add|remove|replace ... (cli_member.cpp)
//
// Exit status: 0 ok, 1 not applied (safe to retry) or unreachable,
// 2 usage, 3 outcome unknown (the command may still take effect).
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <iostream>
#include <random>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/deep_to_string.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/type_ids.hpp"
#include "app/cli.hpp"
#include "app/config.hpp"

using namespace paxoskv;
using namespace paxoskv::cli;

namespace paxoskv::cli {

std::chrono::milliseconds request_timeout{10000};
std::atomic<bool> command_sent{false};

std::optional<caf::actor> directory_at(caf::actor_system& sys,
                                       const std::string& address,
                                       bool quiet) {
  auto hp = parse_host_port(address);
  if (!hp) {
    std::cerr << "paxoskv-cli: '" << address << "' is not HOST:PORT\n";
    return std::nullopt;
  }
  auto dir = sys.middleman().remote_actor(hp->first, hp->second);
  if (!dir) {
    if (!quiet)
      std::cerr << "paxoskv-cli: cannot reach " << address << ": "
                << sys.render(dir.error()) << "\n";
    return std::nullopt;
  }
  return *dir;
}

std::optional<role_handles> lookup(caf::actor_system& sys,
                                   const std::string& address, bool quiet) {
  auto dir = directory_at(sys, address, quiet);
  if (!dir)
    return std::nullopt;
  caf::scoped_actor self{sys};
  std::optional<role_handles> result;
  self->request(*dir, request_timeout, lookup_atom_v, node_id{0})
    .receive([&](role_handles& h) { result = std::move(h); },
             [&](caf::error& err) {
               if (!quiet)
                 std::cerr << "paxoskv-cli: " << address << ": "
                         << sys.render(err) << "\n";
             });
  return result;
}

} // namespace paxoskv::cli

namespace {

int usage() {
  std::cerr << "usage: paxoskv-cli [--node HOST:PORT] [--timeout-ms MS] set KEY VALUE\n"
               "       paxoskv-cli [--node HOST:PORT] [--timeout-ms MS] get KEY\n"
               "       paxoskv-cli [--node HOST:PORT] [--timeout-ms MS] del KEY\n"
               "       paxoskv-cli status [--json] [--timeout-ms MS] HOST:PORT [HOST:PORT...]\n"
               "       paxoskv-cli member list [--json] HOST:PORT\n"
               "       paxoskv-cli member add HOST:PORT ID@PEERHOST:PEERPORT [--learner]\n"
               "       paxoskv-cli member remove HOST:PORT ID\n"
               "       paxoskv-cli member replace [--wait-s S] HOST:PORT OLD_ID NEW_ID@PEERHOST:PEERPORT\n"
               "HOST:PORT is a node's peer port (not its Redis client port).\n"
               "Waits at most --timeout-ms per node (default 10000).\n";
  return 2;
}

/// Ends the process if it is still running after `limit`.
void start_watchdog(std::chrono::milliseconds limit, std::string what) {
  std::thread([limit, what] {
    std::this_thread::sleep_for(limit);
    std::cerr << "paxoskv-cli: no answer from " << what << " within "
              << limit.count()
              << " ms (is it the peer port of a running node?)\n";
    std::fflush(stderr);
    std::_Exit(command_sent ? 3 : 1);
  }).detach();
}

template <class Handle, class Status>
void print_status(caf::actor_system& sys, const Handle& h, const char* role,
                  bool json, std::vector<std::string>& lines) {
  if (!h)
    return;
  caf::scoped_actor self{sys};
  self->request(h, request_timeout, status_atom_v)
    .receive(
      [&](Status& st) {
        lines.push_back(json ? "{\"role\":\"" + std::string(role)
                                 + "\",\"status\":" + to_json(st) + "}"
                             : std::string(role) + " " + to_text(st));
      },
      [&](caf::error& err) {
        lines.push_back(json ? "{\"role\":\"" + std::string(role)
                                 + "\",\"error\":\"" + sys.render(err)
                                 + "\"}"
                             : std::string(role) + ": " + sys.render(err));
      });
}

int status(caf::actor_system& sys, const std::vector<std::string>& nodes,
           bool json) {
  int rc = 0;
  std::vector<std::string> lines;
  for (auto& address : nodes) {
    auto h = lookup(sys, address);
    if (!h) {
      rc = 1;
      continue;
    }
    print_status<acceptor_actor, acceptor_status>(sys, h->acceptor,
                                                  "acceptor", json, lines);
    print_status<proposer_actor, proposer_status>(sys, h->proposer,
                                                  "proposer", json, lines);
    print_status<learner_actor, learner_status>(sys, h->learner, "learner",
                                                json, lines);
    print_status<elector_actor, elector_status>(sys, h->elector, "elector",
                                                json, lines);
  }
  if (json) {
    std::cout << "[";
    for (size_t i = 0; i < lines.size(); ++i)
      std::cout << (i > 0 ? ",\n " : "") << lines[i];
    std::cout << "]\n";
  } else {
    for (auto& l : lines)
      std::cout << l << "\n";
  }
  return rc;
}

int run_command(caf::actor_system& sys, const std::string& node,
                command cmd) {
  auto h = lookup(sys, node);
  if (!h)
    return 1;
  if (!h->learner) {
    std::cerr << "paxoskv-cli: " << node
              << " hosts no learner; ask a node that does\n";
    return 1;
  }
  std::random_device rd;
  cmd.client_id = (static_cast<uint64_t>(rd()) << 32) | rd();
  cmd.sequence = 1;
  caf::scoped_actor self{sys};
  int rc = 1;
  command_sent = true;
  self->request(h->learner, request_timeout, client_request{cmd})
    .receive(
      [&](client_reply& r) {
        auto& res = r.result;
        switch (res.kind) {
          case result_kind::ok:
            std::cout << "OK\n";
            rc = 0;
            break;
          case result_kind::value:
            std::cout << res.text << "\n";
            rc = 0;
            break;
          case result_kind::nil:
            std::cout << "(nil)\n";
            rc = 0;
            break;
          case result_kind::integer:
            std::cout << res.number << "\n";
            rc = 0;
            break;
          case result_kind::not_applied:
            std::cerr << "not applied: " << res.text << "\n";
            rc = 1;
            break;
          case result_kind::unknown:
            std::cerr << res.text << "\n";
            rc = 3;
            break;
          case result_kind::error:
            std::cerr << res.text << "\n";
            rc = 1;
            break;
          case result_kind::raw:
            std::cout << res.text;
            rc = 0;
            break;
          case result_kind::array:
            for (size_t i = 0; i < res.items.size(); ++i)
              std::cout << (res.present.at(i) ? res.items[i] : "(nil)")
                        << "\n";
            rc = 0;
            break;
        }
      },
      [&](caf::error& err) {
        std::cerr << "paxoskv-cli: outcome unknown: " << sys.render(err)
                  << "\n";
        rc = 3;
      });
  return rc;
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string node = "127.0.0.1:7101";
  bool json = false;
  member_options member_opts;
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--node" && i + 1 < args.size())
      node = args[++i];
    else if (args[i] == "--timeout-ms" && i + 1 < args.size()) {
      auto ms = std::strtoll(args[++i].c_str(), nullptr, 10);
      if (ms <= 0)
        return usage();
      request_timeout = std::chrono::milliseconds(ms);
    }
    else if (args[i] == "--json")
      json = member_opts.json = true;
    else if (args[i] == "--learner")
      member_opts.learner = true;
    else if (args[i] == "--wait-s" && i + 1 < args.size()) {
      auto s = std::strtoll(args[++i].c_str(), nullptr, 10);
      if (s <= 0)
        return usage();
      member_opts.catch_up_wait = std::chrono::seconds(s);
    }
    else if (args[i] == "-h" || args[i] == "--help")
      return usage(), 0;
    else
      rest.push_back(args[i]);
  }
  if (rest.empty())
    return usage();
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  cfg.add_message_types<caf::id_block::paxoskv>();
  cfg.set("logger.verbosity", caf::atom("quiet"));
  // Nodes drop a peer connection silent for peer-timeout-ms (at least 3T,
  // 1 s by default): keep ours alive while waiting for an answer.
  cfg.set("middleman.heartbeat-interval",
          caf::timespan{std::chrono::milliseconds(50)});
  auto& verb = rest[0];
  // Connecting, asking and answering per node, plus a little slack.
  auto nodes = verb == "status" ? std::max<size_t>(1, rest.size() - 1) : 1;
  std::vector<std::string> member_args(rest.begin() + 1, rest.end());
  start_watchdog(verb == "member"
                   ? member_command_limit(member_args, member_opts)
                   : request_timeout * static_cast<int>(2 * nodes)
                       + std::chrono::milliseconds(500),
                 verb == "status" && rest.size() > 1 ? "the nodes"
                 : verb == "member"                  ? "the cluster"
                                                     : node);
  caf::actor_system sys{cfg};
  if (verb == "member")
    return member_command(sys, member_args, member_opts);
  if (verb == "status")
    return status(sys, rest.size() > 1
                         ? std::vector<std::string>(rest.begin() + 1,
                                                    rest.end())
                         : std::vector<std::string>{node},
                  json);
  if (verb == "set" && rest.size() == 3)
    return run_command(sys, node, {0, 0, op_code::set, {rest[1], rest[2]}});
  if (verb == "get" && rest.size() == 2)
    return run_command(sys, node, {0, 0, op_code::get, {rest[1]}});
  if (verb == "del" && rest.size() == 2)
    return run_command(sys, node, {0, 0, op_code::del, {rest[1]}});
  return usage();
}
