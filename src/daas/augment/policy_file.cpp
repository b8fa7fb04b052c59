// Policy files: the Fast-AutoAugment / DADA list of sub-policies, each a list
// of [op, probability, level] with level in [0, 1].
#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "daas/augment/policy.h"
#include "daas/core/error.h"
#include "daas/core/files.h"
#include "daas/core/json.h"

namespace daas::augment {
namespace {

double unit_number(const nlohmann::json& value, const std::string& where, const char* what) {
  core::check(value.is_number(), "{}: {} {} is not a number; expected a number in [0, 1]", where, what,
              core::json_excerpt(value));
  const double v = value.get<double>();
  core::check(std::isfinite(v) && v >= 0 && v <= 1, "{}: {} {} is out of range; expected a number in [0, 1]", where,
              what, core::json_excerpt(value));
  return v;
}

}  // namespace

std::vector<SubPolicy> parse_policy(const nlohmann::json& json, const std::string& source) {
  const nlohmann::json* list = &json;
  if (json.is_object()) {
    core::check(json.contains("sub_policies"),
                "{}: a JSON object without \"sub_policies\"; expected a list of sub-policies", source);
    list = &json.at("sub_policies");
  }
  core::check(list->is_array() && !list->empty(), "{}: expected a non-empty JSON list of sub-policies", source);
  std::vector<SubPolicy> policy;
  for (size_t s = 0; s < list->size(); ++s) {
    const auto& entry = (*list)[s];
    const std::string where = fmt::format("{}: sub-policy {}", source, s);
    core::check(entry.is_array() && !entry.empty(), "{}: {} is not a non-empty list of [op, probability, level]", where,
                core::json_excerpt(entry));
    SubPolicy sub;
    for (size_t j = 0; j < entry.size(); ++j) {
      const auto& slot = entry[j];
      const std::string at = fmt::format("{}, op {}", where, j);
      core::check(slot.is_array() && slot.size() == 3 && slot[0].is_string(), "{}: {} is not [op, probability, level]",
                  at, core::json_excerpt(slot));
      PolicyOp op;
      try {
        op.op = op_from_name(slot[0].get<std::string>());
      } catch (const core::Error& e) {
        core::fail("{}: {}", at, e.what());
      }
      op.probability = unit_number(slot[1], at, "probability");
      op.level = unit_number(slot[2], at, "level");
      sub.push_back(op);
    }
    policy.push_back(std::move(sub));
  }
  return policy;
}

std::vector<SubPolicy> read_policy_file(const std::string& path) {
  return parse_policy(core::parse_json(core::read_file(path), path), path);
}

nlohmann::json policy_to_json(const std::vector<SubPolicy>& policy) {
  auto out = nlohmann::json::array();
  for (const auto& sub : policy) {
    auto entry = nlohmann::json::array();
    for (const auto& op : sub) entry.push_back({op_name(op.op), op.probability, op.level});
    out.push_back(entry);
  }
  return out;
}

}  // namespace daas::augment
