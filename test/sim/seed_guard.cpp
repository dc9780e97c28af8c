#include "test/sim/seed_guard.hpp"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <unistd.h>

namespace paxoskv::sim {

namespace {

thread_local char seed_line[96] = {0};

extern "C" void report_seed(int sig) {
  if (seed_line[0] != 0) {
    auto n = ::write(STDERR_FILENO, seed_line, std::strlen(seed_line));
    (void) n;
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

} // namespace

void install_seed_reporter() {
  std::signal(SIGABRT, report_seed);
  std::signal(SIGSEGV, report_seed);
}

void set_current_seed(uint64_t seed) {
  std::snprintf(seed_line, sizeof(seed_line),
                "\ncrashed while running seed %llu; replay: paxoskv-sim "
                "--seed %llu --verbose\n",
                static_cast<unsigned long long>(seed),
                static_cast<unsigned long long>(seed));
}

} // namespace paxoskv::sim
