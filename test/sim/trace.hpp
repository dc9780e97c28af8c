// Renders protocol messages for traces, through their CAF inspect overloads.
#pragma once

#include <string>

#include "protocol/messages.hpp"

namespace paxoskv::sim {

/// The message as CAF's deep_to_string prints it.
std::string render(const message& m);

} // namespace paxoskv::sim
