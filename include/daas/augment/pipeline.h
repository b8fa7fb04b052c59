#pragma once
// The per-data-set augmentation pipeline: base transforms -> policy -> float,
// normalised -> Cutout (docs/method.md §8). As a daas::data::BatchTransform it runs
// on the loader's prefetch thread; its randomness comes from (seed, epoch,
// batch index) only, so results do not depend on thread timing.
#include <ATen/core/Generator.h>
#include <c10/core/Device.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "daas/augment/policy.h"
#include "daas/data/loader.h"

namespace daas::augment {

struct PipelineOptions {
  std::vector<double> mean;  // per channel, in [0, 1] (Dataset::mean)
  std::vector<double> std;   // per channel, in [0, 1] (Dataset::std)
  int64_t cutout = 0;        // Cutout side in pixels after the policy; 0 = off
  uint64_t seed = 0;
  c10::Device device = c10::Device(c10::kCPU);  // where the images are augmented and returned
};

/// A CPU generator for one batch, a fixed function of (seed, epoch, index).
at::Generator batch_generator(uint64_t seed, int64_t epoch, int64_t index);

/// uint8 [N, C, H, W] -> float32 (x / 255 − mean) / std.
torch::Tensor normalize(const torch::Tensor& images, const std::vector<double>& mean, const std::vector<double>& std);

class Pipeline {
 public:
  /// `base` (e.g. make_policy("standard")) and `policy` may be null (skipped).
  Pipeline(std::shared_ptr<const Policy> base, std::shared_ptr<const Policy> policy, PipelineOptions options);

  /// base -> policy -> normalise -> Cutout on uint8 images [N, C, H, W];
  /// returns float32 [N, C, H, W] on options.device.
  torch::Tensor operator()(const torch::Tensor& images, int64_t epoch, int64_t index) const;

  /// The tail alone (normalise -> Cutout), for images the search loop has
  /// already augmented with its SearchablePolicy.
  torch::Tensor finish(const torch::Tensor& images, at::Generator& generator) const;

  /// For daas::data::BatchLoader: replaces batch.images with the pipeline's output.
  data::BatchTransform transform() const;

  const PipelineOptions& options() const { return options_; }

 private:
  std::shared_ptr<const Policy> base_;
  std::shared_ptr<const Policy> policy_;
  PipelineOptions options_;
};

}  // namespace daas::augment
