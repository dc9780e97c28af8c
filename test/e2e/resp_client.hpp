// A minimal blocking RESP client for the end-to-end tests: one request at a
// time (call) or pipelined (send, then reply per request), every read
// bounded by a deadline. No doctest macros, so threads may use it.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "protocol/resp.hpp"
#include "test/e2e/harness.hpp"

namespace paxoskv::e2e {

using clock_type = std::chrono::steady_clock;

/// A whole RESP2 reply: '+', '-', ':', '$' (nil when `nil`) or '*' (nil
/// array when `nil`) with its elements.
struct resp_value {
  char type = 0;
  bool nil = false;
  std::string text;
  std::vector<resp_value> items;

  /// RESP-like text for messages.
  std::string show() const {
    if (nil)
      return type == '*' ? "(nil array)" : "(nil)";
    if (type == '*') {
      std::string out = "[";
      for (size_t i = 0; i < items.size(); ++i)
        out += (i ? ", " : "") + items[i].show();
      return out + "]";
    }
    return std::string(1, type) + text;
  }
  friend bool operator==(const resp_value& a, const resp_value& b) {
    return a.type == b.type && a.nil == b.nil && a.text == b.text
           && a.items == b.items;
  }
  friend bool operator<(const resp_value& a, const resp_value& b) {
    return a.show() < b.show();
  }
};

/// A minimal blocking RESP client with a deadline per reply.
class resp_client {
public:
  ~resp_client() { disconnect(); }

  bool connect(uint16_t port) {
    disconnect();
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      disconnect();
      return false;
    }
    return true;
  }

  /// Connects to a Unix socket (a redis-server started by a test).
  bool connect_unix(const std::string& path) {
    disconnect();
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      disconnect();
      return false;
    }
    return true;
  }

  /// Sends a request and reads its whole reply.
  bool call_value(const std::vector<std::string>& req, resp_value& v,
                  ms deadline) {
    return send(encode(req)) && value(v, clock_type::now() + deadline);
  }

  /// Reads one whole reply, nested arrays included, until `end`.
  bool value(resp_value& v, clock_type::time_point end, int depth = 0) {
    std::string line;
    if (depth > 64 || !read_line(line, end) || line.empty())
      return false;
    v = resp_value{};
    v.type = line[0];
    auto rest = line.substr(1);
    switch (v.type) {
      case '+':
      case '-':
      case ':':
        v.text = rest;
        return true;
      case '$': {
        if (rest == "-1") {
          v.nil = true;
          return true;
        }
        auto len = std::stoul(rest);
        if (!fill(len + 2, end))
          return false;
        v.text = buf_.substr(0, len);
        buf_.erase(0, len + 2);
        return true;
      }
      case '*': {
        if (rest == "-1") {
          v.nil = true;
          return true;
        }
        auto n = std::stoul(rest);
        v.items.resize(n);
        for (auto& item : v.items)
          if (!value(item, end, depth + 1))
            return false;
        return true;
      }
      default:
        return false;
    }
  }

  void disconnect() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
    buf_.clear();
  }

  bool connected() const { return fd_ >= 0; }

  /// Sends a request; returns the reply's first line ("+OK", "$5", "-ERR")
  /// and, for a bulk, its body. False on connection loss or timeout.
  bool call(const std::vector<std::string>& req, std::string& head,
            std::optional<std::string>& bulk, ms deadline) {
    return send(encode(req)) && reply(head, bulk, clock_type::now() + deadline);
  }

  /// One request in RESP.
  static std::string encode(const std::vector<std::string>& req) {
    std::string out;
    resp::append_array_header(out, req.size());
    for (auto& a : req)
      resp::append_bulk(out, a);
    return out;
  }

  /// Sends bytes as they are (several requests: a pipeline).
  bool send(const std::string& out) {
    return ::send(fd_, out.data(), out.size(), MSG_NOSIGNAL)
           == static_cast<ssize_t>(out.size());
  }

  /// Reads the next reply, as `call` does, until `end`.
  bool reply(std::string& head, std::optional<std::string>& bulk,
             clock_type::time_point end) {
    if (!read_line(head, end))
      return false;
    bulk.reset();
    if (head.size() > 1 && head[0] == '$' && head != "$-1") {
      auto len = std::stoul(head.substr(1));
      if (!fill(len + 2, end))
        return false;
      bulk = buf_.substr(0, len);
      buf_.erase(0, len + 2);
    }
    return true;
  }

private:
  bool fill(size_t n, clock_type::time_point end) {
    char tmp[4096];
    while (buf_.size() < n) {
      auto left = std::chrono::duration_cast<ms>(end - clock_type::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0
          || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        return false;
      auto k = ::read(fd_, tmp, sizeof(tmp));
      if (k <= 0)
        return false;
      buf_.append(tmp, static_cast<size_t>(k));
    }
    return true;
  }

  bool read_line(std::string& line, clock_type::time_point end) {
    for (;;) {
      auto i = buf_.find("\r\n");
      if (i != std::string::npos) {
        line = buf_.substr(0, i);
        buf_.erase(0, i + 2);
        return true;
      }
      if (!fill(buf_.size() + 1, end))
        return false;
    }
  }

  int fd_ = -1;
  std::string buf_;
};

/// A socket listening on a loopback port the OS chose, that accepts (the
/// kernel does) and never answers. Closed when it goes away.
struct silent_listener {
  int fd = -1;
  uint16_t port = 0;
  silent_listener();
  ~silent_listener() { ::close(fd); }
};

inline silent_listener::silent_listener() {
  fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0
      && ::listen(fd, 8) == 0
      && ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
}

} // namespace paxoskv::e2e
