#pragma once
// Depthwise convolution (groups = channels, no bias) with hand-written CPU
// kernels for the DARTS SepConv and DilConv ops: oneDNN's depthwise kernels,
// its weight gradient above all, are the slowest part of a search step on CPU.
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace daas::nas {

/// Depthwise 2-D convolution with autograd: x [N, C, H, W], weight [C, 1, k, k]
/// -> [N, C, Ho, Wo], Ho = (H + 2·padding − dilation·(k − 1) − 1) / stride + 1
/// (so for Wo). A CPU float or double x in channels-last layout with k 3 or 5,
/// stride 1 or 2, dilation ≥ 1 and padding ≥ 0 runs the hand-written kernels
/// and gives a channels-last result; anything else is
/// at::conv2d(x, weight, {}, stride, padding, dilation, /*groups=*/C).
/// Results do not depend on the number of threads. With relu_input the
/// convolution is that of relu(x), the ReLU fused into the kernels (its
/// output never stored; the backward zeroes grad_x where x ≤ 0): the same
/// values as depthwise_conv2d(torch::relu(x), ...) with one pass over memory
/// less each way.
torch::Tensor depthwise_conv2d(const torch::Tensor& x, const torch::Tensor& weight, int64_t stride, int64_t padding,
                               int64_t dilation, bool relu_input = false);

/// Whether depthwise_conv2d runs the hand-written kernels for these arguments
/// (otherwise it calls at::conv2d).
bool depthwise_uses_kernels(const torch::Tensor& x, const torch::Tensor& weight, int64_t stride, int64_t padding,
                            int64_t dilation);

/// The instruction sets the kernels are built for that this CPU runs, best
/// first: some of "avx512", "avx2", "baseline".
std::vector<std::string> depthwise_isas();

/// The instruction set depthwise_conv2d's kernels use: the first of
/// depthwise_isas() unless set_depthwise_isa chose another.
std::string depthwise_isa();

/// Makes depthwise_conv2d use `isa`, one of depthwise_isas(); for tests and
/// benchmarks that compare them. Not to be called while a convolution runs.
void set_depthwise_isa(const std::string& isa);

}  // namespace daas::nas
