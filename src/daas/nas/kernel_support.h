#pragma once
// What the depthwise and pointwise convolutions share: the instruction set
// chosen for the hand-written kernels (set_depthwise_isa chooses it for both)
// and the weight gradient's fixed-order sum. Internal to daas_nas.
#include <torch/types.h>

#include <cstdint>

#include "isa/batch_norm_kernels.h"
#include "isa/pointwise_kernels.h"
#include "isa/pool_kernels.h"

namespace daas::nas::detail {

/// Multiply-adds below which a loop is not worth a thread (ATen's GRAIN_SIZE
/// is 32768 elements for one-operation loops; a multiply-add is cheaper).
constexpr int64_t kGrainMultiplyAdds = int64_t{1} << 17;

/// Weight gradients are summed in at most this many fixed row chunks, each
/// into its own partial sum, and the partials are added in chunk order: the
/// chunks depend on the shape alone, so the sum is the same for any number of
/// threads, and there are enough of them to share among the cores.
constexpr int64_t kWeightGradChunks = 64;

/// What every hand-written convolution kernel needs of its arguments: 4-D x
/// and weight on the CPU, strided, both float or both double, x dense
/// channels-last and not empty.
bool kernel_ready(const torch::Tensor& x, const torch::Tensor& weight);

/// The pointwise kernels of the instruction set depthwise_isa() names.
const PointwiseKernelSet& chosen_pointwise_kernels();

/// BatchNorm's element loops for the instruction set depthwise_isa() names.
const BatchNormKernelSet& chosen_batch_norm_kernels();

/// The 3×3 pooling kernels for the instruction set depthwise_isa() names.
const PoolKernelSet& chosen_pool_kernels();

/// Adds the partials [chunks, ...] in chunk order into one [...] tensor
/// (float or double, contiguous).
template <typename T>
torch::Tensor sum_in_order(const torch::Tensor& partials);

}  // namespace daas::nas::detail
