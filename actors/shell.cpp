#include "actors/shell.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace paxoskv {

namespace {

std::atomic<int> level_{static_cast<int>(log_level::info)};
std::mutex log_mutex_;

const char* level_name(log_level l) {
  switch (l) {
    case log_level::error:
      return "ERROR";
    case log_level::warning:
      return "WARN";
    case log_level::info:
      return "INFO";
    case log_level::debug:
      return "DEBUG";
  }
  return "?";
}

} // namespace

void set_log_level(log_level level) {
  level_ = static_cast<int>(level);
}

log_level current_log_level() {
  return static_cast<log_level>(level_.load());
}

void log_line(log_level level, node_id node, const char* role,
              const std::string& text) {
  if (static_cast<int>(level) > level_.load())
    return;
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              now.time_since_epoch())
              .count()
            % 1000;
  char stamp[32];
  std::tm tm;
  gmtime_r(&secs, &tm);
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
  std::lock_guard<std::mutex> guard(log_mutex_);
  std::fprintf(stderr, "%s.%03dZ %-5s node=%u role=%s %s\n", stamp,
               static_cast<int>(ms), level_name(level), node, role,
               text.c_str());
  std::fflush(stderr);
}

} // namespace paxoskv
