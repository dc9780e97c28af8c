#include "test/sim/trace.hpp"

#include <caf/deep_to_string.hpp>

namespace paxoskv::sim {

std::string render(const message& m) {
  return std::visit([](const auto& x) { return caf::deep_to_string(x); }, m);
}

} // namespace paxoskv::sim
