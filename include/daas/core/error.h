#pragma once
// One exception type for every user-facing failure: bad files, bad settings,
// numerical blow-ups. The CLI prints what() and exits non-zero.
#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace daas::core {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A failure caused by how a command was called (an option's value out of
/// range, a missing or conflicting option): the CLI exits with 2, as for an
/// unknown option, instead of 1.
class UsageError : public Error {
 public:
  using Error::Error;
};

/// Throws daas::core::Error with a fmt-formatted message. Messages name the thing,
/// the value found and what was expected.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

/// fail() unless `condition` holds.
template <typename... Args>
void check(bool condition, fmt::format_string<Args...> format, Args&&... args) {
  if (!condition) fail(format, std::forward<Args>(args)...);
}

/// Throws daas::core::UsageError with a fmt-formatted message.
template <typename... Args>
[[noreturn]] void usage_fail(fmt::format_string<Args...> format, Args&&... args) {
  throw UsageError(fmt::format(format, std::forward<Args>(args)...));
}

/// usage_fail() unless `condition` holds.
template <typename... Args>
void usage_check(bool condition, fmt::format_string<Args...> format, Args&&... args) {
  if (!condition) usage_fail(format, std::forward<Args>(args)...);
}

}  // namespace daas::core
