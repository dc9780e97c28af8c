// The simulated network: partitions, cut and one-way links, muted nodes,
// delays, one-hop relays, and delivery to a node (held while it is paused).
#include "test/sim/cluster_parts.hpp"

#include "protocol/routing.hpp"
#include "test/sim/trace.hpp"

namespace paxoskv::sim {

void cluster::partition(const std::vector<std::vector<node_id>>& groups) {
  group_of_.clear();
  for (size_t g = 0; g < groups.size(); ++g)
    for (auto n : groups[g])
      group_of_[n] = g;
  trace("partition " + std::to_string(groups.size()) + " groups");
}

void cluster::cut_link(node_id a, node_id b, bool cut) {
  if (cut) {
    cut_links_.insert({a, b});
    cut_links_.insert({b, a});
  } else {
    cut_links_.erase({a, b});
    cut_links_.erase({b, a});
  }
}

void cluster::cut_one_way(node_id a, node_id b, bool cut) {
  if (cut)
    cut_links_.insert({a, b});
  else
    cut_links_.erase({a, b});
}

std::vector<node_id> cluster::connected(node_id n) const {
  std::vector<node_id> out;
  for (auto& [id, nd] : nodes_)
    if (id != n && nd->up && link_up(n, id))
      out.push_back(id);
  return out;
}

void cluster::mute(node_id n) {
  trace("mute node " + std::to_string(n));
  for (auto& [id, nd] : nodes_)
    if (id != n)
      cut_links_.insert({n, id});
}

void cluster::heal_network() {
  group_of_.clear();
  cut_links_.clear();
  trace("heal network");
}

bool cluster::link_up(uint64_t from, uint64_t to) const {
  if (from == to || is_client(from) || is_client(to))
    return true;
  if (cut_links_.count({from, to}) > 0)
    return false;
  auto a = group_of_.find(from);
  auto b = group_of_.find(to);
  size_t ga = a == group_of_.end() ? 0 : a->second;
  size_t gb = b == group_of_.end() ? 0 : b->second;
  return ga == gb;
}

void cluster::send(uint64_t from, envelope env) {
  ++sent_[name_of(env.msg)];
  check_outgoing(from, env.msg);
  if (auto* r = std::get_if<membership_reply>(&env.msg)) {
    on_membership_reply(*r);
    return;
  }
  // Roles of one node talk inside one process: reliable and in order.
  bool local = from == env.to;
  // No direct link: through a node both reach, as the directory does.
  node_id via = 0;
  if (!local && !is_client(from) && nodes_.count(static_cast<node_id>(from))
      && !link_up(from, env.to) && relayable(env.msg)) {
    auto self = static_cast<node_id>(from);
    via = choose_relay(self, static_cast<node_id>(env.to), connected(self),
                       at(self).relay_cursor);
  }
  if (!local && chance(faults_.drop)) {
    if (opts_.trace)
      trace("drop " + std::to_string(from) + "->" + std::to_string(env.to)
            + " " + render(env.msg));
    return;
  }
  auto delay = [&] {
    if (local)
      return uint64_t{1};
    uint64_t d = 1;
    if (faults_.delay_max > 0)
      d += std::uniform_int_distribution<uint64_t>(0, faults_.delay_max)(rng_);
    if (faults_.spike_ticks > 0 && chance(faults_.spike))
      d += std::uniform_int_distribution<uint64_t>(0, faults_.spike_ticks)(
        rng_);
    return d;
  };
  // Forwarded client commands are delivered at most once, as by CAF over
  // TCP: a node that learns a copy was refused concludes that no copy
  // exists (see client_table). Every protocol message may be duplicated.
  bool once = std::holds_alternative<client_command>(env.msg)
              || std::holds_alternative<client_batch>(env.msg);
  if (!local && !once && chance(faults_.duplicate))
    network_.push_back({now_ + delay(), from, env, via});
  network_.push_back({now_ + delay(), from, std::move(env), via});
}

void cluster::relay(const packet& p) {
  auto& r = at(p.via);
  if (!link_up(p.from, p.via) || !r.up)
    return;
  if (r.paused_until > now_) {
    auto later = p;
    later.deliver_at = r.paused_until;
    network_.push_back(std::move(later));
    return;
  }
  // One hop only: the relay delivers if it reaches the destination.
  if (!link_up(p.via, p.env.to) || chance(faults_.drop))
    return;
  auto delay = faults_.delay_max == 0
                 ? uint64_t{1}
                 : 1 + std::uniform_int_distribution<uint64_t>(
                     0, faults_.delay_max)(rng_);
  auto env = p.env;
  mark_relayed(env.msg);
  network_.push_back({now_ + delay, p.via, std::move(env), 0});
}

void cluster::deliver(const packet& p) {
  if (p.via != 0)
    return relay(p);
  if (!link_up(p.from, p.env.to))
    return;
  auto it = nodes_.find(static_cast<node_id>(p.env.to));
  if (it == nodes_.end() || !it->second->up)
    return;
  if (it->second->paused_until > now_) {
    auto later = p;
    later.deliver_at = it->second->paused_until;
    network_.push_back(std::move(later));
    return;
  }
  if (opts_.trace)
    trace(std::to_string(p.from) + "->" + std::to_string(p.env.to) + " "
          + render(p.env.msg));
  deliver_to_node(*it->second, p.from, p.env.msg);
  maybe_commit(*it->second);
}

} // namespace paxoskv::sim
