#include "protocol/state_machine.hpp"

namespace paxoskv {

void state_write::merge(state_write&& later) {
  applied = later.applied;
  if (records.empty()) {
    records = std::move(later.records);
    return;
  }
  // Moves the nodes over: no key is copied and no node allocated (this
  // runs for every applied batch on the learner's thread).
  while (!later.records.empty()) {
    auto node = later.records.extract(later.records.begin());
    auto r = records.insert(std::move(node));
    if (!r.inserted)
      r.position->second = std::move(r.node.mapped());
  }
}

void state_image::apply(const state_write& w) {
  applied = w.applied;
  for (auto& [k, v] : w.records) {
    if (v)
      records[k] = *v;
    else
      records.erase(k);
  }
}

bool load_image(state_machine& sm, const state_image& img) {
  sm.begin_load(img.applied);
  for (auto& [k, v] : img.records)
    if (!sm.load_record(k, v)) {
      sm.begin_load(0);
      return false;
    }
  if (!sm.end_load()) {
    sm.begin_load(0);
    return false;
  }
  return true;
}

state_image save_image(const state_machine& sm) {
  state_image img;
  img.applied = sm.applied();
  sm.save([&](std::string_view k, std::string_view v) {
    img.records.emplace(std::string(k), std::string(v));
  });
  return img;
}

} // namespace paxoskv
