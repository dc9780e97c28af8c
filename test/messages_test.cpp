#include <doctest/doctest.h>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/deep_to_string.hpp>

#include "protocol/messages.hpp"
#include "test/helpers.hpp"
#include "test/samples.hpp"

using namespace paxoskv;
using namespace paxoskv::test;

namespace {

template <class T>
bool round_trips(const T& original) {
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  auto copy = original;
  if (sink(copy))
    return false;
  caf::binary_deserializer source{nullptr, buf};
  T decoded;
  if (source(decoded))
    return false;
  return caf::deep_to_string(decoded) == caf::deep_to_string(original);
}

} // namespace

TEST_CASE("every message prints through its inspect overload") {
  for (auto& m : sample_messages()) {
    auto text = std::visit([](auto& x) { return caf::deep_to_string(x); }, m);
    CAPTURE(text);
    CHECK(text.rfind(std::string(name_of(m)) + "(", 0) == 0);
  }
  // Ballots print through their to_string: (round,node).
  CHECK(caf::deep_to_string(ballot{3, 2}) == "(3,2)");
}

TEST_CASE("every message survives CAF's binary serializer unchanged") {
  for (auto& m : sample_messages()) {
    CAPTURE(name_of(m));
    CHECK(std::visit([](auto& x) { return round_trips(x); }, m));
  }
}

TEST_CASE("every message type is routed to the role that handles it") {
  auto s = sample_messages();
  CHECK(s.size() == std::variant_size_v<message>);
  static_assert(role_of<prepare> == role::acceptor);
  static_assert(role_of<accept> == role::acceptor);
  static_assert(role_of<success> == role::acceptor);
  static_assert(role_of<learn_request> == role::acceptor);
  static_assert(role_of<read_probe> == role::acceptor);
  static_assert(role_of<promise> == role::proposer);
  static_assert(role_of<accepted> == role::proposer);
  static_assert(role_of<nack> == role::proposer);
  static_assert(role_of<success_ack> == role::proposer);
  static_assert(role_of<client_command> == role::proposer);
  static_assert(role_of<client_batch> == role::proposer);
  static_assert(role_of<leader_change> == role::proposer);
  static_assert(role_of<read_request> == role::proposer);
  static_assert(role_of<read_probe_ack> == role::proposer);
  static_assert(role_of<chosen> == role::learner);
  static_assert(role_of<read_index> == role::learner);
  static_assert(role_of<command_refused> == role::learner);
  static_assert(role_of<read_refused> == role::learner);
  static_assert(role_of<heartbeat> == role::elector);
  static_assert(role_of<client_reply> == role::client);
  // Names come from the inspect overloads.
  CHECK(std::string(name_of(read_probe_ack{})) == "read_probe_ack");
}

TEST_CASE("ballots order by round, then by node") {
  CHECK(ballot{1, 5} < ballot{2, 1});
  CHECK(ballot{2, 1} < ballot{2, 3});
  CHECK(ballot{2, 3} == ballot{2, 3});
  CHECK(ballot{}.is_zero());
  CHECK(majority_of(3) == 2);
  CHECK(majority_of(5) == 3);
}

TEST_CASE("a log value's commands are shared between copies, changed on a "
          "copy of their own") {
  log_value a;
  a.commands.push_back(set_cmd(1, 1, "k", "v"));
  a.commands.push_back(set_cmd(1, 2, "k", "w"));
  auto b = a;
  // Shared: the same vector, not a copy of it.
  CHECK(&a.commands.items() == &b.commands.items());
  CHECK(a == b);
  // A change to one copy leaves the other as it was.
  b.commands.push_back(set_cmd(2, 1, "j", "x"));
  CHECK(a.commands.size() == 2);
  CHECK(b.commands.size() == 3);
  CHECK(a != b);
  auto c = a;
  c.commands.own()[0].args[1] = "changed";
  CHECK(a.commands[0].args[1] == "v");
  CHECK(c.commands[0].args[1] == "changed");
  // Equal contents are equal, shared or not; an empty list is a NOP.
  log_value d;
  d.commands = command_list{set_cmd(1, 1, "k", "v"), set_cmd(1, 2, "k", "w")};
  CHECK(d == a);
  log_value e;
  CHECK(e.is_nop());
  CHECK(e.commands.empty());
  CHECK(e.commands.begin() == e.commands.end());
  // Serialized and printed as the vector it holds.
  CHECK(round_trips(a));
  CHECK(caf::deep_to_string(a.commands)
        == caf::deep_to_string(a.commands.items()));
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  auto copy = a;
  REQUIRE_FALSE(sink(copy));
  caf::binary_deserializer source{nullptr, buf};
  log_value decoded;
  REQUIRE_FALSE(source(decoded));
  CHECK(decoded == a);
  CHECK(&decoded.commands.items() != &a.commands.items());
}
