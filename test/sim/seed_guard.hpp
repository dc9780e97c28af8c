// Makes a crash (a failed assert inside a core) name the seed it ran, so a
// run that aborts can be replayed like one that reports a violation.
#pragma once

#include <cstdint>

namespace paxoskv::sim {

/// Installs a SIGABRT/SIGSEGV handler that prints the current seed.
void install_seed_reporter();

/// Sets the seed this thread is running (reported if it crashes).
void set_current_seed(uint64_t seed);

} // namespace paxoskv::sim
