#include <doctest/doctest.h>

#include "test/lin/checker.hpp"

using namespace paxoskv::lin;

namespace {

operation w(const char* v, uint64_t a, uint64_t b,
            outcome r = outcome::ok) {
  return {"k", true, std::string(v), a, b, r, 1};
}

operation rd(std::optional<std::string> v, uint64_t a, uint64_t b) {
  return {"k", false, std::move(v), a, b, outcome::ok, 2};
}

} // namespace

TEST_CASE("concurrent operations may take effect in either order") {
  // The write and the read overlap: the read may see old or new.
  CHECK(check({w("1", 0, 10), rd(std::nullopt, 5, 15)}).linearizable);
  CHECK(check({w("1", 0, 10), rd(std::string("1"), 5, 15)}).linearizable);
}

TEST_CASE("the checker rejects a stale read") {
  // The write completed before the read started, yet the read saw nothing.
  auto v = check({w("1", 0, 10), rd(std::nullopt, 20, 30)});
  CHECK_FALSE(v.linearizable);
  CHECK(v.explanation.find("key 'k'") != std::string::npos);
  // Same with an older value.
  CHECK_FALSE(check({w("1", 0, 10), w("2", 11, 20), rd(std::string("1"), 21, 30)})
                .linearizable);
}

TEST_CASE("a write with unknown outcome may or may not have happened") {
  CHECK(check({w("1", 0, 0, outcome::unknown), rd(std::string("1"), 50, 60)})
          .linearizable);
  CHECK(check({w("1", 0, 0, outcome::unknown), rd(std::nullopt, 50, 60)})
          .linearizable);
  // But not both ways over time: seen, then unseen again.
  CHECK_FALSE(check({w("1", 0, 0, outcome::unknown),
                     rd(std::string("1"), 50, 60), rd(std::nullopt, 70, 80)})
                .linearizable);
}

TEST_CASE("a failed write must never be seen") {
  CHECK_FALSE(check({w("1", 0, 10, outcome::failed),
                     rd(std::string("1"), 20, 30)})
                .linearizable);
}

TEST_CASE("keys are checked independently") {
  std::vector<operation> h{w("1", 0, 10), rd(std::string("1"), 20, 30)};
  h.push_back({"other", true, std::string("x"), 0, 10, outcome::ok, 3});
  h.push_back({"other", false, std::string("x"), 11, 12, outcome::ok, 3});
  CHECK(check(h).linearizable);
}

TEST_CASE("requests of one connection take effect in the order sent") {
  // Pipelined: both overlap in time, but the SET was sent first, so the
  // GET that returned nil cannot have come before it.
  std::vector<operation> h{
    {"k", true, "1", 0, 10, outcome::ok, 1, 7, 0},
    {"k", false, std::nullopt, 1, 11, outcome::ok, 1, 7, 1},
  };
  CHECK_FALSE(check(h).linearizable);
  // Without the session they could be ordered either way.
  h[0].session = h[1].session = 0;
  CHECK(check(h).linearizable);
  // An earlier write of unknown outcome either took effect before the
  // read or never: here it never did.
  h[0].session = h[1].session = 7;
  h[0].result = outcome::unknown;
  CHECK(check(h).linearizable);
}
