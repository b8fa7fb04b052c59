#include "daas/nas/pool.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>
#include <string>
#include <vector>

#include "kernel_isa_support.h"

namespace daas::nas {
namespace {

namespace F = torch::nn::functional;

constexpr auto kChannelsLast = torch::MemoryFormat::ChannelsLast;

torch::Tensor aten(const torch::Tensor& x, PoolKind kind, int64_t stride) {
  if (kind == PoolKind::kMax) return F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(stride).padding(1));
  return F::avg_pool2d(x, F::AvgPool2dFuncOptions(3).stride(stride).padding(1).count_include_pad(false));
}

/// The pool's output and input gradient for `grad_y`.
std::pair<torch::Tensor, torch::Tensor> run(const torch::Tensor& input, PoolKind kind, const torch::Tensor& grad_y,
                                            bool ours, int64_t stride = 1) {
  const auto x = input.detach().requires_grad_(true);
  const auto y = ours ? pool3x3(x, kind, stride) : aten(x, kind, stride);
  const auto grad = torch::autograd::grad({y}, {x}, {grad_y})[0];
  return {y, grad};
}

/// Values with many ties (small integers, zeros of both signs), a few NaNs
/// and infinities: the cases where the choice of the maximum shows.
torch::Tensor awkward(const std::vector<int64_t>& sizes) {
  auto x = torch::randint(-3, 4, sizes).to(torch::kFloat);
  auto flat = x.view(-1);
  const int64_t n = flat.numel();
  for (int64_t i = 0; i < n; i += 37) flat[i] = std::numeric_limits<float>::quiet_NaN();
  for (int64_t i = 5; i < n; i += 53) flat[i] = -std::numeric_limits<float>::infinity();
  for (int64_t i = 11; i < n; i += 71) flat[i] = std::numeric_limits<float>::infinity();
  for (int64_t i = 1; i < n; i += 2) {
    if (flat[i].item<float>() == 0) flat[i] = -0.0f;
  }
  return x.contiguous(kChannelsLast);
}

class PoolTest : public testing::KernelIsaTest {};

TEST_F(PoolTest, MatchesLibTorchBitForBit) {
  // Channel counts below, at and above a vector; one-pixel rows and columns.
  const std::vector<std::vector<int64_t>> shapes = {{3, 8, 7, 9}, {2, 16, 6, 5}, {2, 5, 4, 4}, {1, 24, 1, 6},
                                                    {2, 3, 5, 1}, {1, 4, 1, 1},  {2, 40, 9, 8}};
  for_each_isa([&] {
    for (const auto& sizes : shapes) {
      for (const bool ties : {false, true}) {
        const auto x = ties ? awkward(sizes) : torch::randn(sizes).contiguous(kChannelsLast);
        const auto grad_y = torch::randn(sizes).contiguous(kChannelsLast);
        for (const auto kind : {PoolKind::kMax, PoolKind::kAverage}) {
          {
            // Without gradient every instruction set runs its kernels.
            torch::NoGradGuard no_grad;
            EXPECT_TRUE(torch::equal(pool3x3(x, kind, 1).nan_to_num(7.5), aten(x, kind, 1).nan_to_num(7.5)));
          }
          SCOPED_TRACE(depthwise_isa() + (kind == PoolKind::kMax ? " max " : " avg ") + "[" + std::to_string(sizes[0]) +
                       ", " + std::to_string(sizes[1]) + ", " + std::to_string(sizes[2]) + ", " +
                       std::to_string(sizes[3]) + "]" + (ties ? " ties" : ""));
          ASSERT_TRUE(pool3x3_uses_kernels(x, 1));
          const auto [y, grad] = run(x, kind, grad_y, /*ours=*/true);
          const auto [want_y, want_grad] = run(x, kind, grad_y, /*ours=*/false);
          EXPECT_TRUE(torch::equal(y.nan_to_num(7.5), want_y.nan_to_num(7.5)));
          EXPECT_TRUE(torch::equal(y.isnan(), want_y.isnan()));
          EXPECT_TRUE(torch::equal(grad.nan_to_num(7.5), want_grad.nan_to_num(7.5)));
          EXPECT_TRUE(y.is_contiguous(kChannelsLast));
          EXPECT_TRUE(grad.is_contiguous(kChannelsLast));
        }
      }
    }
  });
}

/// The bits of a float tensor, NaNs made one value (their payloads are not compared).
torch::Tensor bits(const torch::Tensor& t) { return t.nan_to_num(7.5).view(torch::kInt32); }

TEST_F(PoolTest, StrideTwoWithoutGradientMatchesLibTorchBitForBit) {
  // Odd and even sides (the last window is cut or whole), one-pixel rows and
  // columns, one channel and counts below, at and above a vector, and rows
  // enough to be split over threads.
  const std::vector<std::vector<int64_t>> shapes = {{3, 8, 7, 9},    {2, 16, 6, 5},   {2, 5, 4, 4},  {1, 24, 1, 6},
                                                    {2, 3, 5, 1},    {1, 4, 1, 1},    {2, 40, 9, 8}, {2, 1, 7, 6},
                                                    {2, 16, 28, 28}, {64, 16, 28, 28}};
  for_each_isa([&] {
    for (const auto& sizes : shapes) {
      for (const bool ties : {false, true}) {
        const auto x = ties ? awkward(sizes) : torch::randn(sizes).contiguous(kChannelsLast);
        for (const auto kind : {PoolKind::kMax, PoolKind::kAverage}) {
          SCOPED_TRACE(depthwise_isa() + (kind == PoolKind::kMax ? " max " : " avg ") + "[" + std::to_string(sizes[0]) +
                       ", " + std::to_string(sizes[1]) + ", " + std::to_string(sizes[2]) + ", " +
                       std::to_string(sizes[3]) + "]" + (ties ? " ties" : ""));
          torch::NoGradGuard no_grad;
          ASSERT_TRUE(pool3x3_uses_kernels(x, 2));
          const auto y = pool3x3(x, kind, 2), want = aten(x, kind, 2);
          ASSERT_EQ(y.sizes(), want.sizes());
          EXPECT_EQ(y.strides(), want.strides());
          // Bits, not values: a maximum taken from the wrong one of +0 and −0 shows.
          EXPECT_TRUE(torch::equal(bits(y), bits(want)));
          EXPECT_TRUE(torch::equal(y.isnan(), want.isnan()));
        }
      }
    }
  });
}

TEST_F(PoolTest, SameResultsOnOneAndTwoThreadsAndWithoutGradient) {
  const auto x = awkward({4, 8, 28, 28});
  const auto grad_y = torch::randn({4, 8, 28, 28}).contiguous(kChannelsLast);
  for (const auto kind : {PoolKind::kMax, PoolKind::kAverage}) {
    at::set_num_threads(1);
    const auto one = run(x, kind, grad_y, true);
    at::set_num_threads(2);
    const auto two = run(x, kind, grad_y, true);
    EXPECT_TRUE(torch::equal(one.first.nan_to_num(), two.first.nan_to_num()));
    EXPECT_TRUE(torch::equal(one.second, two.second));
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal(pool3x3(x, kind, 1).nan_to_num(), one.first.nan_to_num()));
  }
}

TEST_F(PoolTest, SecondOrderGradientsMatchLibTorch) {
  // create_graph: the backward is LibTorch's, differentiable again.
  const auto x = torch::randn({2, 6, 5, 5}).contiguous(kChannelsLast).requires_grad_(true);
  const auto v = torch::randn({2, 6, 5, 5}).contiguous(kChannelsLast);
  for (const auto kind : {PoolKind::kMax, PoolKind::kAverage}) {
    const auto second = [&](bool ours) {
      const auto g = v.clone().requires_grad_(true);
      const auto y = ours ? pool3x3(x, kind, 1) : aten(x, kind, 1);
      const auto grad_x = torch::autograd::grad({y}, {x}, {g}, /*retain_graph=*/true, /*create_graph=*/true)[0];
      return torch::autograd::grad({(grad_x * grad_x).sum()}, {g})[0];
    };
    EXPECT_TRUE(torch::allclose(second(true), second(false)));
    // With respect to x too, as LibTorch's (zero: the pools are piecewise linear).
    const auto with_x = [&](bool ours) {
      const auto y = ours ? pool3x3(x, kind, 1) : aten(x, kind, 1);
      const auto grad_x = torch::autograd::grad({y}, {x}, {v}, /*retain_graph=*/true, /*create_graph=*/true)[0];
      return torch::autograd::grad({(grad_x * grad_x).sum()}, {x}, {}, /*retain_graph=*/false, false,
                                   /*allow_unused=*/true)[0];
    };
    const auto ours = with_x(true), theirs = with_x(false);
    EXPECT_EQ(ours.defined(), theirs.defined());
    if (ours.defined() && theirs.defined()) {
      EXPECT_TRUE(torch::allclose(ours, theirs));
    }
  }
}

TEST_F(PoolTest, OtherInputsRunLibTorch) {
  const auto x = torch::randn({2, 8, 6, 6});
  // Stride 2 where a backward will run; the kernels where none will.
  const auto leaf = x.contiguous(kChannelsLast).requires_grad_(true);
  EXPECT_FALSE(pool3x3_uses_kernels(leaf, 2));
  EXPECT_TRUE(pool3x3_uses_kernels(leaf.detach(), 2));
  {
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(pool3x3_uses_kernels(leaf, 2));
  }
  EXPECT_FALSE(pool3x3_uses_kernels(x.contiguous(kChannelsLast), 3));                     // stride 3
  EXPECT_FALSE(pool3x3_uses_kernels(x.contiguous(), 1));                                  // NCHW
  EXPECT_FALSE(pool3x3_uses_kernels(x.to(torch::kDouble).contiguous(kChannelsLast), 1));  // double
  const auto grad_y = torch::randn({2, 8, 3, 3});
  for (const auto kind : {PoolKind::kMax, PoolKind::kAverage}) {
    const auto ours = run(x.contiguous(kChannelsLast), kind, grad_y, true, 2);
    const auto want = run(x.contiguous(kChannelsLast), kind, grad_y, false, 2);
    EXPECT_TRUE(torch::equal(ours.first, want.first));
    EXPECT_TRUE(torch::equal(ours.second, want.second));
  }
}

}  // namespace
}  // namespace daas::nas
