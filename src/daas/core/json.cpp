#include "daas/core/json.h"

#include "daas/core/error.h"

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

}  // namespace daas::core
