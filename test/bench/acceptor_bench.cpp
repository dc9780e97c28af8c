// acceptor-bench: accepts and fsync'd commits per second of an acceptor over
// the LMDB store, for group commits of 1, 16 and 128 accepts (100-byte
// values), next to the disk's one-at-a-time write+fdatasync rate.
//
//   acceptor-bench [--dir DIR] [--seconds S] [--out FILE]
//
// DIR must be on the disk to measure (default: a fresh directory under the
// current one). Results print as a Markdown table; --out appends them to FILE.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <sys/vfs.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "protocol/acceptor.hpp"
#include "storage/lmdb_store.hpp"

using namespace paxoskv;
using clock_type = std::chrono::steady_clock;

namespace {

struct row {
  std::string what;
  double ops_per_s = 0;
  double commits_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

row raw_fsync(const std::string& dir, double seconds) {
  auto path = dir + "/raw-fsync.bin";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0640);
  if (fd < 0) {
    std::perror("open");
    std::exit(1);
  }
  std::string block(4096, 'x');
  std::vector<double> lat;
  auto end = clock_type::now() + std::chrono::duration<double>(seconds);
  off_t off = 0;
  while (clock_type::now() < end) {
    auto t0 = clock_type::now();
    if (::pwrite(fd, block.data(), block.size(), off) < 0
        || ::fdatasync(fd) != 0) {
      std::perror("write+fdatasync");
      std::exit(1);
    }
    off = (off + 4096) % (1 << 20);
    lat.push_back(
      std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
  }
  ::close(fd);
  ::unlink(path.c_str());
  double n = static_cast<double>(lat.size());
  return {"raw 4 KiB write + fdatasync", n / seconds, n / seconds,
          percentile(lat, 0.5), percentile(lat, 0.99)};
}

row acceptor_batches(const std::string& dir, size_t batch, double seconds) {
  lmdb_options o;
  o.dir = dir + "/batch-" + std::to_string(batch);
  o.create_dir = true;
  o.cluster_id = "bench";
  o.node = 1;
  auto opened = lmdb_store::open(o);
  if (!opened) {
    std::cerr << opened.error().message << "\n";
    std::exit(1);
  }
  auto& store = *opened.value();
  acceptor a(acceptor_config{1, 64, 64}, acceptor_state{});
  ballot b{1, 2};
  durable_batch first;
  first.add(std::move(*a.on_prepare(prepare{b, 0, 2}, 0).write));
  store.commit(first);
  std::string value(100, 'v');
  slot_t slot = 0;
  uint64_t accepts = 0;
  std::vector<double> lat;
  auto end = clock_type::now() + std::chrono::duration<double>(seconds);
  while (clock_type::now() < end) {
    auto t0 = clock_type::now();
    durable_batch group;
    for (size_t i = 0; i < batch; ++i, ++slot) {
      log_value v;
      v.commands.push_back(command{1, slot + 1, op_code::set, {"key", value}});
      // first_unchosen trails by one batch, as under a pipelining leader.
      auto step = a.on_accept(accept{b, slot, std::move(v),
                                     slot >= batch ? slot - batch : 0, 2});
      if (step.write)
        group.add(std::move(*step.write));
    }
    if (auto err = store.commit(group)) {
      std::cerr << err->message << "\n";
      std::exit(1);
    }
    accepts += batch;
    lat.push_back(
      std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
  }
  std::filesystem::remove_all(o.dir);
  double commits = static_cast<double>(lat.size());
  return {"acceptor, group commit of " + std::to_string(batch),
          static_cast<double>(accepts) / seconds, commits / seconds,
          percentile(lat, 0.5), percentile(lat, 0.99)};
}

std::string filesystem_of(const std::string& dir) {
  struct statfs fs;
  if (::statfs(dir.c_str(), &fs) != 0)
    return "unknown";
  switch (fs.f_type) {
    case 0xEF53:
      return "ext4";
    case 0x01021994:
      return "tmpfs";
    case 0x9123683E:
      return "btrfs";
    case 0x58465342:
      return "xfs";
    case 0x794c7630:
      return "overlayfs";
    default: {
      std::ostringstream os;
      os << "fs type 0x" << std::hex << fs.f_type;
      return os.str();
    }
  }
}

} // namespace

int main(int argc, char** argv) {
  std::string dir, out;
  double seconds = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc)
      dir = argv[++i];
    else if (a == "--seconds" && i + 1 < argc)
      seconds = std::atof(argv[++i]);
    else if (a == "--out" && i + 1 < argc)
      out = argv[++i];
    else {
      std::cerr << "usage: acceptor-bench [--dir DIR] [--seconds S] "
                   "[--out FILE]\n";
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  if (seconds <= 0) {
    std::cerr << "acceptor-bench: --seconds must be positive\n";
    return 2;
  }
  bool own_dir = dir.empty();
  if (own_dir)
    dir = "acceptor-bench-data";
  std::filesystem::create_directories(dir);
  std::vector<row> rows;
  rows.push_back(raw_fsync(dir, seconds));
  for (size_t batch : {1, 16, 128})
    rows.push_back(acceptor_batches(dir, batch, seconds));
  if (own_dir)
    std::filesystem::remove_all(dir);

  auto now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  std::ostringstream md;
  md << "### acceptor-bench, " << date << "\n\n"
     << "Conditions: " << std::thread::hardware_concurrency()
     << " cores, " << filesystem_of(dir)
     << ", LMDB default sync (a commit returns once on disk), 100-byte "
        "values, one acceptor, "
     << seconds << " s per row.\n\n"
     << "| what | accepts/s | fsync'd commits/s | commit p50 (us) | "
        "commit p99 (us) |\n|---|---:|---:|---:|---:|\n";
  char buf[256];
  for (auto& r : rows) {
    std::snprintf(buf, sizeof(buf), "| %s | %.0f | %.0f | %.0f | %.0f |\n",
                  r.what.c_str(), r.ops_per_s, r.commits_per_s, r.p50_us,
                  r.p99_us);
    md << buf;
  }
  md << "\n";
  std::cout << md.str();
  if (!out.empty())
    std::ofstream(out, std::ios::app) << md.str();
  return 0;
}
