// RESP2, the Redis protocol: an incremental request parser and the reply
// encoders. Pure code, no I/O.
//
// The parser accepts what Redis accepts from clients: arrays of bulk strings
// ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") and inline commands ("GET k\r\n").
// Every length is bounded; anything malformed is a protocol error after
// which the connection must be closed (like Redis, the parser does not try
// to resynchronise).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace paxoskv::resp {

struct limits {
  /// Largest bulk string in a request (Redis: proto-max-bulk-len).
  uint64_t bulk_bytes_max = uint64_t{512} << 20;
  /// Most elements in one request array (Redis: 1024 * 1024).
  uint64_t array_elements_max = 1024 * 1024;
  /// Longest inline command line (Redis: 64 KiB).
  size_t inline_bytes_max = 64 * 1024;
  /// Largest whole request, all bulks included.
  uint64_t request_bytes_max = uint64_t{512} << 20;
};

class parser {
public:
  enum class result { incomplete, request, error };

  explicit parser(limits l = {});

  /// Appends received bytes.
  void feed(std::string_view bytes);

  /// Takes the next complete request out of the buffer. `request` holds the
  /// command and its arguments; on `error`, `error` says why (a message for
  /// the client, starting "Protocol error: ").
  result next(std::vector<std::string>& request, std::string& error);

  /// Bytes received and not yet consumed by a complete request.
  size_t buffered() const { return buf_.size() - pos_; }

private:
  result parse_array(std::vector<std::string>& out, std::string& error);
  result parse_inline(std::vector<std::string>& out, std::string& error);
  /// Reads a "\r\n"-terminated line starting at `at`; npos if incomplete.
  size_t line_end(size_t at) const;
  void compact();

  limits limits_;
  std::string buf_;
  size_t pos_ = 0;
  bool failed_ = false;
};

// -- replies ------------------------------------------------------------------

void append_simple(std::string& out, std::string_view s);   // +OK
void append_error(std::string& out, std::string_view msg);  // -ERR ...
void append_integer(std::string& out, int64_t x);           // :42
void append_bulk(std::string& out, std::string_view s);     // $3\r\nabc
void append_nil(std::string& out);                          // $-1
void append_array_header(std::string& out, size_t n);       // *n

} // namespace paxoskv::resp
