// The one CAF type-ID block of paxoskv: every message type that crosses an
// actor boundary. Debian's CAF checks registrations only at run time, so a
// test sends every protocol message across a real middleman connection.
#pragma once

#include <caf/type_id.hpp>

#include "actors/roles.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(paxoskv, caf::first_custom_type_id)

  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::ballot))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::command))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::log_value))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::accepted_entry))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::chosen_entry))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::command_result))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::prepare))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::promise))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::accept))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::accepted))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::nack))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::success))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::success_ack))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::success_relay))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::chosen))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::learn_request))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::heartbeat))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::leader_change))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::client_command))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::client_batch))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::command_refused))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::client_reply))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::read_request))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::read_index))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::read_refused))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::read_probe))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::read_probe_ack))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::snapshot_request))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::snapshot_chunk))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::role_handles))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::client_request))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::acceptor_status))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::proposer_status))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::learner_status))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::elector_status))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::member))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::configuration))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::config_entry))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::config_history))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::membership_request))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::membership_reply))
  CAF_ADD_TYPE_ID(paxoskv, (paxoskv::learner_progress))

CAF_END_TYPE_ID_BLOCK(paxoskv)

// Local-only messages: they never leave their process.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(paxoskv::route_table)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(paxoskv::client_closed)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(paxoskv::local_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(paxoskv::write_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(paxoskv::write_done)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(paxoskv::state_write_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(paxoskv::state_done)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(paxoskv::serve_snapshot)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(paxoskv::store_snapshot_chunk)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(paxoskv::chunk_stored)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(paxoskv::install_snapshot)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(paxoskv::snapshot_installed)
