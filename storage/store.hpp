// The durable-state boundary of a node: what its acceptor and proposer keep.
//
// A store commits a whole `durable_batch` atomically and durably (group
// commit: everything handled since the last commit costs one sync). The
// in-memory implementation below backs the deterministic simulator; the
// LMDB implementation (lmdb_store.hpp) backs real nodes. Both implement this
// interface, and the simulator runs over either.
#pragma once

#include <cstdint>
#include <optional>

#include "protocol/acceptor.hpp"
#include "protocol/proposer.hpp"
#include "storage/error.hpp"

namespace paxoskv {

/// Everything a node's roles asked to make durable since the last commit.
struct durable_batch {
  /// Acceptor changes, in order.
  acceptor_write acceptor;
  /// The proposer's new round, if it changed.
  std::optional<uint64_t> proposer_round;

  bool empty() const { return acceptor.empty() && !proposer_round; }

  /// Only chosen marks: nothing waits on this write but the success_ack
  /// that reports it, so it may wait a little for the next write and share
  /// its commit (a commit costs two fsyncs; a mark alone is worth neither).
  bool deferrable() const {
    auto& a = acceptor;
    return !proposer_round && !a.promised && a.entries.empty() && !a.log_start
           && !a.configs && !a.chosen_marks.empty();
  }

  void add(acceptor_write&& w) { acceptor.merge(std::move(w)); }
  void add(const proposer_write& w) { proposer_round = w.round; }
};

/// What a node finds on its disk at start.
struct durable_state {
  acceptor_state acceptor;
  uint64_t proposer_round = 0;
};

class store {
public:
  virtual ~store() = default;
  /// Reads the whole durable state.
  virtual storage_result<durable_state> load() const = 0;
  /// Makes a batch durable, atomically (all of it or none of it); returns
  /// only once it is on disk. On error nothing of the batch is stored.
  virtual storage_status commit(const durable_batch& batch) = 0;
};

/// A store kept in memory: "durable" means "survives a simulated crash".
class memory_store final : public store {
public:
  storage_result<durable_state> load() const override { return state_; }

  storage_status commit(const durable_batch& batch) override {
    state_.acceptor.apply(batch.acceptor);
    if (batch.proposer_round)
      state_.proposer_round = *batch.proposer_round;
    return std::nullopt;
  }

  const durable_state& state() const { return state_; }

private:
  durable_state state_;
};

} // namespace paxoskv
