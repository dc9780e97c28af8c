#include "test/e2e/load.hpp"

#include <random>

#include "test/e2e/resp_client.hpp"

namespace paxoskv::e2e {

uint64_t now_us() {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::microseconds>(
      clock_type::now().time_since_epoch())
      .count());
}

recorded_load::recorded_load(std::vector<uint16_t> ports, int clients,
                             int keys, uint64_t seed)
  : ports_(std::move(ports)), keys_(keys) {
  for (int id = 0; id < clients; ++id)
    threads_.emplace_back([this, id, seed] { client(id, seed + id); });
}

recorded_load::~recorded_load() { stop(); }

void recorded_load::stop() {
  stop_ = true;
  for (auto& t : threads_)
    if (t.joinable())
      t.join();
}

void recorded_load::record(const lin::operation& op) {
  std::lock_guard<std::mutex> guard(mutex_);
  history_.push_back(op);
}

void recorded_load::client(int id, uint64_t seed) {
  static const char* levels[] = {"leader", "lease", "log"};
  std::mt19937_64 rng(seed);
  resp_client conn;
  uint64_t n = 0;
  while (!stop_) {
    if (!conn.connected()) {
      if (!conn.connect(ports_[rng() % ports_.size()])) {
        // Nothing listens there (a node down or not started yet).
        std::this_thread::sleep_for(ms{20});
        continue;
      }
      std::string head;
      std::optional<std::string> bulk;
      if (!conn.call({"READLEVEL", levels[id % 3]}, head, bulk, ms{5000})
          || head != "+OK") {
        conn.disconnect();
        continue;
      }
    }
    lin::operation op;
    op.client = static_cast<uint32_t>(id);
    op.key = "k" + std::to_string(rng() % keys_);
    op.write = rng() % 2 == 0;
    std::vector<std::string> req{op.write ? "SET" : "GET", op.key};
    if (op.write) {
      op.value = "c" + std::to_string(id) + "-" + std::to_string(++n);
      req.push_back(*op.value);
    }
    std::string head;
    std::optional<std::string> bulk;
    op.invoke = now_us();
    bool answered = conn.call(req, head, bulk, ms{5000});
    op.complete = now_us();
    if (!answered) {
      // Lost connection or no answer: the command may still apply.
      op.result = lin::outcome::unknown;
      conn.disconnect();
    } else if (head == "+OK" || head[0] == '$') {
      op.result = lin::outcome::ok;
      if (!op.write)
        op.value = bulk;
    } else if (head.rfind("-TRYAGAIN", 0) == 0) {
      op.result = lin::outcome::failed;
    } else {
      op.result = lin::outcome::unknown;
      if (head.rfind("-TIMEOUT", 0) != 0) {
        std::lock_guard<std::mutex> guard(mutex_);
        unexpected_.push_back(op.key + ": " + head);
      }
    }
    record(op);
  }
}

bool recorded_load::final_reads(uint16_t port, ms deadline) {
  resp_client conn;
  for (int k = 0; k < keys_; ++k) {
    lin::operation op;
    op.key = "k" + std::to_string(k);
    op.client = 999;
    bool done = wait_for(
      [&] {
        std::string head;
        std::optional<std::string> bulk;
        if (!conn.connected() && !conn.connect(port))
          return false;
        op.invoke = now_us();
        if (!conn.call({"GET", op.key}, head, bulk, ms{5000})
            || head[0] != '$') {
          conn.disconnect();
          return false;
        }
        op.complete = now_us();
        op.value = bulk;
        return true;
      },
      deadline, ms{50});
    if (!done)
      return false;
    record(op);
  }
  return true;
}

std::vector<lin::operation> recorded_load::history() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return history_;
}

std::vector<std::string> recorded_load::unexpected() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return unexpected_;
}

size_t recorded_load::ok() const {
  std::lock_guard<std::mutex> guard(mutex_);
  size_t n = 0;
  for (auto& op : history_)
    n += op.result == lin::outcome::ok ? 1 : 0;
  return n;
}

std::string recorded_load::summary() const {
  std::lock_guard<std::mutex> guard(mutex_);
  size_t ok = 0, unknown = 0, failed = 0;
  for (auto& op : history_)
    (op.result == lin::outcome::ok        ? ok
     : op.result == lin::outcome::unknown ? unknown
                                          : failed)++;
  return std::to_string(history_.size()) + " operations (" + std::to_string(ok)
         + " ok, " + std::to_string(unknown) + " unknown, "
         + std::to_string(failed) + " not applied)";
}

} // namespace paxoskv::e2e
