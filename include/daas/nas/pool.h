#pragma once
// The 3×3 pools of the DARTS search space (max_pool_3x3, avg_pool_3x3 with
// count_include_pad = false; padding 1). At stride 1 on CPU float
// channels-last tensors they run hand-written kernels that treat each image
// row as one flat array (LibTorch's vectorise over the channels of a pixel,
// which at 8 or 16 channels leaves most of a vector idle); at stride 2 (a
// reduction cell's edges from its inputs) they run a kernel per output pixel
// where no backward will run. The values and gradients are LibTorch's bit
// for bit. Anything else runs LibTorch's, as do a stride-2 pool that will be
// differentiated and a max pool that will be differentiated on a CPU
// without AVX2.
#include <torch/types.h>

namespace daas::nas {

enum class PoolKind { kMax, kAverage };

/// The 3×3 pool of `x` at `stride` with padding 1.
torch::Tensor pool3x3(const torch::Tensor& x, PoolKind kind, int64_t stride);

/// Whether pool3x3 runs the hand-written kernels for these arguments (at
/// stride 2 also depends on whether a backward will run: gradient mode and
/// x.requires_grad()).
bool pool3x3_uses_kernels(const torch::Tensor& x, int64_t stride);

}  // namespace daas::nas
