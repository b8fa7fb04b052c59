#pragma once
// JSON from files a user hands us: nesting is bounded before parsing (a deeply
// nested document otherwise exhausts the stack in the library's recursive
// destructor and dump()), and values quoted in messages are cut short.
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
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

/// `value` as an integer in [min, max], or nothing when it is not a JSON
/// integer (1.5, 1e20, "7") or lies outside; unlike get<int64_t>(), never a
/// cast or a wrap (an unsigned value beyond int64_t is outside).
std::optional<int64_t> integer_value(const nlohmann::json& value, int64_t min = std::numeric_limits<int64_t>::min(),
                                     int64_t max = std::numeric_limits<int64_t>::max());

/// `object[key]` as an integer in [min, max]. nlohmann's own get<int64_t>()
/// casts whatever number it finds (1e20 becomes INT64_MIN, 1.5 becomes 1), so
/// integers of files a user can edit or damage are read through this one.
/// `source` names what holds the field ("run/checkpoint.pt: checkpoint
/// state"); fails naming it, the key and the value when `object` is not an
/// object, the key is missing, the value is not a JSON integer or it is out of
/// range.
int64_t integer_field(const nlohmann::json& object, const std::string& key, const std::string& source,
                      int64_t min = std::numeric_limits<int64_t>::min(),
                      int64_t max = std::numeric_limits<int64_t>::max());

/// `object[key]` as a finite number; fails like integer_field.
double number_field(const nlohmann::json& object, const std::string& key, const std::string& source);

/// `object[key]`, a JSON object (or of the type given); fails like
/// integer_field.
const nlohmann::json& child_field(const nlohmann::json& object, const std::string& key, const std::string& source,
                                  nlohmann::json::value_t type = nlohmann::json::value_t::object);

}  // namespace daas::core
