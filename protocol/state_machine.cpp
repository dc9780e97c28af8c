#include "protocol/state_machine.hpp"

namespace paxoskv {

void state_write::merge(state_write&& later) {
  applied = later.applied;
  for (auto& [k, v] : later.records)
    records[k] = std::move(v);
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
