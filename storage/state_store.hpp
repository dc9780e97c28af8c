// The durable form of a learner's state machine (state_machine.hpp): its
// records and the first slot not applied, written behind the apply path.
//
// A state store commits a state_write atomically and durably; `load` fills
// a machine with what was committed, so a restarted learner continues from
// there instead of replaying the log. The in-memory store backs the
// simulator; the LMDB store (lmdb_state_store.hpp) backs real nodes.
#pragma once

#include "protocol/state_machine.hpp"
#include "storage/error.hpp"

namespace paxoskv {

class state_store {
public:
  virtual ~state_store() = default;
  /// Loads the committed form into `sm` (replacing its state).
  virtual storage_status load(state_machine& sm) const = 0;
  /// Makes `w` durable, atomically; returns once it is on disk.
  virtual storage_status commit(const state_write& w) = 0;
};

class memory_state_store final : public state_store {
public:
  storage_status load(state_machine& sm) const override {
    if (!load_image(sm, image_))
      return storage_error{storage_errc::corrupt,
                           "the state machine's records do not decode"};
    return std::nullopt;
  }

  storage_status commit(const state_write& w) override {
    image_.apply(w);
    return std::nullopt;
  }

  const state_image& image() const { return image_; }

private:
  state_image image_;
};

} // namespace paxoskv
