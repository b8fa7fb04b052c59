#include "daas/nas/pointwise.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "daas/nas/depthwise.h"
#include "kernel_isa_support.h"
#include "tensor_support.h"
#include "test_support.h"

namespace daas::nas {
namespace {

constexpr auto kChannelsLast = torch::MemoryFormat::ChannelsLast;
/// Float kernels against oneDNN: both sum in float, in different orders.
constexpr double kFloatTolerance = 1e-5;

/// Largest difference relative to the largest magnitude of `want`.
double scaled_error(const torch::Tensor& got, const torch::Tensor& want) {
  const double scale = std::max(want.abs().max().item<double>(), 1e-30);
  return (got.to(torch::kDouble) - want.to(torch::kDouble)).abs().max().item<double>() / scale;
}

struct Result {
  torch::Tensor y, grad_x, grad_weight, grad_bias;
};

/// y = conv(x, w, b) and the gradients of Σ y·grad_y; `ours` picks
/// pointwise_conv2d, otherwise ATen (relu then conv2d).
Result run(bool ours, const torch::Tensor& x0, const torch::Tensor& w0, const torch::Tensor& b0, bool relu,
           const torch::Tensor& grad_y) {
  const auto x = x0.detach().clone(torch::MemoryFormat::Preserve).requires_grad_(true);
  const auto w = w0.detach().clone().requires_grad_(true);
  const auto b = b0.defined() ? b0.detach().clone().requires_grad_(true) : torch::Tensor();
  const auto y = ours ? pointwise_conv2d(x, w, b, relu) : torch::conv2d(relu ? torch::relu(x) : x, w, b);
  y.backward(grad_y);
  return {y.detach(), x.grad(), w.grad(), b.defined() ? b.grad() : torch::Tensor()};
}

struct Inputs {
  torch::Tensor x, w, b, grad_y;
};

Inputs random_inputs(int64_t N, int64_t K, int64_t O, int64_t H, int64_t W, bool bias, torch::ScalarType dtype) {
  const auto options = torch::TensorOptions().dtype(dtype);
  return {torch::randn({N, K, H, W}, options).contiguous(kChannelsLast), torch::randn({O, K, 1, 1}, options),
          bias ? torch::randn({O}, options) : torch::Tensor(),
          torch::randn({N, O, H, W}, options).contiguous(kChannelsLast)};
}

/// Each body may run once per instruction set (for_each_isa).
class PointwiseTest : public testing::KernelIsaTest {};

TEST_F(PointwiseTest, MatchesConv2dWithAndWithoutReluAndBias) {
  // Channel counts: vector tails (3, 13, 24 = 16 + 8), whole vectors (16,
  // 64) and several output vectors at once (64, 80); pixel counts with a
  // tail after the 8-pixel blocks (2·5·7 = 70).
  for_each_isa([&] {
    for (const auto& [K, O] : {std::pair<int64_t, int64_t>{16, 16}, {3, 13}, {64, 24}, {13, 64}, {8, 80}, {1, 1}}) {
      for (const bool bias : {false, true}) {
        for (const bool relu : {false, true}) {
          SCOPED_TRACE("K " + std::to_string(K) + " O " + std::to_string(O) + " bias " + std::to_string(bias) +
                       " relu " + std::to_string(relu) + " isa " + depthwise_isa());
          const auto in = random_inputs(2, K, O, 5, 7, bias, torch::kFloat);
          ASSERT_TRUE(pointwise_uses_kernels(in.x, in.w, in.b));
          const auto got = run(true, in.x, in.w, in.b, relu, in.grad_y);
          const auto want = run(false, in.x, in.w, in.b, relu, in.grad_y);
          EXPECT_TRUE(got.y.is_contiguous(kChannelsLast));
          EXPECT_LT(scaled_error(got.y, want.y), kFloatTolerance);
          EXPECT_LT(scaled_error(got.grad_x, want.grad_x), kFloatTolerance);
          EXPECT_LT(scaled_error(got.grad_weight, want.grad_weight), kFloatTolerance);
          if (bias) {
            EXPECT_LT(scaled_error(got.grad_bias, want.grad_bias), kFloatTolerance);
          }
          if (relu) {  // ReLU's backward: no gradient where x ≤ 0
            EXPECT_EQ(got.grad_x.masked_select(in.x <= 0).abs().max().item<float>(), 0.0f);
          }
        }
      }
    }
  });
}

TEST_F(PointwiseTest, DoubleKernelsPassGradcheck) {
  for_each_isa([&] {
    for (const bool relu : {false, true}) {
      SCOPED_TRACE(std::string("relu ") + (relu ? "on" : "off") + " isa " + depthwise_isa());
      auto in = random_inputs(2, 5, 3, 3, 2, /*bias=*/true, torch::kDouble);
      const auto projected = [&] {
        torch::NoGradGuard no_grad;
        return (pointwise_conv2d(in.x, in.w, in.b, relu) * in.grad_y).sum().item<double>();
      };
      const auto got = run(true, in.x, in.w, in.b, relu, in.grad_y);
      EXPECT_LT(scaled_error(got.grad_x, testing::finite_differences(in.x, projected)), 1e-7);
      EXPECT_LT(scaled_error(got.grad_weight, testing::finite_differences(in.w, projected)), 1e-7);
      EXPECT_LT(scaled_error(got.grad_bias, testing::finite_differences(in.b, projected)), 1e-7);
      EXPECT_LT(scaled_error(got.y, run(false, in.x, in.w, in.b, relu, in.grad_y).y), 1e-12);
    }
  });
}

TEST_F(PointwiseTest, SameResultsOnOneAndTwoThreads) {
  // Enough pixels that the product and the weight gradient split into tasks.
  const auto in = random_inputs(16, 24, 40, 28, 28, /*bias=*/false, torch::kFloat);
  for_each_isa([&] {
    for (const bool relu : {false, true}) {
      at::set_num_threads(1);
      const auto one = run(true, in.x, in.w, in.b, relu, in.grad_y);
      at::set_num_threads(2);
      const auto two = run(true, in.x, in.w, in.b, relu, in.grad_y);
      EXPECT_TRUE(torch::equal(one.y, two.y));
      EXPECT_TRUE(torch::equal(one.grad_x, two.grad_x));
      EXPECT_TRUE(torch::equal(one.grad_weight, two.grad_weight));
    }
  });
}

TEST_F(PointwiseTest, SecondOrderGradientsMatchConv2d) {
  const auto in = random_inputs(2, 6, 5, 4, 3, /*bias=*/false, torch::kDouble);
  const auto v = torch::randn_like(in.x);
  for (const bool relu : {false, true}) {
    const auto second_order = [&](bool ours) {
      const auto x = in.x.detach().clone(torch::MemoryFormat::Preserve).requires_grad_(true);
      const auto w = in.w.detach().requires_grad_(true);
      const auto y = ours ? pointwise_conv2d(x, w, {}, relu) : torch::conv2d(relu ? torch::relu(x) : x, w);
      const auto grad_x = torch::autograd::grad({(y * in.grad_y).sum()}, {x}, {}, true, /*create_graph=*/true)[0];
      return torch::autograd::grad({(grad_x * v).sum()}, {w})[0];
    };
    EXPECT_LT(scaled_error(second_order(true), second_order(false)), 1e-12);
  }
}

TEST_F(PointwiseTest, OtherInputsFallBackToConv2d) {
  const auto in = random_inputs(2, 8, 4, 5, 5, /*bias=*/true, torch::kFloat);
  const auto nchw = in.x.contiguous();
  EXPECT_FALSE(pointwise_uses_kernels(nchw, in.w, in.b));
  for (const bool relu : {false, true}) {
    const auto got = run(true, nchw, in.w, in.b, relu, in.grad_y);
    const auto want = run(false, nchw, in.w, in.b, relu, in.grad_y);
    EXPECT_TRUE(torch::equal(got.y, want.y));
    EXPECT_TRUE(torch::equal(got.grad_x, want.grad_x));
    EXPECT_TRUE(torch::equal(got.grad_weight, want.grad_weight));
  }
  EXPECT_FALSE(pointwise_uses_kernels(in.x, torch::randn({4, 8, 3, 3})));              // not 1×1
  EXPECT_FALSE(pointwise_uses_kernels(in.x, torch::randn({4, 7, 1, 1})));              // channels differ
  EXPECT_FALSE(pointwise_uses_kernels(in.x, in.w.to(torch::kDouble)));                 // mixed dtypes
  EXPECT_FALSE(pointwise_uses_kernels(in.x, in.w, torch::randn({5})));                 // bias size
  EXPECT_FALSE(pointwise_uses_kernels(in.x.to(torch::kHalf), in.w.to(torch::kHalf)));  // half
  EXPECT_TRUE(pointwise_uses_kernels(in.x, in.w));
  EXPECT_TRUE(pointwise_uses_kernels(in.x, in.w, in.b));
}

}  // namespace
}  // namespace daas::nas
