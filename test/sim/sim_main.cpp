// paxoskv-sim: runs the deterministic cluster simulator from the command line.
//
//   paxoskv-sim --seed N [--verbose]        replay one seed (trace on stdout)
//   paxoskv-sim --from A --count N [--jobs J]
//                                           sweep seeds A..A+N-1 (a soak)
//
// Exit status 0 when every seed kept every invariant, 1 otherwise.
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test/sim/cluster.hpp"
#include "test/sim/seed_guard.hpp"

using namespace paxoskv::sim;

namespace {

int usage(const char* why) {
  std::cerr << "paxoskv-sim: " << why << "\n"
            << "usage: paxoskv-sim --seed N [--verbose]\n"
            << "       paxoskv-sim --from A --count N [--jobs J]\n";
  return 2;
}

bool parse_u64(const char* s, uint64_t& out) {
  char* end = nullptr;
  out = std::strtoull(s, &end, 10);
  return end != s && *end == '\0';
}

int replay(uint64_t seed, bool verbose) {
  set_current_seed(seed);
  std::cout << random_run::from_seed(seed).describe() << "\n";
  auto r = run_seed(seed, verbose ? &std::cout : nullptr);
  std::cout << (r.ok ? "OK" : "VIOLATION: " + r.violation) << " (ticks "
            << r.ticks << ", commands acked " << r.commands_acked
            << ", slots chosen " << r.slots_chosen << ")\n";
  return r.ok ? 0 : 1;
}

int sweep(uint64_t from, uint64_t count, unsigned jobs) {
  std::atomic<uint64_t> next{from};
  std::atomic<uint64_t> failures{0};
  std::atomic<uint64_t> done{0};
  std::mutex out_mutex;
  auto worker = [&] {
    for (uint64_t s = next++; s < from + count; s = next++) {
      set_current_seed(s);
      auto r = run_seed(s);
      auto d = ++done;
      std::lock_guard<std::mutex> guard(out_mutex);
      if (!r.ok) {
        ++failures;
        std::cout << "FAIL seed " << s << ": " << r.violation
                  << "\n  replay: paxoskv-sim --seed " << s << " --verbose\n";
      }
      if (d % 1000 == 0)
        std::cout << d << "/" << count << " seeds, " << failures
                  << " failed\n"
                  << std::flush;
    }
  };
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < jobs; ++i)
    threads.emplace_back(worker);
  for (auto& t : threads)
    t.join();
  std::cout << count - failures << " passed, " << failures << " failed\n";
  return failures == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  install_seed_reporter();
  uint64_t seed = 0, from = 0, count = 0, jobs = 0;
  bool have_seed = false, have_from = false, verbose = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](uint64_t& out) {
      return i + 1 < argc && parse_u64(argv[++i], out);
    };
    if (a == "--seed") {
      if (!value(seed))
        return usage("--seed needs a number");
      have_seed = true;
    } else if (a == "--from") {
      if (!value(from))
        return usage("--from needs a number");
      have_from = true;
    } else if (a == "--count") {
      if (!value(count))
        return usage("--count needs a number");
    } else if (a == "--jobs") {
      if (!value(jobs) || jobs == 0 || jobs > 256)
        return usage("--jobs needs a number from 1 to 256");
    } else if (a == "--verbose") {
      verbose = true;
    } else if (a == "--help" || a == "-h") {
      usage("runs the deterministic cluster simulator");
      return 0;
    } else {
      return usage(("unknown argument " + a).c_str());
    }
  }
  if (have_seed)
    return replay(seed, verbose);
  if (!have_from || count == 0)
    return usage("give --seed N, or --from A --count N");
  if (jobs == 0)
    jobs = std::max(1u, std::thread::hardware_concurrency());
  return sweep(from, count, static_cast<unsigned>(jobs));
}
