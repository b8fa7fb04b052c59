#pragma once
// The searchable policy (docs/method.md §3): 105 two-op sub-policies (unordered
// pairs of the 15 search ops) with selection logits φ [105], application
// logits θ [105, 2] and magnitude logits μ [105, 2, M]. The search loop calls
//   sample(N, generator) -> apply(images, sample, generator) -> log_prob(sample)
// and takes a REINFORCE step on policy_parameters().
#include <ATen/core/Generator.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <array>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "daas/augment/ops.h"
#include "daas/augment/policy.h"

namespace daas::augment {

constexpr int64_t kSubPolicyCount = kSearchOpCount * (kSearchOpCount - 1) / 2;  // C(15, 2) = 105
static_assert(kSubPolicyCount == 105, "a new search op changes the sub-policies and the shape of beta");

/// The ops of each sub-policy: pairs (i, j), i < j, in lexicographic order.
const std::array<std::array<Op, 2>, kSubPolicyCount>& sub_policy_ops();

/// Most magnitude levels a searchable policy may have (it bounds what a
/// policy_search.json can make the program allocate).
constexpr int64_t kMaxMagnitudeLevels = 101;

/// The magnitude levels M of the β object `beta` of an exported policy
/// (`source` names the file): an integer in [2, kMaxMagnitudeLevels], or
/// one error naming the file and the field.
int64_t beta_levels(const nlohmann::json& beta, const std::string& source);

struct SearchablePolicyOptions {
  /// M: magnitude levels, evenly spaced in [0, 1].
  TORCH_ARG(int64_t, levels) = 11;
  /// Cutout fill per channel in [0, 1] (the data set's mean); empty = black.
  TORCH_ARG(std::vector<double>, fill) = {};
};

/// Per-image draws of one sample; all on the CPU.
struct PolicySample {
  torch::Tensor sub_policy;  // int64 [N], s ~ Cat(softmax φ)
  torch::Tensor applied;     // bool [N, 2], b_j ~ Bernoulli(sigmoid θ_sj)
  torch::Tensor levels;      // int64 [N, 2], m_j ~ Cat(softmax μ_sj), in [0, M)
  torch::Tensor negate;      // bool [N, 2], mirroring of signed ops (p = 0.5, not learnt)
  int64_t size() const { return sub_policy.size(0); }
};

/// 1 where slot j of sub-policy s is an op with a magnitude, else 0: [105, 2].
torch::Tensor slot_has_magnitude();

class SearchablePolicyImpl : public torch::nn::Module {
 public:
  explicit SearchablePolicyImpl(SearchablePolicyOptions options = {});

  /// φ, θ, μ (what the policy optimiser steps).
  std::vector<torch::Tensor> policy_parameters() const { return {phi, theta, mu}; }

  /// Draws the choices of `n` images from the current β (no gradient).
  PolicySample sample(int64_t n, at::Generator& generator) const;

  /// Applies the drawn choices to uint8 (or float in [0, 1]) images [N, C, H, W]
  /// on any device; `generator` places Cutout.
  torch::Tensor apply(const torch::Tensor& images, const PolicySample& sample, at::Generator& generator) const;

  /// log p_β of the draws that shaped each image, [N] on the parameters'
  /// device, differentiable in φ, θ, μ: log softmax(φ)[s] + Σ_j log
  /// Bernoulli(b_j; σ(θ_sj)) + Σ_j b_j·has_magnitude_sj·log softmax(μ_sj)[m_j].
  /// The level of a slot not applied, or of an op without magnitude, does not
  /// change the image and is left out (docs/method.md §3).
  torch::Tensor log_prob(const PolicySample& sample) const;

  /// The top k sub-policies by softmax φ, each slot with p = σ(θ) and its
  /// most likely level as a value in [0, 1] (docs/method.md §7).
  std::vector<SubPolicy> top_k(int64_t k) const;

  /// {"sub_policies": top-k list (policy file format), "beta": {"levels",
  /// "phi", "theta", "mu"}}: readable by make_policy("file:...") and load_json.
  nlohmann::json to_json(int64_t k) const;
  /// Restores β from to_json's output; fails naming `source` on a shape mismatch.
  void load_json(const nlohmann::json& json, const std::string& source);
  void save(const std::string& path, int64_t k) const;  // atomic
  void load(const std::string& path);

  void pretty_print(std::ostream& stream) const override;
  const SearchablePolicyOptions& options() const { return options_; }

  torch::Tensor phi;    // [105]
  torch::Tensor theta;  // [105, 2]
  torch::Tensor mu;     // [105, 2, M]

 private:
  SearchablePolicyOptions options_;
};

TORCH_MODULE(SearchablePolicy);

}  // namespace daas::augment
