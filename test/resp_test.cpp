#include <doctest/doctest.h>

#include <chrono>
#include <random>

#include "protocol/resp.hpp"

using namespace paxoskv;
using req = std::vector<std::string>;

namespace {

/// Feeds `input` in one piece and collects every request until the parser
/// needs more or fails.
struct outcome {
  std::vector<req> requests;
  bool failed = false;
  std::string error;
};

outcome parse_all(const std::string& input, resp::limits l = {}) {
  resp::parser p(l);
  p.feed(input);
  outcome o;
  req r;
  for (;;) {
    auto res = p.next(r, o.error);
    if (res == resp::parser::result::request) {
      o.requests.push_back(r);
      continue;
    }
    o.failed = res == resp::parser::result::error;
    return o;
  }
}

std::string encode(const req& r) {
  std::string out;
  resp::append_array_header(out, r.size());
  for (auto& a : r)
    resp::append_bulk(out, a);
  return out;
}

} // namespace

TEST_CASE("RESP arrays of bulk strings parse into requests") {
  auto o = parse_all("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n");
  REQUIRE_FALSE(o.failed);
  REQUIRE(o.requests.size() == 2);
  CHECK(o.requests[0] == req{"GET", "k"});
  CHECK(o.requests[1] == req{"PING"});
}

TEST_CASE("bulk strings are binary-safe") {
  std::string value("a\r\nb\0c", 6);
  auto o = parse_all(encode({"SET", "k", value}));
  REQUIRE(o.requests.size() == 1);
  CHECK(o.requests[0][2] == value);
}

TEST_CASE("a request split at every byte boundary parses the same") {
  auto wire = encode({"SET", "key", "some value"}) + encode({"GET", "key"});
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    resp::parser p;
    std::vector<req> got;
    req r;
    std::string err;
    p.feed(wire.substr(0, cut));
    while (p.next(r, err) == resp::parser::result::request)
      got.push_back(r);
    p.feed(wire.substr(cut));
    while (p.next(r, err) == resp::parser::result::request)
      got.push_back(r);
    CAPTURE(cut);
    CHECK(got == std::vector<req>{{"SET", "key", "some value"}, {"GET", "key"}});
    CHECK(p.buffered() == 0);
  }
}

TEST_CASE("inline commands split on spaces and honour quotes") {
  auto o = parse_all("SET k \"two words\"\r\nPING\n\r\n\r\nGET  k\r\n");
  REQUIRE_FALSE(o.failed);
  REQUIRE(o.requests.size() == 3);
  CHECK(o.requests[0] == req{"SET", "k", "two words"});
  CHECK(o.requests[1] == req{"PING"});
  CHECK(o.requests[2] == req{"GET", "k"});
}

TEST_CASE("empty requests are skipped without recursion") {
  std::string many(200000, '\n');
  auto o = parse_all(many + "*0\r\n*-1\r\nPING\r\n");
  REQUIRE_FALSE(o.failed);
  REQUIRE(o.requests.size() == 1);
  CHECK(o.requests[0] == req{"PING"});
}

TEST_CASE("malformed requests are protocol errors") {
  struct bad {
    std::string input;
    const char* why;
  } cases[] = {
    {"*x\r\n", "invalid multibulk length"},
    {"*2\r\n$3\r\nGET\r\n:1\r\n", "expected '$', got ':'"},
    {"*1\r\n$-5\r\n", "invalid bulk length"},
    {"*1\r\n$abc\r\n", "invalid bulk length"},
    {"*1\r\n$3\r\nGETxx", "not terminated by CRLF"},
    {"*99999999999\r\n", "invalid multibulk length"},
    {"*1\r\n$999999999999\r\n", "invalid bulk length"},
    {"SET k \"open\r\n", "unbalanced quotes"},
    {"SET k \"a\"b\r\n", "unbalanced quotes"},
    {"*" + std::string(40, '1'), "invalid multibulk length"},
  };
  for (auto& b : cases) {
    CAPTURE(b.input);
    auto o = parse_all(b.input);
    CHECK(o.failed);
    CHECK(o.error.rfind("Protocol error: ", 0) == 0);
    CHECK(o.error.find(b.why) != std::string::npos);
  }
}

TEST_CASE("limits bound inline lines, bulks, arrays and whole requests") {
  resp::limits l;
  l.inline_bytes_max = 16;
  l.bulk_bytes_max = 8;
  l.array_elements_max = 3;
  l.request_bytes_max = 12;
  CHECK(parse_all(std::string(17, 'a'), l).failed);
  CHECK(parse_all(encode({"SET", "k", "123456789"}), l).failed);
  CHECK(parse_all(encode({"A", "B", "C", "D"}), l).failed);
  CHECK(parse_all(encode({"MSET", "kk", "vvvvvvv"}), l).failed); // 13 > 12
  CHECK_FALSE(parse_all(encode({"SET", "k", "12345678"}), l).failed);
}

TEST_CASE("after a protocol error the parser stays failed") {
  resp::parser p;
  p.feed("*x\r\n");
  req r;
  std::string err;
  CHECK(p.next(r, err) == resp::parser::result::error);
  p.feed("PING\r\n");
  CHECK(p.next(r, err) == resp::parser::result::error);
}

TEST_CASE("random bytes never crash the parser or break its bounds") {
  // Seeded, so a failure replays; bounded in time.
  std::mt19937_64 rng(4242);
  resp::limits l;
  l.bulk_bytes_max = 1024;
  l.inline_bytes_max = 1024;
  l.array_elements_max = 64;
  l.request_bytes_max = 4096;
  const char alphabet[] = "*$:+-\r\n0123456789 \"\\abcXYZ";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  uint64_t inputs = 0, requests = 0, errors = 0;
  while (std::chrono::steady_clock::now() < deadline && inputs < 200000) {
    resp::parser p(l);
    std::string err;
    req r;
    for (int chunk = 0; chunk < 8; ++chunk) {
      std::string bytes(rng() % 64, '\0');
      for (auto& c : bytes)
        c = rng() % 4 == 0 ? static_cast<char>(rng())
                           : alphabet[rng() % (sizeof(alphabet) - 1)];
      p.feed(bytes);
      resp::parser::result res;
      while ((res = p.next(r, err)) == resp::parser::result::request) {
        ++requests;
        REQUIRE(!r.empty());
        REQUIRE(r.size() <= l.array_elements_max);
      }
      if (res == resp::parser::result::error) {
        ++errors;
        REQUIRE(err.rfind("Protocol error: ", 0) == 0);
        break;
      }
      // Whatever is buffered is bounded by what one request may hold.
      REQUIRE(p.buffered() <= 8 * 64);
    }
    ++inputs;
  }
  MESSAGE(inputs << " random inputs, " << requests << " requests, " << errors
                 << " protocol errors");
  CHECK(inputs > 1000);
}

TEST_CASE("replies encode as RESP2") {
  std::string out;
  resp::append_simple(out, "OK");
  resp::append_error(out, "ERR bad\r\nthing");
  resp::append_integer(out, -3);
  resp::append_bulk(out, "hi");
  resp::append_nil(out);
  resp::append_array_header(out, 2);
  CHECK(out == "+OK\r\n-ERR bad  thing\r\n:-3\r\n$2\r\nhi\r\n$-1\r\n*2\r\n");
}
