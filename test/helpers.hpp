// Small helpers for reading what core handlers returned.
#pragma once

#include <variant>
#include <vector>

#include "protocol/kv_machine.hpp"
#include "protocol/learner.hpp"
#include "protocol/messages.hpp"

namespace paxoskv::test {

/// The messages of type T in `envs`, with their destinations.
template <class T>
std::vector<std::pair<uint64_t, T>> of_type(const std::vector<envelope>& envs) {
  std::vector<std::pair<uint64_t, T>> result;
  for (auto& e : envs)
    if (auto* m = std::get_if<T>(&e.msg))
      result.emplace_back(e.to, *m);
  return result;
}

/// A set command with the given client, sequence, key and value.
inline command set_cmd(uint64_t client, uint64_t seq, std::string key,
                       std::string value) {
  return command{client, seq, op_code::set, {std::move(key), std::move(value)}};
}

/// A one-command batch.
/// The keys and values of a learner's key-value machine.
inline std::map<std::string, std::string> data_of(const learner& l) {
  return dynamic_cast<const kv_machine&>(l.machine()).data();
}

inline log_value batch_of(command c) {
  log_value v;
  v.commands.push_back(std::move(c));
  return v;
}

} // namespace paxoskv::test
