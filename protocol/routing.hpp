// Where a message goes when its destination cannot be reached directly.
//
// A node whose link to another node is cut (or whose packets to it vanish,
// until the connection is dropped) sends its messages for that node through
// a third node it is connected to, which delivers them if it reaches the
// destination directly. One extra hop, never more. So a follower cut off
// from the leader still reaches it through any node both reach, and the
// leader's answers come back the same way.
//
// A relayed elector heartbeat is marked so (`heartbeat::relayed`): whom a
// node hears directly is what eligibility measures where roles share nodes,
// and a relayed heartbeat must not count for that. It still tells whom its
// sender names and deems eligible, so two electors cut from each other but
// connected to the acceptors (roles in separate processes) agree on one
// leader.
#pragma once

#include <cstdint>
#include <vector>

#include "protocol/messages.hpp"

namespace paxoskv {

/// True for the messages a node may send through a relay.
bool relayable(const message& m);

/// What a relay does to a message before passing it on (marks heartbeats).
void mark_relayed(message& m);

/// The node to relay a message for `to` through: one of `connected` (the
/// nodes `self` reaches directly) other than `self` and `to`, taken in turn
/// (`cursor` advances), or 0 if there is none.
node_id choose_relay(node_id self, node_id to,
                     const std::vector<node_id>& connected, uint64_t& cursor);

} // namespace paxoskv
