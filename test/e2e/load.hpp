// A recorded client load for end-to-end tests: clients write and read a
// few keys over the Redis protocol while the test injects faults or
// changes the membership; every operation is recorded with its outcome for
// the linearizability checker (test/lin/checker.hpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test/e2e/harness.hpp"
#include "test/lin/checker.hpp"

namespace paxoskv::e2e {

class recorded_load {
public:
  /// Starts `clients` threads; each connects to one of `ports` at random
  /// (another after a lost connection), reads at its own level (leader,
  /// lease, log in turn), and writes or reads one of `keys` keys.
  recorded_load(std::vector<uint16_t> ports, int clients, int keys,
                uint64_t seed);
  ~recorded_load();

  /// Stops the clients and waits for them.
  void stop();

  /// After stop: one read of every key through `port`, retried until it
  /// answers (bounded); false if one never did.
  bool final_reads(uint16_t port, ms deadline);

  std::vector<lin::operation> history() const;
  /// Error replies other than the retryable ones (-TRYAGAIN: not
  /// applied; -TIMEOUT: outcome unknown), with the command's key.
  std::vector<std::string> unexpected() const;
  /// "N operations (ok, unknown, not applied)".
  std::string summary() const;
  size_t ok() const;

private:
  void client(int id, uint64_t seed);
  void record(const lin::operation& op);

  std::vector<uint16_t> ports_;
  int keys_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<lin::operation> history_;
  std::vector<std::string> unexpected_;
  std::vector<std::thread> threads_;
};

/// Microseconds of the steady clock (operation times).
uint64_t now_us();

} // namespace paxoskv::e2e
