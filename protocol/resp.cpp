#include "protocol/resp.hpp"

#include <cassert>

namespace paxoskv::resp {

namespace {

/// Parses a decimal integer (optionally negative) filling all of `s`.
bool parse_int(std::string_view s, int64_t& out) {
  if (s.empty() || s.size() > 19)
    return false;
  bool negative = s[0] == '-';
  if (negative)
    s.remove_prefix(1);
  if (s.empty())
    return false;
  int64_t x = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
    x = x * 10 + (c - '0');
  }
  out = negative ? -x : x;
  return true;
}

} // namespace

parser::parser(limits l) : limits_(l) {
}

void parser::feed(std::string_view bytes) {
  buf_.append(bytes.data(), bytes.size());
}

size_t parser::line_end(size_t at) const {
  auto i = buf_.find("\r\n", at);
  return i == std::string::npos ? std::string::npos : i;
}

void parser::compact() {
  // Drop consumed bytes once they dominate the buffer.
  if (pos_ > 4096 && pos_ * 2 > buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
}

parser::result parser::next(std::vector<std::string>& request,
                            std::string& error) {
  request.clear();
  if (failed_) {
    error = "Protocol error: connection is in an error state";
    return result::error;
  }
  // Empty requests (a blank line, "*0") are skipped as Redis does; every
  // round consumes input, so the loop ends.
  for (;;) {
    if (pos_ >= buf_.size())
      return result::incomplete;
    auto r = buf_[pos_] == '*' ? parse_array(request, error)
                               : parse_inline(request, error);
    if (r == result::error)
      failed_ = true;
    compact();
    if (r != result::request || !request.empty())
      return r;
  }
}

parser::result parser::parse_array(std::vector<std::string>& out,
                                   std::string& error) {
  size_t at = pos_;
  auto end = line_end(at);
  if (end == std::string::npos) {
    if (buf_.size() - at > 32) {
      error = "Protocol error: invalid multibulk length";
      return result::error;
    }
    return result::incomplete;
  }
  int64_t count = 0;
  if (!parse_int(std::string_view(buf_).substr(at + 1, end - at - 1), count)
      || count > static_cast<int64_t>(limits_.array_elements_max)) {
    error = "Protocol error: invalid multibulk length";
    return result::error;
  }
  at = end + 2;
  uint64_t total = 0;
  std::vector<std::pair<size_t, size_t>> spans;
  spans.reserve(static_cast<size_t>(std::max<int64_t>(0, std::min<int64_t>(
    count, 1024))));
  for (int64_t i = 0; i < count; ++i) {
    if (at >= buf_.size())
      return result::incomplete;
    if (buf_[at] != '$') {
      error = std::string("Protocol error: expected '$', got '") + buf_[at]
              + "'";
      return result::error;
    }
    end = line_end(at);
    if (end == std::string::npos) {
      if (buf_.size() - at > 32) {
        error = "Protocol error: invalid bulk length";
        return result::error;
      }
      return result::incomplete;
    }
    int64_t len = 0;
    if (!parse_int(std::string_view(buf_).substr(at + 1, end - at - 1), len)
        || len < 0 || static_cast<uint64_t>(len) > limits_.bulk_bytes_max) {
      error = "Protocol error: invalid bulk length";
      return result::error;
    }
    total += static_cast<uint64_t>(len);
    if (total > limits_.request_bytes_max) {
      error = "Protocol error: request too large";
      return result::error;
    }
    at = end + 2;
    if (buf_.size() - at < static_cast<size_t>(len) + 2)
      return result::incomplete;
    if (buf_[at + len] != '\r' || buf_[at + len + 1] != '\n') {
      error = "Protocol error: bulk string not terminated by CRLF";
      return result::error;
    }
    spans.emplace_back(at, static_cast<size_t>(len));
    at += static_cast<size_t>(len) + 2;
  }
  // Complete: only now copy the arguments out.
  out.reserve(spans.size());
  for (auto [start, len] : spans)
    out.emplace_back(buf_, start, len);
  pos_ = at;
  return result::request;
}

parser::result parser::parse_inline(std::vector<std::string>& out,
                                    std::string& error) {
  auto nl = buf_.find('\n', pos_);
  if (nl == std::string::npos) {
    if (buf_.size() - pos_ > limits_.inline_bytes_max) {
      error = "Protocol error: too big inline request";
      return result::error;
    }
    return result::incomplete;
  }
  if (nl - pos_ > limits_.inline_bytes_max) {
    error = "Protocol error: too big inline request";
    return result::error;
  }
  auto line = std::string_view(buf_).substr(pos_, nl - pos_);
  if (!line.empty() && line.back() == '\r')
    line.remove_suffix(1);
  // Split on spaces, honouring double quotes with backslash escapes.
  std::string cur;
  bool in_arg = false, quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '\\' && i + 1 < line.size()) {
        cur.push_back(line[++i]);
      } else if (c == '"') {
        quoted = false;
        if (i + 1 < line.size() && line[i + 1] != ' ') {
          error = "Protocol error: unbalanced quotes in request";
          return result::error;
        }
      } else {
        cur.push_back(c);
      }
    } else if (c == '"' && !in_arg) {
      quoted = in_arg = true;
    } else if (c == ' ' || c == '\t') {
      if (in_arg) {
        out.push_back(std::move(cur));
        cur.clear();
        in_arg = false;
      }
    } else {
      cur.push_back(c);
      in_arg = true;
    }
  }
  if (quoted) {
    error = "Protocol error: unbalanced quotes in request";
    return result::error;
  }
  if (in_arg)
    out.push_back(std::move(cur));
  pos_ = nl + 1;
  return result::request;
}

void append_simple(std::string& out, std::string_view s) {
  out += '+';
  out += s;
  out += "\r\n";
}

void append_error(std::string& out, std::string_view msg) {
  out += '-';
  // An error line cannot hold a line break.
  for (char c : msg)
    out += (c == '\r' || c == '\n') ? ' ' : c;
  out += "\r\n";
}

void append_integer(std::string& out, int64_t x) {
  out += ':';
  out += std::to_string(x);
  out += "\r\n";
}

void append_bulk(std::string& out, std::string_view s) {
  out += '$';
  out += std::to_string(s.size());
  out += "\r\n";
  out += s;
  out += "\r\n";
}

void append_nil(std::string& out) {
  out += "$-1\r\n";
}

void append_array_header(std::string& out, size_t n) {
  out += '*';
  out += std::to_string(n);
  out += "\r\n";
}

} // namespace paxoskv::resp
