#pragma once
// Augmentation policies (docs/method.md §3, §8): what to apply to each image of a uint8
// batch. Fixed policies come from one factory, make_policy(name, options);
// policy files hold sub-policies in the Fast-AutoAugment / DADA convention.
#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "daas/augment/ops.h"

namespace daas::data {
struct Dataset;
}

namespace daas::augment {

/// One slot of a sub-policy: apply `op` with `probability` at `level` in [0, 1]
/// (mapped to a value by level_to_value; signed ops mirrored at random).
struct PolicyOp {
  Op op = Op::Identity;
  double probability = 0;
  double level = 0;
};
using SubPolicy = std::vector<PolicyOp>;

/// Parses a policy: a JSON list of sub-policies, each a list of
/// [op, probability, level], or an object whose "sub_policies" is such a list
/// (what SearchablePolicy exports). Fails naming `source`, the entry, the
/// value and what was expected.
std::vector<SubPolicy> parse_policy(const nlohmann::json& json, const std::string& source);
std::vector<SubPolicy> read_policy_file(const std::string& path);
/// The JSON list form of `policy`.
nlohmann::json policy_to_json(const std::vector<SubPolicy>& policy);

struct PolicyOptions {
  /// Cutout fill per channel in [0, 1] (the data set's mean); empty = black.
  std::vector<double> fill;
  /// `standard`: zero padding before the random crop (0 = no crop) and
  /// whether to flip horizontally.
  int64_t crop_padding = 4;
  bool flip = true;
  /// `randaugment`: ops per image and magnitude bin (of magnitude_bins).
  int64_t randaugment_ops = 2;
  int64_t randaugment_magnitude = 9;
  int64_t magnitude_bins = 31;  // randaugment and trivialaugment
};

/// Options that suit a data set: its mean as fill; no horizontal flip for
/// digits and characters (MNIST, KMNIST), whose mirror images are other symbols.
PolicyOptions default_policy_options(const data::Dataset& data);

class Policy {
 public:
  virtual ~Policy() = default;
  /// Augments uint8 (or float in [0, 1]) images [N, C, H, W], each image with
  /// its own draws from `generator` (a CPU generator); the images may live on
  /// any device. Returns a new tensor or `images` itself when nothing changed.
  virtual torch::Tensor apply(const torch::Tensor& images, at::Generator& generator) const = 0;
  /// The name make_policy accepts.
  virtual std::string name() const = 0;
};

/// `none`, `standard`, `autoaugment-cifar10`, `randaugment`, `trivialaugment`
/// or `file:PATH`. Fails naming the known policies.
std::shared_ptr<const Policy> make_policy(const std::string& name, const PolicyOptions& options = {});

/// A policy that draws one of `sub_policies` uniformly per image, as
/// Fast-AutoAugment and DADA apply theirs.
std::shared_ptr<const Policy> make_sub_policy_policy(std::vector<SubPolicy> sub_policies, std::vector<double> fill,
                                                     std::string name);

/// The names make_policy accepts, from its table, and "file:PATH" (for help
/// texts and errors).
std::vector<std::string> policy_names();

}  // namespace daas::augment
