#pragma once
// BatchNorm2d that keeps whole-batch statistics when a batch is split over
// the ranks of a WorkerTeam (SyncBatchNorm semantics), and that can leave its
// running statistics untouched (FrozenRunningStats). Outside a parallel
// section it is LibTorch's BatchNorm2d: same parameters, buffers and names,
// so checkpoints and parameter counts do not change.
#include <torch/nn/cloneable.h>
#include <torch/nn/options/batchnorm.h>
#include <torch/nn/pimpl.h>

#include <utility>

namespace daas::nas {

class BatchNormImpl : public torch::nn::Cloneable<BatchNormImpl> {
 public:
  /// LibTorch's BatchNorm2d registers the same names: weight, bias (when
  /// affine), running_mean, running_var, num_batches_tracked.
  explicit BatchNormImpl(torch::nn::BatchNormOptions options);
  BatchNormImpl(int64_t channels) : BatchNormImpl(torch::nn::BatchNormOptions(channels)) {}
  void reset() override;
  /// x: [N, C, H, W] -> same shape. In training mode with a shard context of
  /// several ranks, mean and variance are those of every rank's rows together.
  torch::Tensor forward(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;

  /// Whether forward() is a fixed per-channel affine map (evaluation with
  /// running statistics), which a preceding convolution can absorb.
  bool is_affine_map() const;
  /// That map, forward(x) = x·scale + shift per channel: scale = γ/√(var + ε),
  /// shift = β − mean·scale ([C] each). Only where is_affine_map().
  std::pair<torch::Tensor, torch::Tensor> affine_map() const;

  torch::nn::BatchNormOptions options;
  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;
};
TORCH_MODULE(BatchNorm);

/// Batch normalisation of `x` ([N, C, H, W], training mode) with the
/// statistics of the whole batch split over the calling thread's team (see
/// daas/core/parallel.h): per-channel sums are all-reduced in the forward and
/// in the backward. `running_mean`/`running_var` (either may be undefined)
/// are updated with `momentum` as BatchNorm does (unbiased variance).
torch::Tensor sync_batch_norm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                              torch::Tensor running_mean, torch::Tensor running_var, double momentum, double eps);

}  // namespace daas::nas
