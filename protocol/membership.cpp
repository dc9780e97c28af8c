#include "protocol/membership.hpp"

#include <algorithm>
#include <map>

#include "protocol/codec.hpp"

namespace paxoskv {

namespace {

constexpr std::pair<role_bits, const char*> role_names[] = {
  {role_acceptor, "acceptor"},
  {role_proposer, "proposer"},
  {role_learner, "learner"},
  {role_elector, "elector"},
};

} // namespace

std::string roles_to_string(uint8_t roles) {
  std::string out;
  for (auto& [bit, name] : role_names)
    if (roles & bit) {
      if (!out.empty())
        out += ',';
      out += name;
    }
  return out;
}

std::optional<uint8_t> parse_roles(std::string_view s) {
  uint8_t roles = 0;
  while (!s.empty()) {
    auto comma = s.find(',');
    auto word = s.substr(0, comma);
    bool known = false;
    for (auto& [bit, name] : role_names)
      if (word == name) {
        roles |= bit;
        known = true;
      }
    if (!known)
      return std::nullopt;
    s = comma == std::string_view::npos ? std::string_view{}
                                        : s.substr(comma + 1);
  }
  if (roles == 0)
    return std::nullopt;
  return roles;
}

const member* configuration::find(node_id id) const {
  for (auto& m : members)
    if (m.id == id)
      return &m;
  return nullptr;
}

std::vector<node_id> configuration::voters() const {
  return with_role(role_acceptor);
}

std::vector<node_id> configuration::with_role(role_bits r) const {
  std::vector<node_id> out;
  for (auto& m : members)
    if (m.has(r) && (m.voter || r == role_learner))
      out.push_back(m.id);
  return out;
}

bool configuration::is_voter(node_id id) const {
  auto m = find(id);
  return m != nullptr && m->voter && m->has(role_acceptor);
}

bool configuration::is_quorum(const std::set<node_id>& acks) const {
  size_t voters = 0, acked = 0;
  for (auto& m : members)
    if (m.voter && m.has(role_acceptor)) {
      ++voters;
      if (acks.count(m.id) > 0)
        ++acked;
    }
  return voters > 0 && acked >= majority_of(voters);
}

bool configuration::counts(node_id id, uint64_t incarnation) const {
  auto m = find(id);
  return m != nullptr && (m->incarnation == 0 || m->incarnation == incarnation);
}

std::string to_string(const configuration& c) {
  std::string out = "epoch " + std::to_string(c.epoch) + " (alpha "
                    + std::to_string(c.alpha) + "):";
  for (auto& m : c.members)
    out += " " + std::to_string(m.id) + "@" + m.host + ":"
           + std::to_string(m.port)
           + (m.voter     ? " voter"
              : m.promote ? " learner (catching up)"
                          : " learner")
           + " ["
           + roles_to_string(m.roles) + "]";
  return out;
}

std::string check(const configuration& c) {
  if (c.epoch == 0)
    return "epoch 0";
  if (c.alpha == 0)
    return "alpha 0";
  size_t voters = 0;
  for (size_t i = 0; i < c.members.size(); ++i) {
    auto& m = c.members[i];
    if (m.id == 0)
      return "member id 0";
    if (i > 0 && c.members[i - 1].id >= m.id)
      return "member ids not unique and sorted";
    if (m.host.empty() || m.port == 0)
      return "member " + std::to_string(m.id) + " has no address";
    if ((m.roles & ~role_all) != 0 || m.roles == 0)
      return "member " + std::to_string(m.id) + " has no valid roles";
    if (m.voter && m.has(role_acceptor))
      ++voters;
  }
  if (voters == 0)
    return "no voting acceptor";
  return {};
}

const configuration& config_history::at(slot_t slot) const {
  auto* best = &entries.front();
  for (auto& e : entries)
    if (e.effective <= slot)
      best = &e;
  return best->config;
}

std::vector<const configuration*> config_history::governing(slot_t from,
                                                            slot_t to) const {
  std::vector<const configuration*> out;
  for (size_t i = 0; i < entries.size(); ++i) {
    auto& e = entries[i];
    // Governs [effective, next effective).
    slot_t end = i + 1 < entries.size() ? entries[i + 1].effective
                                        : ~slot_t{0};
    bool is_first = i == 0;
    slot_t start = is_first ? 0 : e.effective;
    if (start < to && end > from)
      out.push_back(&e.config);
  }
  return out;
}

bool config_history::on_chosen(slot_t slot, const configuration& c) {
  if (entries.empty())
    return false;
  if (c.epoch <= epoch())
    return true;
  if (c.epoch != epoch() + 1)
    return false;
  auto& in_force = at(slot);
  entries.push_back({slot, slot + in_force.alpha, c});
  return true;
}

bool config_history::merge(const config_history& other) {
  if (other.entries.empty())
    return true;
  if (entries.empty()) {
    entries = other.entries;
    return true;
  }
  for (auto& e : other.entries) {
    if (e.config.epoch <= epoch()) {
      // Known already: both must say the same.
      for (auto& mine : entries)
        if (mine.config.epoch == e.config.epoch
            && (mine.config != e.config || mine.effective != e.effective))
          return false;
      continue;
    }
    if (e.config.epoch != epoch() + 1)
      return false;
    entries.push_back(e);
  }
  return true;
}

void config_history::trim(slot_t x) {
  size_t keep = 0;
  for (size_t i = 0; i < entries.size(); ++i)
    if (entries[i].effective <= x)
      keep = i;
  entries.erase(entries.begin(),
                entries.begin() + static_cast<std::ptrdiff_t>(keep));
}

config_history bootstrap_history(configuration c) {
  config_history h;
  h.entries.push_back({0, 0, std::move(c)});
  return h;
}

configuration configuration_from_lists(const std::vector<node_id>& acceptors,
                                       const std::vector<node_id>& learners,
                                       const std::vector<node_id>& proposers,
                                       const std::vector<node_id>& electors,
                                       uint32_t alpha) {
  std::map<node_id, uint8_t> roles;
  for (auto n : acceptors)
    roles[n] |= role_acceptor;
  for (auto n : learners)
    roles[n] |= role_learner;
  for (auto n : proposers)
    roles[n] |= role_proposer;
  for (auto n : electors)
    roles[n] |= role_elector;
  configuration c;
  c.epoch = 1;
  c.alpha = alpha;
  for (auto& [id, r] : roles)
    c.members.push_back(member{id, "node" + std::to_string(id),
                               static_cast<uint16_t>(id), r, true, 0});
  return c;
}

bool lists_as_another(const config_history& h, node_id self,
                      uint64_t incarnation, bool bootstrapped) {
  if (incarnation == 0)
    return false; // Unknown (tests without data directories).
  // The newest configuration listing the node says who it is (a member
  // removed and added again comes back with its new directory).
  for (auto e = h.entries.rbegin(); e != h.entries.rend(); ++e)
    if (auto* m = e->config.find(self))
      return m->incarnation != incarnation
             && (m->incarnation != 0 || !bootstrapped);
  return false;
}

void encode(std::string& out, const configuration& c) {
  codec::put_u64(out, c.epoch);
  codec::put_u32(out, c.alpha);
  codec::put_u32(out, static_cast<uint32_t>(c.members.size()));
  for (auto& m : c.members) {
    codec::put_u32(out, m.id);
    codec::put_bytes(out, m.host);
    codec::put_u32(out, m.port);
    codec::put_u8(out, m.roles);
    // Flags: 1 voter, 2 promote when caught up.
    codec::put_u8(out, static_cast<uint8_t>((m.voter ? 1 : 0)
                                            | (m.promote ? 2 : 0)));
    codec::put_u64(out, m.incarnation);
  }
}

configuration read_configuration(codec::reader& r) {
  configuration c;
  c.epoch = r.uint(8);
  c.alpha = static_cast<uint32_t>(r.uint(4));
  auto n = r.uint(4);
  // A member takes at least 22 bytes.
  if (!r.ok() || n > r.remaining() / 22) {
    r.fail();
    return {};
  }
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    member m;
    m.id = static_cast<node_id>(r.uint(4));
    m.host = r.bytes();
    auto port = r.uint(4);
    if (port > 65535)
      r.fail();
    m.port = static_cast<uint16_t>(port);
    m.roles = static_cast<uint8_t>(r.uint(1));
    auto flags = r.uint(1);
    if (flags > 3)
      r.fail();
    m.voter = (flags & 1) != 0;
    m.promote = (flags & 2) != 0;
    m.incarnation = r.uint(8);
    c.members.push_back(std::move(m));
  }
  if (r.ok() && !check(c).empty())
    r.fail();
  return c;
}

void encode(std::string& out, const config_history& h) {
  codec::put_u32(out, static_cast<uint32_t>(h.entries.size()));
  for (auto& e : h.entries) {
    codec::put_u64(out, e.chosen_at);
    codec::put_u64(out, e.effective);
    encode(out, e.config);
  }
}

std::string encode_history(const config_history& h) {
  std::string out;
  encode(out, h);
  return out;
}

std::optional<config_history> decode_history(std::string_view bytes) {
  codec::reader r(bytes);
  config_history h;
  auto n = r.uint(4);
  if (!r.ok() || n > bytes.size() / 28)
    return std::nullopt;
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    config_entry e;
    e.chosen_at = r.uint(8);
    e.effective = r.uint(8);
    e.config = read_configuration(r);
    if (!h.entries.empty()
        && (e.config.epoch != h.epoch() + 1
            || e.effective < h.entries.back().effective))
      return std::nullopt;
    h.entries.push_back(std::move(e));
  }
  if (!r.ok() || !r.at_end())
    return std::nullopt;
  return h;
}

} // namespace paxoskv
