#pragma once
// JSON from files a user hands us: nesting is bounded before parsing (a deeply
// nested document otherwise exhausts the stack in the library's recursive
// destructor and dump()), and values quoted in messages are cut short.
#include <nlohmann/json.hpp>
#include <string>

namespace daas::core {

/// Deepest nesting of arrays and objects any daas JSON file needs, with room.
constexpr size_t kMaxJsonDepth = 32;

/// Parses `text`; fails naming `source` when it is not JSON or nests deeper
/// than kMaxJsonDepth.
nlohmann::json parse_json(const std::string& text, const std::string& source);

/// `value.dump()`, cut to about `max_chars` characters (with "..."), for
/// quoting a value of a user's file in an error message.
std::string json_excerpt(const nlohmann::json& value, size_t max_chars = 60);

}  // namespace daas::core
