// A CAF-0.17-style inspector that renders JSON, used for `--json` status
// output. It walks the same inspect overloads CAF uses for printing and
// serialization; `field` annotations give member names.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <caf/meta/annotation.hpp>
#include <caf/meta/type_name.hpp>

#include "protocol/types.hpp"

namespace paxoskv {

class json_inspector {
public:
  using result_type = void;
  static constexpr bool reads_state = true;
  static constexpr bool writes_state = false;

  /// `text`: "name=value name=value" for people (status without --json);
  /// otherwise JSON.
  explicit json_inspector(std::string& out, bool text = false)
    : out_(out), text_(text) {}

  template <class... Ts>
  void operator()(Ts&&... xs) {
    bool object = false;
    size_t index = 0;
    const char* pending_name = nullptr;
    ++depth_;
    (visit(xs, object, index, pending_name), ...);
    --depth_;
    if (object && (!text_ || depth_ > 0))
      out_ += '}';
  }

private:
  template <class T>
  void visit(T& x, bool& object, size_t& index, const char*& name) {
    using type = std::decay_t<T>;
    if constexpr (std::is_same_v<type, caf::meta::type_name_t>) {
      if (!text_ || depth_ > 1)
        out_ += '{';
      object = true;
    } else if constexpr (std::is_same_v<type, field_name_t>) {
      name = x.value;
    } else if constexpr (std::is_base_of_v<caf::meta::annotation, type>) {
      // Other annotations carry no data.
    } else {
      if (object) {
        if (index > 0)
          out_ += text_ ? ' ' : ',';
        if (!text_)
          out_ += '"';
        out_ += name ? name : "_" + std::to_string(index);
        out_ += text_ ? "=" : "\":";
        name = nullptr;
        ++index;
      }
      value(static_cast<const type&>(x));
    }
  }

  void value(const bool& x) { out_ += x ? "true" : "false"; }
  void value(const std::string& x) {
    if (text_) {
      out_ += x;
      return;
    }
    out_ += '"';
    for (char c : x) {
      if (c == '"' || c == '\\') {
        out_ += '\\';
        out_ += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        static const char* hex = "0123456789abcdef";
        out_ += "\\u00";
        out_ += hex[(c >> 4) & 0xf];
        out_ += hex[c & 0xf];
      } else {
        out_ += c;
      }
    }
    out_ += '"';
  }
  void value(const ballot& b) {
    if (text_)
      out_ += "(" + std::to_string(b.round) + "," + std::to_string(b.node)
              + ")";
    else
      out_ += "{\"round\":" + std::to_string(b.round)
              + ",\"node\":" + std::to_string(b.node) + "}";
  }
  template <class T>
  void value(const std::vector<T>& xs) {
    out_ += '[';
    for (size_t i = 0; i < xs.size(); ++i) {
      if (i > 0)
        out_ += ',';
      value(xs[i]);
    }
    out_ += ']';
  }
  template <class T>
  std::enable_if_t<std::is_arithmetic_v<T>> value(const T& x) {
    out_ += std::to_string(x);
  }
  template <class T>
  std::enable_if_t<!std::is_arithmetic_v<T>> value(const T& x) {
    // Nested structs render through their own inspect overloads, which
    // take a mutable reference but are only read here.
    inspect(*this, const_cast<T&>(x));
  }

  std::string& out_;
  bool text_ = false;
  int depth_ = 0;
};

template <class T>
std::string to_json(T& x) {
  std::string out;
  json_inspector f{out};
  inspect(f, x);
  return out;
}

/// "name=value name=value ...", through the same inspect overloads.
template <class T>
std::string to_text(T& x) {
  std::string out;
  json_inspector f{out, true};
  inspect(f, x);
  return out;
}

} // namespace paxoskv
