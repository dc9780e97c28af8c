// Real client libraries against a 3-node cluster: redis-py (Debian's
// python3-redis) and ioredis (npm), each through every node (leader and
// followers). The checks themselves are in test/clients/.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include "test/e2e/harness.hpp"
#include "test/e2e/resp_client.hpp"

using namespace paxoskv::e2e;

namespace {

std::vector<std::string> ports_of(const cluster& c) {
  std::vector<std::string> out;
  for (auto n : c.nodes())
    out.push_back(std::to_string(c.client_port(n)));
  return out;
}

bool exists(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0;
}

void ready(cluster& c) {
  c.start_all();
  REQUIRE(wait_for([&] { return c.leader() != 0; }, ms{30000}));
  for (auto n : c.nodes()) {
    resp_client probe;
    std::string head;
    std::optional<std::string> bulk;
    REQUIRE(wait_for(
      [&] {
        return probe.connect(c.client_port(n))
               && probe.call({"SET", "ready", "1"}, head, bulk, ms{5000})
               && head == "+OK";
      },
      ms{30000}));
  }
}

} // namespace

TEST_CASE("client libraries: redis-py through every node") {
  cluster c(full_nodes(3), 100);
  ready(c);
  auto args = ports_of(c);
  args.insert(args.begin(), PAXOSKV_SOURCE_DIR "/test/clients/redis_py_check.py");
  auto r = run_program("/usr/bin/python3", args, ms{240000});
  INFO(r.out);
  CHECK(r.exit_code == 0);
}

TEST_CASE("client libraries: ioredis through every node") {
  // ioredis from npm, installed once into the build directory.
  std::string prefix = PAXOSKV_BINARY_DIR "/clients";
  if (!exists(prefix + "/node_modules/ioredis/package.json")) {
    auto install = run_program(
      "/bin/sh",
      {"-c", "mkdir -p " + prefix + " && npm install --no-audit --no-fund "
               "--prefix " + prefix + " ioredis@5 2>&1"},
      ms{300000});
    INFO(install.out);
    REQUIRE(install.exit_code == 0);
  }
  cluster c(full_nodes(3), 100);
  ready(c);
  auto args = ports_of(c);
  args.insert(args.begin(),
              {"-c", "NODE_PATH=" + prefix + "/node_modules exec node "
                       PAXOSKV_SOURCE_DIR "/test/clients/ioredis_check.js \"$@\"",
               "ioredis_check"});
  auto r = run_program("/bin/sh", args, ms{240000});
  INFO(r.out);
  CHECK(r.exit_code == 0);
}
