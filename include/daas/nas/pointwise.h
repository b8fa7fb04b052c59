#pragma once
// Pointwise (1×1, stride 1) convolution with hand-written CPU kernels, for
// the 1×1 convolutions of the DARTS ops (SepConv, DilConv, the cells'
// ReLUConvBN preprocessing): at their small channel counts oneDNN's kernels
// are bound by memory, and the ReLU in front of them costs a pass of its own.
#include <torch/types.h>

namespace daas::nas {

/// 1×1 convolution with autograd: x [N, K, H, W], weight [O, K, 1, 1], bias
/// [O] or undefined -> [N, O, H, W]. A CPU float or double x in channels-last
/// layout runs the hand-written kernels (instruction set: depthwise_isa())
/// and gives a channels-last result; anything else is at::conv2d. Results do
/// not depend on the number of threads. With relu_input the convolution is
/// that of relu(x), the ReLU fused into the kernels (its output never stored;
/// the backward zeroes grad_x where x ≤ 0).
torch::Tensor pointwise_conv2d(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias = {},
                               bool relu_input = false);

/// Whether pointwise_conv2d runs the hand-written kernels for these arguments
/// (otherwise it calls at::conv2d).
bool pointwise_uses_kernels(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias = {});

}  // namespace daas::nas
