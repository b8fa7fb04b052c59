#include "daas/core/json.h"

#include "daas/core/error.h"

#include <fmt/format.h>
#include <cmath>

namespace daas::core {

nlohmann::json parse_json(const std::string& text, const std::string& source) {
  // A pre-scan of bracket depth outside strings: cheaper than a parser
  // callback and it stops before anything is allocated.
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      check(++depth <= kMaxJsonDepth, "{}: JSON nested more than {} levels deep at byte {}; expected at most {}",
            source, kMaxJsonDepth, i, kMaxJsonDepth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON ({})", source, e.what());
  }
}

std::string json_excerpt(const nlohmann::json& value, size_t max_chars) {
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > max_chars) text = text.substr(0, max_chars) + "...";
  return text;
}

namespace {

const nlohmann::json& field_of(const nlohmann::json& object, const std::string& key, const std::string& source) {
  check(object.is_object(), "{} is {}; expected a JSON object", source, json_excerpt(object));
  const auto found = object.find(key);
  check(found != object.end(), "{} has no \"{}\"", source, key);
  return *found;
}

}  // namespace

std::optional<int64_t> integer_value(const nlohmann::json& value, int64_t min, int64_t max) {
  if (value.is_number_unsigned()) {
    const uint64_t n = value.get<uint64_t>();
    if (max >= 0 && n <= static_cast<uint64_t>(max) && (min <= 0 || n >= static_cast<uint64_t>(min))) {
      return static_cast<int64_t>(n);
    }
  } else if (value.is_number_integer()) {
    const int64_t n = value.get<int64_t>();
    if (n >= min && n <= max) return n;
  }
  return std::nullopt;
}

int64_t integer_field(const nlohmann::json& object, const std::string& key, const std::string& source, int64_t min,
                      int64_t max) {
  const auto& value = field_of(object, key, source);
  const auto integer = integer_value(value, min, max);
  const bool no_min = min == std::numeric_limits<int64_t>::min();
  const bool no_max = max == std::numeric_limits<int64_t>::max();
  check(integer.has_value(), "{} field \"{}\" = {}; expected an integer{}", source, key, json_excerpt(value),
        no_min && no_max ? std::string()
        : no_max         ? fmt::format(" of at least {}", min)
        : no_min         ? fmt::format(" of at most {}", max)
                         : fmt::format(" in [{}, {}]", min, max));
  return *integer;
}

const nlohmann::json& child_field(const nlohmann::json& object, const std::string& key, const std::string& source,
                                  nlohmann::json::value_t type) {
  const auto& value = field_of(object, key, source);
  check(value.type() == type, "{} field \"{}\" = {}; expected a JSON {}", source, key, json_excerpt(value),
        nlohmann::json(type).type_name());
  return value;
}

double number_field(const nlohmann::json& object, const std::string& key, const std::string& source) {
  const auto& value = field_of(object, key, source);
  check(value.is_number() && std::isfinite(value.get<double>()), "{} field \"{}\" = {}; expected a finite number",
        source, key, json_excerpt(value));
  return value.get<double>();
}

}  // namespace daas::core
