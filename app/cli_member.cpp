// paxoskv-cli member list|add|remove|replace: membership changes through
// the leader (membership.hpp), waiting for each to be chosen.
//
// Exit status as for the other commands: 0 done, 1 not done (refused,
// unreachable, timed out before anything was sent), 2 usage, 3 outcome
// unknown (the change may still be chosen: see `member list`).
#include <cstdio>
#include <iostream>
#include <random>
#include <thread>

#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "app/cli.hpp"
#include "app/config.hpp"

namespace paxoskv::cli {

namespace {

using clock = std::chrono::steady_clock;

/// Pause between attempts of a refused-for-now change, and between looks
/// at a catching-up learner.
constexpr std::chrono::milliseconds retry_pause{200};
constexpr std::chrono::milliseconds catch_up_poll{500};

std::string address_of(const member& m) {
  return m.host + ":" + std::to_string(m.port);
}

/// The newest configuration the node behind `address` knows.
std::optional<configuration> members_of(caf::actor_system& sys,
                                        const std::string& address) {
  auto dir = directory_at(sys, address);
  if (!dir)
    return std::nullopt;
  caf::scoped_actor self{sys};
  std::optional<configuration> result;
  self->request(*dir, request_timeout, members_atom_v)
    .receive(
      [&](configuration& c) {
        if (c.empty())
          std::cerr << "paxoskv-cli: " << address
                    << " knows no configuration yet\n";
        else
          result = std::move(c);
      },
      [&](caf::error& err) {
        std::cerr << "paxoskv-cli: " << address << ": " << sys.render(err)
                  << "\n";
      });
  return result;
}

template <class Status, class Handle>
std::optional<Status> status_of(caf::actor_system& sys, const Handle& h) {
  if (!h)
    return std::nullopt;
  caf::scoped_actor self{sys};
  std::optional<Status> result;
  self->request(h, request_timeout, status_atom_v)
    .receive([&](Status& s) { result = std::move(s); }, [](caf::error&) {});
  return result;
}

/// How far a member has applied (its learner; an acceptor-only member: its
/// first unchosen slot), if it answers.
std::optional<slot_t> position_of(caf::actor_system& sys, const member& m) {
  auto h = lookup(sys, address_of(m), true);
  if (!h)
    return std::nullopt;
  if (auto l = status_of<learner_status>(sys, h->learner))
    return l->applied;
  if (auto a = status_of<acceptor_status>(sys, h->acceptor))
    return a->first_unchosen;
  return std::nullopt;
}

/// The leader as the node behind `address` sees it (0: none known).
node_id leader_seen_by(caf::actor_system& sys, const role_handles& h) {
  if (auto p = status_of<proposer_status>(sys, h.proposer))
    return p->leader;
  if (auto e = status_of<elector_status>(sys, h.elector))
    return e->leader;
  return 0;
}

/// Whether `c` shows the change `r` asks for.
bool shows(const configuration& c, const membership_request& r) {
  auto* m = c.find(r.target.id);
  switch (r.change) {
    case member_change::add:
      return m != nullptr;
    case member_change::remove:
      return m == nullptr;
    case member_change::promote:
      return m != nullptr && m->voter;
    case member_change::demote:
      return m != nullptr && !m->voter;
    case member_change::seal:
      return false;
  }
  return false;
}

/// A string as a JSON string's contents.
std::string json_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

bool contains(const std::string& s, const char* what) {
  return s.find(what) != std::string::npos;
}

/// A refusal that another attempt may not get: the leader is starting, or
/// another change (or one just chosen) must take effect first, or the
/// epoch moved (a promotion by the leader).
bool worth_retrying(const std::string& why) {
  return contains(why, "try again") || contains(why, "in progress")
         || contains(why, "not yet in force")
         || contains(why, "being completed")
         || contains(why, "the configuration is at epoch");
}

/// Asks the node behind `address` for the change and waits for the leader's
/// answer, trying again while it is refused for now.
int change(caf::actor_system& sys, const std::string& address,
           membership_request r, const std::string& what,
           uint64_t* done_epoch = nullptr) {
  auto h = lookup(sys, address);
  if (!h)
    return 1;
  if (!h->proposer) {
    std::cerr << "paxoskv-cli: " << address
              << " hosts no proposer; ask another member\n";
    return 1;
  }
  auto config = members_of(sys, address);
  if (!config)
    return 1;
  std::random_device rd;
  auto deadline = clock::now() + 3 * request_timeout;
  std::string last;
  for (;;) {
    r.id = (uint64_t{rd()} << 32) | rd();
    r.expected_epoch = config->epoch;
    r.hops = 0;
    command_sent = true;
    std::optional<membership_reply> reply;
    std::string failure;
    caf::scoped_actor self{sys};
    self->request(h->proposer, request_timeout, r)
      .receive([&](membership_reply& m) { reply = std::move(m); },
               [&](caf::error& err) { failure = sys.render(err); });
    if (reply && reply->done) {
      std::cout << what << ": done; configuration epoch "
                << reply->config.epoch << ", in force from slot "
                << reply->effective << "\n";
      if (done_epoch != nullptr)
        *done_epoch = reply->config.epoch;
      return 0;
    }
    auto why = reply ? reply->error : "outcome unknown: " + failure;
    if (reply && why.rfind("not applied", 0) == 0) {
      if (!worth_retrying(why) || clock::now() + retry_pause >= deadline) {
        std::cerr << "paxoskv-cli: " << what << ": " << why << "\n";
        return 1;
      }
      if (!reply->config.empty())
        config = reply->config;
      std::this_thread::sleep_for(retry_pause);
      continue;
    }
    // The change may have been chosen: look before saying so.
    if (auto now = members_of(sys, address);
        now && now->epoch > config->epoch && shows(*now, r)) {
      std::cout << what << ": done; configuration epoch " << now->epoch
                << "\n";
      return 0;
    }
    std::cerr << "paxoskv-cli: " << what << ": " << why
              << " (check with: paxoskv-cli member list " << address << ")\n";
    return 3;
  }
}

std::optional<member> parse_member(const std::string& s) {
  std::string error;
  auto p = parse_peers(s, error);
  if (!p || p->size() != 1) {
    std::cerr << "paxoskv-cli: '" << s << "' is not ID@PEERHOST:PEERPORT\n";
    return std::nullopt;
  }
  member m;
  m.id = p->front().node;
  m.host = p->front().host;
  m.port = p->front().port;
  return m;
}

/// The member to add: what it hosts comes from the node itself, which must
/// be running (started with --join).
std::optional<member> describe_new(caf::actor_system& sys, member m) {
  auto address = address_of(m);
  auto h = lookup(sys, address);
  if (!h) {
    std::cerr << "paxoskv-cli: start node " << m.id << " first (paxoskv-node "
              << "... --join), listening for peers on " << address << "\n";
    return std::nullopt;
  }
  if (h->node != m.id) {
    std::cerr << "paxoskv-cli: the node at " << address << " is node "
              << h->node << ", not " << m.id << "\n";
    return std::nullopt;
  }
  // Its data directory's incarnation: only that directory counts as it.
  if (auto a = status_of<acceptor_status>(sys, h->acceptor))
    m.incarnation = a->incarnation;
  else if (auto p = status_of<proposer_status>(sys, h->proposer))
    m.incarnation = p->incarnation;
  m.roles = static_cast<uint8_t>((h->acceptor ? role_acceptor : 0)
                                 | (h->proposer ? role_proposer : 0)
                                 | (h->learner ? role_learner : 0)
                                 | (h->elector ? role_elector : 0));
  m.voter = false;
  return m;
}

int list(caf::actor_system& sys, const std::string& address, bool json) {
  auto config = members_of(sys, address);
  if (!config)
    return 1;
  auto h = lookup(sys, address);
  if (!h)
    return 1;
  auto leader = leader_seen_by(sys, *h);
  struct row {
    const member* m;
    std::optional<slot_t> applied;
  };
  std::vector<row> rows;
  std::optional<slot_t> reference;
  for (auto& m : config->members) {
    rows.push_back({&m, position_of(sys, m)});
    if (m.id == leader) {
      // The leader's first unchosen slot: where everyone is headed.
      if (auto lh = lookup(sys, address_of(m), true))
        if (auto p = status_of<proposer_status>(sys, lh->proposer))
          reference = p->first_unchosen;
    }
  }
  if (!reference)
    for (auto& r : rows)
      if (r.applied)
        reference = std::max(reference.value_or(0), *r.applied);
  auto lag = [&](const row& r) -> std::optional<slot_t> {
    if (!r.applied || !reference)
      return std::nullopt;
    return *reference > *r.applied ? *reference - *r.applied : 0;
  };
  if (json) {
    std::cout << "{\"epoch\":" << config->epoch << ",\"alpha\":"
              << config->alpha << ",\"leader\":" << leader
              << ",\"members\":[";
    for (size_t i = 0; i < rows.size(); ++i) {
      auto& m = *rows[i].m;
      auto l = lag(rows[i]);
      std::cout << (i > 0 ? "," : "") << "{\"id\":" << m.id
                << ",\"address\":\"" << json_escape(address_of(m))
                << "\",\"voter\":" << (m.voter ? "true" : "false")
                << ",\"promote\":" << (m.promote ? "true" : "false")
                << ",\"roles\":\"" << roles_to_string(m.roles)
                << "\",\"reachable\":"
                << (rows[i].applied ? "true" : "false") << ",\"lag\":"
                << (l ? std::to_string(*l) : "null") << "}";
    }
    std::cout << "]}\n";
    return 0;
  }
  for (auto& r : rows) {
    auto l = lag(r);
    std::cout << r.m->id << " " << address_of(*r.m) << " "
              << (r.m->voter ? "voter" : "learner") << " lag "
              << (l ? std::to_string(*l) : std::string("unknown"))
              << (r.applied ? "" : " unreachable")
              << (r.m->promote ? " catching-up" : "")
              << (r.m->id == leader ? " leader" : "") << "\n";
  }
  return 0;
}

int replace(caf::actor_system& sys, const std::string& address,
            node_id old_id, member fresh, const member_options& opts) {
  auto config = members_of(sys, address);
  if (!config)
    return 1;
  if (config->find(old_id) == nullptr) {
    auto* m = config->find(fresh.id);
    if (m != nullptr && m->voter) {
      // Run again after it finished (its outcome was not known).
      std::cout << "node " << old_id << " is not a member and node "
                << fresh.id << " is a voter: replaced already\n";
      return 0;
    }
    std::cerr << "paxoskv-cli: node " << old_id << " is not a member\n";
    return 1;
  }
  if (fresh.id == old_id) {
    std::cerr << "paxoskv-cli: the new node needs an id of its own\n";
    return 2;
  }
  auto* present = config->find(fresh.id);
  // The newest configuration known to hold the new node: a view older than
  // it (a directory not yet told of the addition) proves nothing.
  uint64_t known_epoch = config->epoch;
  if (present == nullptr) {
    auto added = describe_new(sys, fresh);
    if (!added)
      return 1;
    membership_request r;
    r.change = member_change::add;
    r.target = *added;
    r.target.promote = true;
    auto rc = change(sys, address, r,
                     "add node " + std::to_string(fresh.id) + " as learner",
                     &known_epoch);
    if (rc != 0)
      return rc;
  } else if (!present->voter && !present->promote) {
    std::cerr << "paxoskv-cli: node " << fresh.id
              << " is a learner on purpose; remove it first\n";
    return 1;
  } else {
    // An interrupted replace: go on from where it stopped.
    std::cout << "node " << fresh.id << " is a member already; going on\n";
  }
  // The leader promotes it once it has caught up.
  auto until = clock::now() + opts.catch_up_wait;
  auto next_report = clock::now();
  for (;;) {
    auto now = members_of(sys, address);
    auto* m = now ? now->find(fresh.id) : nullptr;
    if (m != nullptr && m->voter)
      break;
    if (now && m == nullptr && now->epoch >= known_epoch) {
      std::cerr << "paxoskv-cli: node " << fresh.id
                << " was removed while catching up\n";
      return 1;
    }
    if (m != nullptr && !m->promote) {
      std::cerr << "paxoskv-cli: node " << fresh.id
                << " is no longer to be promoted (changed meanwhile)\n";
      return 1;
    }
    if (clock::now() >= until) {
      std::cerr << "paxoskv-cli: node " << fresh.id << " did not catch up "
                << "within " << opts.catch_up_wait.count()
                << " s; it stays a learner. Run replace again to wait "
                   "more, or abort with: paxoskv-cli member remove "
                << address << " " << fresh.id << "\n";
      return 1;
    }
    if (clock::now() >= next_report && m != nullptr) {
      auto at = position_of(sys, *m);
      std::cout << "waiting for node " << fresh.id << " to catch up"
                << (at ? " (applied up to slot " + std::to_string(*at) + ")"
                       : std::string(" (not answering)"))
                << "\n"
                << std::flush;
      next_report = clock::now() + std::chrono::seconds(10);
    }
    std::this_thread::sleep_for(catch_up_poll);
  }
  std::cout << "node " << fresh.id << " is a voter\n";
  membership_request r;
  r.change = member_change::remove;
  r.target.id = old_id;
  return change(sys, address, r, "remove node " + std::to_string(old_id));
}

} // namespace

std::chrono::milliseconds member_command_limit(
  const std::vector<std::string>& args, const member_options& opts) {
  auto base = 12 * request_timeout;
  if (!args.empty() && args[0] == "replace")
    return base + std::chrono::duration_cast<std::chrono::milliseconds>(
                    opts.catch_up_wait);
  return base;
}

int member_command(caf::actor_system& sys, const std::vector<std::string>& args,
                   const member_options& opts) {
  auto usage = [] {
    std::cerr << "usage: paxoskv-cli member list [--json] HOST:PORT\n"
                 "       paxoskv-cli member add HOST:PORT "
                 "ID@PEERHOST:PEERPORT [--learner]\n"
                 "       paxoskv-cli member remove HOST:PORT ID\n"
                 "       paxoskv-cli member replace [--wait-s S] HOST:PORT "
                 "OLD_ID NEW_ID@PEERHOST:PEERPORT\n";
    return 2;
  };
  if (args.size() < 2)
    return usage();
  auto& verb = args[0];
  auto& address = args[1];
  auto parse_id = [](const std::string& s) -> std::optional<node_id> {
    char* end = nullptr;
    auto v = std::strtoul(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || v == 0 || v > 0xFFFFFFFFul)
      return std::nullopt;
    return static_cast<node_id>(v);
  };
  if (verb == "list" && args.size() == 2)
    return list(sys, address, opts.json);
  if (verb == "add" && args.size() == 3) {
    auto m = parse_member(args[2]);
    if (!m)
      return 2;
    auto added = describe_new(sys, *m);
    if (!added)
      return 1;
    membership_request r;
    r.change = member_change::add;
    r.target = *added;
    r.target.promote = !opts.learner;
    return change(sys, address, r,
                  "add node " + std::to_string(m->id)
                    + (opts.learner ? " as learner"
                                    : " (a voter once caught up)"));
  }
  if (verb == "remove" && args.size() == 3) {
    auto id = parse_id(args[2]);
    if (!id)
      return usage();
    membership_request r;
    r.change = member_change::remove;
    r.target.id = *id;
    return change(sys, address, r, "remove node " + std::to_string(*id));
  }
  if (verb == "replace" && args.size() == 4) {
    auto old_id = parse_id(args[2]);
    auto m = parse_member(args[3]);
    if (!old_id || !m)
      return usage();
    return replace(sys, address, *old_id, *m, opts);
  }
  return usage();
}

} // namespace paxoskv::cli
