// paxoskv-loadgen: one closed-loop load generator for every system that
// deploy/bench compares, so each row is measured the same way.
//
//   paxoskv-loadgen --proto resp|etcd --targets HOST:PORT[,HOST:PORT...]
//                   --op set|get --clients N --requests R
//                   [--value-size 100] [--keys 1000] [--max-seconds 300]
//
// N connections, spread over the targets in turn; each sends one request,
// waits for its answer, and sends the next (no pipelining), until R
// requests were answered in all. Keys are drawn uniformly from
// key:0..key:K-1; values are --value-size bytes. `resp` speaks the Redis
// protocol (SET/GET); `etcd` speaks etcd v3's HTTP/JSON gateway
// (POST /v3/kv/put, and /v3/kv/range, which is a linearizable read).
// Prints one line: ops, seconds, ops/s, p50 and p99 latency (ms), errors.
// Exit status 1 when a connection fails or the time bound is hit.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio.hpp>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

struct options {
  std::string proto = "resp";
  std::vector<std::pair<std::string, std::string>> targets;
  std::string op = "set";
  size_t clients = 1;
  uint64_t requests = 10000;
  size_t value_size = 100;
  uint64_t keys = 1000;
  int max_seconds = 300;
};

std::string base64(const std::string& in) {
  static const char* t =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8)
                 | uint8_t(in[i + 2]);
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += t[(v >> 6) & 63];
    out += t[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += t[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

/// The length of the first complete reply in `b`, 0 if incomplete; sets
/// `error` for an error reply.
size_t resp_reply_length(const std::string& b, bool& error) {
  auto eol = b.find("\r\n");
  if (eol == std::string::npos)
    return 0;
  switch (b[0]) {
    case '+':
    case ':':
      return eol + 2;
    case '-':
      error = true;
      return eol + 2;
    case '$': {
      auto n = std::atoll(b.c_str() + 1);
      if (n < 0)
        return eol + 2;
      auto total = eol + 2 + static_cast<size_t>(n) + 2;
      return b.size() >= total ? total : 0;
    }
    default:
      error = true; // Not expected for SET/GET: count it, skip the line.
      return eol + 2;
  }
}

/// The length of the first complete HTTP/1.1 response in `b`, 0 if
/// incomplete; sets `error` unless the status is 200.
size_t http_reply_length(const std::string& b, bool& error) {
  auto head_end = b.find("\r\n\r\n");
  if (head_end == std::string::npos)
    return 0;
  auto body = head_end + 4;
  if (b.compare(0, 12, "HTTP/1.1 200") != 0)
    error = true;
  std::string head = b.substr(0, head_end);
  std::transform(head.begin(), head.end(), head.begin(), ::tolower);
  auto cl = head.find("content-length:");
  if (cl != std::string::npos) {
    auto n = static_cast<size_t>(std::atoll(head.c_str() + cl + 15));
    return b.size() >= body + n ? body + n : 0;
  }
  if (head.find("transfer-encoding: chunked") != std::string::npos) {
    size_t pos = body;
    for (;;) {
      auto e = b.find("\r\n", pos);
      if (e == std::string::npos)
        return 0;
      auto n = std::strtoull(b.c_str() + pos, nullptr, 16);
      pos = e + 2 + n + 2;
      if (pos > b.size())
        return 0;
      if (n == 0)
        return pos;
    }
  }
  return body; // No body.
}

struct run_state {
  options opt;
  std::string value;
  uint64_t issued = 0;
  uint64_t answered = 0;
  uint64_t errors = 0;
  std::vector<uint32_t> latencies_us;
  bool failed = false;
  std::string failure;
};

class client : public std::enable_shared_from_this<client> {
public:
  client(asio::io_context& io, run_state& rs, uint64_t seed)
    : sock_(io), rs_(rs), rng_(seed | 1) {
  }

  void start(const tcp::endpoint& ep, const std::string& host) {
    host_ = host;
    auto self = shared_from_this();
    sock_.async_connect(ep, [self](const boost::system::error_code& ec) {
      if (ec)
        return self->fail("connect: " + ec.message());
      self->sock_.set_option(tcp::no_delay(true));
      self->next();
    });
  }

private:
  void fail(const std::string& why) {
    if (!rs_.failed) {
      rs_.failed = true;
      rs_.failure = why;
    }
    boost::system::error_code ignored;
    sock_.close(ignored);
  }

  uint64_t draw() {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return rng_;
  }

  void next() {
    if (rs_.failed || rs_.issued >= rs_.opt.requests)
      return;
    ++rs_.issued;
    auto key = "key:" + std::to_string(draw() % rs_.opt.keys);
    bool set = rs_.opt.op == "set";
    out_.clear();
    if (rs_.opt.proto == "resp") {
      auto bulk = [&](const std::string& s) {
        out_ += "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
      };
      out_ += set ? "*3\r\n" : "*2\r\n";
      bulk(set ? "SET" : "GET");
      bulk(key);
      if (set)
        bulk(rs_.value);
    } else {
      std::string body = "{\"key\":\"" + base64(key) + "\"";
      if (set)
        body += ",\"value\":\"" + base64(rs_.value) + "\"";
      body += "}";
      out_ = std::string("POST ") + (set ? "/v3/kv/put" : "/v3/kv/range")
             + " HTTP/1.1\r\nHost: " + host_
             + "\r\nContent-Type: application/json\r\nContent-Length: "
             + std::to_string(body.size()) + "\r\n\r\n" + body;
    }
    sent_ = steady::now();
    auto self = shared_from_this();
    asio::async_write(sock_, asio::buffer(out_),
                      [self](const boost::system::error_code& ec, size_t) {
                        if (ec)
                          return self->fail("write: " + ec.message());
                        self->read();
                      });
  }

  void read() {
    auto self = shared_from_this();
    sock_.async_read_some(
      asio::buffer(chunk_),
      [self](const boost::system::error_code& ec, size_t n) {
        if (ec)
          return self->fail("read: " + ec.message());
        self->in_.append(self->chunk_.data(), n);
        bool error = false;
        auto len = self->rs_.opt.proto == "resp"
                     ? resp_reply_length(self->in_, error)
                     : http_reply_length(self->in_, error);
        if (len == 0)
          return self->read();
        self->in_.erase(0, len);
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                    steady::now() - self->sent_)
                    .count();
        self->rs_.latencies_us.push_back(static_cast<uint32_t>(us));
        ++self->rs_.answered;
        if (error)
          ++self->rs_.errors;
        self->next();
      });
  }

  tcp::socket sock_;
  run_state& rs_;
  uint64_t rng_;
  std::string host_;
  std::string out_;
  std::string in_;
  std::array<char, 16384> chunk_{};
  steady::time_point sent_;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "paxoskv-loadgen: %s\nusage: paxoskv-loadgen --proto resp|etcd "
               "--targets HOST:PORT[,HOST:PORT...] --op set|get --clients N "
               "--requests R [--value-size B] [--keys K] [--max-seconds S]\n",
               why);
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help")
      usage("closed-loop load for deploy/bench");
    if (i + 1 >= argc)
      usage(("missing value for " + a).c_str());
    std::string v = argv[++i];
    auto number = [&](uint64_t lo, uint64_t hi) {
      char* end = nullptr;
      auto n = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < lo || n > hi)
        usage((a + " must be a number from " + std::to_string(lo) + " to "
               + std::to_string(hi))
                .c_str());
      return n;
    };
    if (a == "--proto") {
      if (v != "resp" && v != "etcd")
        usage("--proto is resp or etcd");
      o.proto = v;
    } else if (a == "--op") {
      if (v != "set" && v != "get")
        usage("--op is set or get");
      o.op = v;
    } else if (a == "--targets") {
      size_t pos = 0;
      while (pos <= v.size()) {
        auto comma = v.find(',', pos);
        auto t = v.substr(pos, comma == std::string::npos ? std::string::npos
                                                          : comma - pos);
        auto colon = t.rfind(':');
        if (colon == std::string::npos || colon == 0)
          usage("a target is HOST:PORT");
        o.targets.emplace_back(t.substr(0, colon), t.substr(colon + 1));
        if (comma == std::string::npos)
          break;
        pos = comma + 1;
      }
    } else if (a == "--clients") {
      o.clients = number(1, 10000);
    } else if (a == "--requests") {
      o.requests = number(1, 1000000000);
    } else if (a == "--value-size") {
      o.value_size = number(0, 64 << 20);
    } else if (a == "--keys") {
      o.keys = number(1, 1000000000);
    } else if (a == "--max-seconds") {
      o.max_seconds = static_cast<int>(number(1, 86400));
    } else {
      usage(("unknown option " + a).c_str());
    }
  }
  if (o.targets.empty())
    usage("--targets is required");
  return o;
}

} // namespace

int main(int argc, char** argv) {
  run_state rs;
  rs.opt = parse(argc, argv);
  rs.value.assign(rs.opt.value_size, 'x');
  rs.latencies_us.reserve(rs.opt.requests);
  asio::io_context io;
  tcp::resolver resolver(io);
  std::vector<tcp::endpoint> eps;
  for (auto& [host, port] : rs.opt.targets) {
    boost::system::error_code ec;
    auto r = resolver.resolve(host, port, ec);
    if (ec || r.empty()) {
      std::fprintf(stderr, "paxoskv-loadgen: cannot resolve %s:%s\n",
                   host.c_str(), port.c_str());
      return 1;
    }
    eps.push_back(*r.begin());
  }
  auto start = steady::now();
  for (size_t i = 0; i < rs.opt.clients; ++i) {
    auto c = std::make_shared<client>(io, rs, 0x9E3779B97F4A7C15ull * (i + 1));
    auto t = i % eps.size();
    c->start(eps[t], rs.opt.targets[t].first);
  }
  asio::steady_timer bound(io, std::chrono::seconds(rs.opt.max_seconds));
  bool timed_out = false;
  bound.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) {
      timed_out = true;
      io.stop();
    }
  });
  // The run ends when every client is idle: the timer is the last work.
  while (!io.stopped()) {
    io.run_one();
    if (rs.answered >= rs.opt.requests || rs.failed)
      break;
  }
  auto secs = std::chrono::duration<double>(steady::now() - start).count();
  auto& l = rs.latencies_us;
  std::sort(l.begin(), l.end());
  auto pct = [&](double p) {
    if (l.empty())
      return 0.0;
    auto i = std::min(l.size() - 1, static_cast<size_t>(p * l.size()));
    return l[i] / 1000.0;
  };
  std::printf("ops=%llu seconds=%.3f rps=%.0f p50_ms=%.3f p99_ms=%.3f "
              "errors=%llu\n",
              static_cast<unsigned long long>(rs.answered), secs,
              secs > 0 ? rs.answered / secs : 0.0, pct(0.50), pct(0.99),
              static_cast<unsigned long long>(rs.errors));
  if (rs.failed)
    std::fprintf(stderr, "paxoskv-loadgen: %s\n", rs.failure.c_str());
  if (timed_out)
    std::fprintf(stderr, "paxoskv-loadgen: stopped after %d s\n",
                 rs.opt.max_seconds);
  return rs.failed || timed_out ? 1 : 0;
}
