#pragma once
// What the search learns, epoch by epoch, for reading back later (daas
// report): alpha.jsonl holds softmax(α) of every edge of the normal and the
// reduction cell; policy_history.jsonl a summary of the policy β: how likely
// each op is to be applied to an image, the distribution of its levels when
// it is, every sub-policy's selection probability and the top sub-policies.
// One JSON object per line and epoch, appended as the run goes; a resumed
// run drops what came after its checkpoint, as metrics.jsonl does.
#include <torch/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "daas/augment/searchable_policy.h"
#include "daas/core/metrics.h"

namespace daas::search {

/// `value` rounded to `digits` significant digits (records stay short and
/// readable: 0.1252, not 0.12519872188568115).
double round_significant(double value, int digits);

/// {"epoch", "ops": [8 names], "normal": [[8 probabilities] per edge], "reduce": ...}:
/// softmax over the ops of each row of α_normal and α_reduce ([edges, 8]).
nlohmann::json alpha_record(int64_t epoch, const torch::Tensor& alpha_normal, const torch::Tensor& alpha_reduce);

/// {"epoch", "ops": [15 names], "levels": M,
///  "application": [per op: P(an image gets the op) = Σ softmax(φ)_s σ(θ_sj) over the slots holding it],
///  "level_distribution": [per op: P(level | applied), M values], "mean_level": [per op],
///  "sub_policy_probability": [105, softmax φ in sub_policy_ops() order],
///  "top": [{"ops": [a, b], "probability", "apply": [p_a, p_b], "level": [most likely levels]}, ...]}
nlohmann::json policy_record(int64_t epoch, const augment::SearchablePolicyImpl& policy, int64_t top);

/// The two files of a run folder; each is written only when the run has
/// what it records (no α in policy mode, no β in arch mode).
class SearchHistory {
 public:
  SearchHistory(const std::string& run_dir, int64_t keep_until_epoch, bool has_alpha, bool has_policy);
  /// Appends epoch `epoch`'s records. `alphas`: α_normal, α_reduce (or empty).
  void append(int64_t epoch, const std::vector<torch::Tensor>& alphas, const augment::SearchablePolicy& policy);

  static constexpr const char* kAlphaFile = "alpha.jsonl";
  static constexpr const char* kPolicyFile = "policy_history.jsonl";
  static constexpr int64_t kTopSubPolicies = 10;

 private:
  std::optional<core::MetricsLog> alpha_;
  std::optional<core::MetricsLog> policy_;
};

}  // namespace daas::search
