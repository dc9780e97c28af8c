#include "protocol/routing.hpp"

#include <type_traits>

namespace paxoskv {

bool relayable(const message& m) {
  return std::visit(
    [](const auto& x) {
      using type = std::decay_t<decltype(x)>;
      return !std::is_same_v<type, leader_change>
             && !std::is_same_v<type, client_reply>;
    },
    m);
}

void mark_relayed(message& m) {
  if (auto* h = std::get_if<heartbeat>(&m))
    h->relayed = true;
}

node_id choose_relay(node_id self, node_id to,
                     const std::vector<node_id>& connected, uint64_t& cursor) {
  std::vector<node_id> candidates;
  for (auto n : connected)
    if (n != self && n != to)
      candidates.push_back(n);
  if (candidates.empty())
    return 0;
  return candidates[cursor++ % candidates.size()];
}

} // namespace paxoskv
