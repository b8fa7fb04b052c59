#pragma once
// Test-split evaluation of a Network: loss, top-1/top-5, the confusion
// matrix and per-class accuracy. Shared by the retraining loop (per epoch)
// and `daas eval`.
#include <c10/core/Device.h>
#include <torch/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daas/data/dataset.h"
#include "daas/train/model.h"

namespace daas::train {

struct Evaluation {
  int64_t images = 0;
  double loss = 0;  // mean cross-entropy (no label smoothing)
  int64_t top1_correct = 0;
  int64_t top5_correct = 0;
  torch::Tensor confusion;  // int64 [K, K]: row = true class, column = predicted

  double top1() const { return images > 0 ? static_cast<double>(top1_correct) / images : 0.0; }
  double top5() const { return images > 0 ? static_cast<double>(top5_correct) / images : 0.0; }
  /// Correct / images of each true class (NaN for a class with no images).
  std::vector<double> per_class_accuracy() const;
  /// {"images", "loss", "top1", "top5", "classes": [names], "per_class": {name: acc}, "confusion": [[...]]}.
  nlohmann::json to_json(const std::vector<std::string>& classes) const;
};

/// Evaluates `net` (switched to eval mode, no gradients) on every image of
/// `data`, normalised with the network's own mean and std, in order.
Evaluation evaluate(Network& net, const data::Dataset& data, int64_t batch_size, const c10::Device& device);

/// The logits, float [N, classes] on the CPU, of uint8 images [N, C, H, W]
/// of the network's input shape: normalised and run exactly as evaluate()
/// runs a test split (so the argmax is what evaluate() counts).
torch::Tensor predict(Network& net, const torch::Tensor& images, int64_t batch_size, const c10::Device& device);

/// The evaluation as text: top-1/top-5, per-class accuracy and the confusion matrix.
std::string format_evaluation(const Evaluation& evaluation, const std::vector<std::string>& classes);

}  // namespace daas::train
