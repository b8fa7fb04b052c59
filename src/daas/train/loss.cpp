#include "daas/train/loss.h"

#include <torch/torch.h>

#include <cmath>

#include "daas/core/error.h"

namespace daas::train {

torch::Tensor smoothed_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels, double smoothing) {
  const auto log_probs = torch::log_softmax(logits, /*dim=*/1);
  const auto nll = -log_probs.gather(1, labels.unsqueeze(1)).squeeze(1);
  if (smoothing == 0.0) return nll.mean();
  const auto uniform = -log_probs.mean(1);
  return ((1.0 - smoothing) * nll + smoothing * uniform).mean();
}

int64_t correct_top_k(const torch::Tensor& logits, const torch::Tensor& labels, int64_t k) {
  const int64_t top = std::min<int64_t>(k, logits.size(1));
  const auto predicted = std::get<1>(logits.topk(top, /*dim=*/1));
  return predicted.eq(labels.unsqueeze(1)).any(1).sum().item<int64_t>();
}

void check_finite(const torch::Tensor& loss, const char* what, int64_t epoch, int64_t step) {
  const double value = loss.item<double>();
  if (!std::isfinite(value)) {
    core::fail(
        "{} is {} at epoch {}, step {}; stopping (the last checkpoint is kept). Lower the learning rate or check "
        "the data.",
        what, value, epoch, step);
  }
}

}  // namespace daas::train
