// Builds one visitor from several lambdas, for exhaustive std::visit calls:
// a visit without a catch-all fails to compile when a type is not handled.
#pragma once

namespace paxoskv {

template <class... Fs>
struct overload : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overload(Fs...) -> overload<Fs...>;

} // namespace paxoskv
