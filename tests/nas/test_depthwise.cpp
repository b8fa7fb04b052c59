#include "daas/nas/depthwise.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <sstream>
#include <string>
#include <vector>

#include "daas/nas/ops.h"
#include "kernel_isa_support.h"
#include "test_support.h"

namespace daas::nas {
namespace {

constexpr auto kChannelsLast = torch::MemoryFormat::ChannelsLast;
/// Float kernels against oneDNN: both sum in float, in different orders.
constexpr double kFloatTolerance = 1e-5;
/// Double kernels against finite differences of a function linear in x and w.
constexpr double kDoubleTolerance = 1e-7;

struct Case {
  int64_t kernel, stride, dilation, padding, C, N, H, W;
};

std::string describe(const Case& c) {
  return "k" + std::to_string(c.kernel) + " s" + std::to_string(c.stride) + " d" + std::to_string(c.dilation) + " p" +
         std::to_string(c.padding) + " C" + std::to_string(c.C) + " N" + std::to_string(c.N) + " " +
         std::to_string(c.H) + "x" + std::to_string(c.W) + " isa " + depthwise_isa();
}

bool has_output(const Case& c) {
  const int64_t span = c.dilation * (c.kernel - 1) + 1;
  return c.H + 2 * c.padding >= span && c.W + 2 * c.padding >= span;
}

/// kernel × stride × dilation × padding (none, "same") × C × N × odd/even
/// sides. Dilation 3 takes the kernels' runtime-dilation path (1 and 2 are
/// compile-time constants there).
std::vector<Case> table() {
  std::vector<Case> cases;
  for (int64_t kernel : {3, 5}) {
    for (int64_t stride : {1, 2}) {
      for (int64_t dilation : {1, 2, 3}) {
        for (int64_t padding : {int64_t{0}, dilation * (kernel - 1) / 2}) {
          for (int64_t C : {8, 13, 16, 64}) {
            for (int64_t N : {1, 3}) {
              for (auto [H, W] : {std::pair<int64_t, int64_t>{10, 12}, {9, 7}}) {
                const Case c{kernel, stride, dilation, padding, C, N, H, W};
                if (has_output(c)) cases.push_back(c);
              }
            }
          }
        }
      }
    }
  }
  return cases;
}

/// Each body may run once per instruction set (for_each_isa).
class DepthwiseTest : public testing::KernelIsaTest {};

struct Outputs {
  torch::Tensor y, grad_x, grad_weight;
};

using Conv = torch::Tensor (*)(const torch::Tensor&, const torch::Tensor&, const Case&);

torch::Tensor ours(const torch::Tensor& x, const torch::Tensor& w, const Case& c) {
  return depthwise_conv2d(x, w, c.stride, c.padding, c.dilation);
}

torch::Tensor reference(const torch::Tensor& x, const torch::Tensor& w, const Case& c) {
  return torch::conv2d(x, w, {}, c.stride, c.padding, c.dilation, /*groups=*/c.C);
}

// The ReLU fused into the convolution against ReLU, then convolution.
torch::Tensor ours_relu(const torch::Tensor& x, const torch::Tensor& w, const Case& c) {
  return depthwise_conv2d(x, w, c.stride, c.padding, c.dilation, /*relu_input=*/true);
}

torch::Tensor reference_relu(const torch::Tensor& x, const torch::Tensor& w, const Case& c) {
  return reference(torch::relu(x), w, c);
}

/// y = conv(x, w) and the gradients of Σ y·grad_y.
Outputs run(Conv conv, const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& grad_y, const Case& c) {
  const auto x_leaf = x.detach().requires_grad_(true);
  const auto w_leaf = w.detach().requires_grad_(true);
  auto y = conv(x_leaf, w_leaf, c);
  y.backward(grad_y);
  return {y.detach(), x_leaf.grad(), w_leaf.grad()};
}

/// max |a − b| over the magnitude of b (at least 1).
double scaled_error(const torch::Tensor& a, const torch::Tensor& b) {
  const double scale = std::max(1.0, b.abs().max().item<double>());
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>() / scale;
}

struct Inputs {
  torch::Tensor x, w, grad_y;
};

Inputs random_inputs(const Case& c, torch::Dtype dtype) {
  const auto options = torch::TensorOptions().dtype(dtype);
  const auto x = torch::randn({c.N, c.C, c.H, c.W}, options).contiguous(kChannelsLast);
  const auto w = torch::randn({c.C, 1, c.kernel, c.kernel}, options);
  const auto y_shape = reference(x, w, c).sizes().vec();
  return {x, w, torch::randn(y_shape, options)};  // grad_y in NCHW: backward must convert it
}

TEST_F(DepthwiseTest, MatchesConv2dOnEveryCase) {
  const auto cases = table();
  ASSERT_GT(cases.size(), 300u);
  for_each_isa([&] {
    for (const auto& c : cases) {
      SCOPED_TRACE(describe(c));
      const auto in = random_inputs(c, torch::kFloat);
      ASSERT_TRUE(depthwise_uses_kernels(in.x, in.w, c.stride, c.padding, c.dilation));
      const auto got = run(&ours, in.x, in.w, in.grad_y, c);
      const auto want = run(&reference, in.x, in.w, in.grad_y, c);
      ASSERT_EQ(got.y.sizes(), want.y.sizes());
      EXPECT_TRUE(got.y.is_contiguous(kChannelsLast));
      EXPECT_LT(scaled_error(got.y, want.y), kFloatTolerance);
      EXPECT_LT(scaled_error(got.grad_x, want.grad_x), kFloatTolerance);
      EXPECT_LT(scaled_error(got.grad_weight, want.grad_weight), kFloatTolerance);
    }
  });
}

TEST_F(DepthwiseTest, FusedReluMatchesReluThenConv2d) {
  const auto cases = table();
  for_each_isa([&] {
    for (size_t i = 0; i < cases.size(); i += 3) {
      const Case& c = cases[i];
      SCOPED_TRACE(describe(c));
      auto in = random_inputs(c, torch::kFloat);
      // Exact zeros too: ReLU's backward passes no gradient at 0.
      in.x.masked_fill_(torch::rand_like(in.x) < 0.1, 0.0);
      const auto got = run(&ours_relu, in.x, in.w, in.grad_y, c);
      const auto want = run(&reference_relu, in.x, in.w, in.grad_y, c);
      ASSERT_EQ(got.y.sizes(), want.y.sizes());
      EXPECT_LT(scaled_error(got.y, want.y), kFloatTolerance);
      EXPECT_LT(scaled_error(got.grad_x, want.grad_x), kFloatTolerance);
      EXPECT_LT(scaled_error(got.grad_weight, want.grad_weight), kFloatTolerance);
      // No gradient reaches an x the ReLU cut off.
      EXPECT_EQ(got.grad_x.masked_select(in.x <= 0).abs().max().item<float>(), 0.0f);
    }
  });
}

/// Σ y·r for the double kernels, at x and w as they are in memory.
double projected(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& r, const Case& c,
                 Conv conv = &ours) {
  torch::NoGradGuard no_grad;
  return (conv(x, w, c) * r).sum().item<double>();
}

/// Central differences of Σ y·r along each element of `t` (in memory order).
std::vector<double> finite_differences(torch::Tensor& t, const std::function<double()>& f) {
  constexpr double kStep = 1e-6;
  std::vector<double> slopes;
  double* data = t.data_ptr<double>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double saved = data[i];
    data[i] = saved + kStep;
    const double up = f();
    data[i] = saved - kStep;
    const double down = f();
    data[i] = saved;
    slopes.push_back((up - down) / (2 * kStep));
  }
  return slopes;
}

void expect_matches(const torch::Tensor& analytic, const std::vector<double>& numeric, const char* what) {
  ASSERT_EQ(analytic.numel(), static_cast<int64_t>(numeric.size()));
  const double* data = analytic.data_ptr<double>();
  double worst = 0;
  for (size_t i = 0; i < numeric.size(); ++i) worst = std::max(worst, std::abs(data[i] - numeric[i]));
  EXPECT_LT(worst, kDoubleTolerance) << what;
}

TEST_F(DepthwiseTest, DoubleKernelsPassGradcheck) {
  for_each_isa([&] {
    for (int64_t kernel : {3, 5}) {
      for (int64_t stride : {1, 2}) {
        for (int64_t dilation : {1, 2}) {
          for (int64_t C : {3, 5}) {  // tails only: below every vector width but 2 doubles
            const Case c{kernel, stride, dilation, dilation * (kernel - 1) / 2, C, 2, 6, 5};
            SCOPED_TRACE(describe(c));
            auto in = random_inputs(c, torch::kDouble);
            for (const Conv conv : {&ours, &ours_relu}) {
              const auto got = run(conv, in.x, in.w, in.grad_y, c);
              const auto f = [&] { return projected(in.x, in.w, in.grad_y, c, conv); };
              expect_matches(got.grad_x.contiguous(kChannelsLast), finite_differences(in.x, f), "grad_x");
              expect_matches(got.grad_weight.contiguous(), finite_differences(in.w, f), "grad_weight");
              const auto want = conv == &ours ? reference(in.x, in.w, c) : reference_relu(in.x, in.w, c);
              EXPECT_LT(scaled_error(got.y, want), 1e-12);
            }
          }
        }
      }
    }
  });
}

TEST_F(DepthwiseTest, OtherInputsFallBackToConv2d) {
  const Case c{3, 1, 1, 1, 8, 2, 9, 9};
  const auto in = random_inputs(c, torch::kFloat);
  const auto nchw = in.x.contiguous();
  EXPECT_FALSE(depthwise_uses_kernels(nchw, in.w, c.stride, c.padding, c.dilation));
  for (const auto& [conv, want_conv] : {std::pair<Conv, Conv>{&ours, &reference}, {&ours_relu, &reference_relu}}) {
    const auto got = run(conv, nchw, in.w, in.grad_y, c);
    const auto want = run(want_conv, nchw, in.w, in.grad_y, c);
    EXPECT_TRUE(torch::equal(got.y, want.y));
    EXPECT_TRUE(torch::equal(got.grad_x, want.grad_x));
    EXPECT_TRUE(torch::equal(got.grad_weight, want.grad_weight));
  }

  EXPECT_FALSE(depthwise_uses_kernels(in.x, torch::randn({8, 1, 7, 7}), 1, 3, 1));              // kernel 7
  EXPECT_FALSE(depthwise_uses_kernels(in.x, in.w, /*stride=*/3, 1, 1));                         // stride 3
  EXPECT_FALSE(depthwise_uses_kernels(in.x, in.w.to(torch::kDouble), 1, 1, 1));                 // mixed dtypes
  EXPECT_FALSE(depthwise_uses_kernels(in.x.to(torch::kHalf), in.w.to(torch::kHalf), 1, 1, 1));  // half
  EXPECT_FALSE(depthwise_uses_kernels(in.x, torch::randn({8, 2, 3, 3}), 1, 1, 1));              // not depthwise
  EXPECT_TRUE(depthwise_uses_kernels(in.x, in.w, 1, 1, 1));
}

TEST_F(DepthwiseTest, SameResultsOnOneAndTwoThreads) {
  // Big enough that forward, input and weight gradient all split into tasks
  // (a task may start inside an image); a channel tail in the second.
  for (const Case& c : {Case{5, 1, 2, 4, 16, 16, 28, 28}, Case{3, 2, 1, 1, 13, 24, 23, 21}}) {
    const auto in = random_inputs(c, torch::kFloat);
    for_each_isa([&] {
      SCOPED_TRACE(describe(c));
      for (const Conv conv : {&ours, &ours_relu}) {
        at::set_num_threads(1);
        const auto one = run(conv, in.x, in.w, in.grad_y, c);
        at::set_num_threads(2);
        const auto two = run(conv, in.x, in.w, in.grad_y, c);
        EXPECT_TRUE(torch::equal(one.y, two.y));
        EXPECT_TRUE(torch::equal(one.grad_x, two.grad_x));
        EXPECT_TRUE(torch::equal(one.grad_weight, two.grad_weight));
      }
    });
  }
}

TEST_F(DepthwiseTest, SecondOrderGradientsMatchConv2d) {
  const Case c{3, 2, 2, 2, 8, 2, 9, 8};
  const auto in = random_inputs(c, torch::kDouble);
  const auto v = torch::randn_like(in.x);
  const auto second_order = [&](Conv conv) {
    const auto x = in.x.detach().requires_grad_(true);
    const auto w = in.w.detach().requires_grad_(true);
    const auto y = conv(x, w, c);
    const auto grad_x = torch::autograd::grad({(y * in.grad_y).sum()}, {x}, {}, true, /*create_graph=*/true)[0];
    return torch::autograd::grad({(grad_x * v).sum()}, {w})[0];
  };
  EXPECT_LT(scaled_error(second_order(&ours), second_order(&reference)), 1e-12);
  EXPECT_LT(scaled_error(second_order(&ours_relu), second_order(&reference_relu)), 1e-12);
}

TEST_F(DepthwiseTest, UnknownInstructionSetIsRefused) {
  EXPECT_EQ(depthwise_isas().back(), "baseline");
  EXPECT_THROWS_WITH(set_depthwise_isa("sse9"), "sse9");
}

// The ops: SepConv and DilConv run their depthwise convolutions through
// depthwise_conv2d; the previous implementation called the Conv2d modules.

torch::nn::Module& child(torch::nn::Module& op, const std::string& name) { return *op.named_children()[name]; }

torch::Tensor conv_module(torch::nn::Module& op, const std::string& name, const torch::Tensor& x) {
  return child(op, name).as<torch::nn::Conv2dImpl>()->forward(x);
}

torch::Tensor bn_module(torch::nn::Module& op, const std::string& name, const torch::Tensor& x) {
  return child(op, name).as<BatchNormImpl>()->forward(x);
}

torch::Tensor previous_sep_conv(SepConv& op, const torch::Tensor& x) {
  const auto y = bn_module(op, "bn1", conv_module(op, "pw1", conv_module(op, "dw1", torch::relu(x))));
  return bn_module(op, "bn2", conv_module(op, "pw2", conv_module(op, "dw2", torch::relu(y))));
}

torch::Tensor previous_dil_conv(DilConv& op, const torch::Tensor& x) {
  return bn_module(op, "bn", conv_module(op, "pw", conv_module(op, "dw", torch::relu(x))));
}

/// The output and the gradients of x and of every parameter for Σ y·r.
std::vector<torch::Tensor> forward_backward(torch::nn::Module& op, const std::function<torch::Tensor(torch::Tensor)>& f,
                                            const torch::Tensor& x, const torch::Tensor& r) {
  for (auto& p : op.parameters()) p.mutable_grad() = torch::Tensor();
  const auto x_leaf = x.detach().requires_grad_(true);
  const auto y = f(x_leaf);
  (y * r).sum().backward();
  std::vector<torch::Tensor> out{y.detach(), x_leaf.grad()};
  for (auto& p : op.parameters()) out.push_back(p.grad().clone());
  return out;
}

void expect_same_results(torch::nn::Module& op, const std::function<torch::Tensor(torch::Tensor)>& now,
                         const std::function<torch::Tensor(torch::Tensor)>& previous, const torch::Tensor& x) {
  const auto r = torch::randn_like(now(x));
  const auto got = forward_backward(op, now, x, r);
  const auto want = forward_backward(op, previous, x, r);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_LT(scaled_error(got[i], want[i]), 1e-4) << "result " << i;
}

TEST_F(DepthwiseTest, SepConvAndDilConvMatchTheConvModules) {
  for (int64_t stride : {1, 2}) {
    for (int64_t kernel : {3, 5}) {
      SCOPED_TRACE("stride " + std::to_string(stride) + " kernel " + std::to_string(kernel));
      const auto x = torch::randn({4, 16, 11, 11}).contiguous(kChannelsLast);
      auto sep = std::make_shared<SepConv>(16, 24, kernel, stride, (kernel - 1) / 2, true);
      expect_same_results(
          *sep, [&](torch::Tensor t) { return (*sep)(t); }, [&](torch::Tensor t) { return previous_sep_conv(*sep, t); },
          x);
      auto dil = std::make_shared<DilConv>(16, 24, kernel, stride, kernel - 1, 2, true);
      expect_same_results(
          *dil, [&](torch::Tensor t) { return (*dil)(t); }, [&](torch::Tensor t) { return previous_dil_conv(*dil, t); },
          x);
    }
  }
}

/// The names of the ATen ops `f` runs (LibTorch's legacy profiler's trace).
std::string traced_ops(const std::function<void()>& f) {
  std::ostringstream trace;
  {
    torch::autograd::profiler::RecordProfile profile(trace);
    f();
  }
  return trace.str();
}

// In evaluation both ops fold their BatchNorms into the pointwise
// convolutions (conv_bn): the values of the unfolded modules, and no
// BatchNorm pass of its own.
TEST_F(DepthwiseTest, SepConvAndDilConvInEvaluationFoldTheirBatchNorms) {
  for (const bool affine : {true, false}) {
    for (int64_t stride : {1, 2}) {
      SCOPED_TRACE(std::string(affine ? "affine" : "not affine") + " stride " + std::to_string(stride));
      const auto x = torch::randn({4, 16, 11, 11}).contiguous(kChannelsLast);
      auto sep = std::make_shared<SepConv>(16, 24, 3, stride, 1, affine);
      auto dil = std::make_shared<DilConv>(16, 24, 5, stride, 4, 2, affine);
      for (torch::nn::Module* op : std::initializer_list<torch::nn::Module*>{sep.get(), dil.get()}) {
        for (auto& p : op->named_parameters()) {
          if (p.key().find("bn") != std::string::npos) p.value().data().normal_();
        }
        for (auto& b : op->named_buffers()) {
          if (b.key().find("running_mean") != std::string::npos) b.value().normal_();
          if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 2.0);
        }
        op->eval();
      }
      torch::NoGradGuard no_grad;
      EXPECT_LT(scaled_error((*sep)(x), previous_sep_conv(*sep, x)), 1e-5);
      EXPECT_LT(scaled_error((*dil)(x), previous_dil_conv(*dil, x)), 1e-5);
      EXPECT_EQ(traced_ops([&] { (*sep)(x); }).find("batch_norm"), std::string::npos);
      EXPECT_EQ(traced_ops([&] { (*dil)(x); }).find("batch_norm"), std::string::npos);
      // The unfolded modules do run one (the check can see it).
      EXPECT_NE(traced_ops([&] { previous_dil_conv(*dil, x); }).find("batch_norm"), std::string::npos);
    }
  }
}

TEST_F(DepthwiseTest, OpsKeepParameterNamesAndMultiplyAdds) {
  SepConv sep(/*C_in=*/4, /*C_out=*/4, /*kernel=*/3, /*stride=*/1, /*padding=*/1, true);
  std::vector<std::string> names;
  for (const auto& item : sep.named_parameters()) names.push_back(item.key());
  EXPECT_EQ(names, (std::vector<std::string>{"dw1.weight", "pw1.weight", "bn1.weight", "bn1.bias", "dw2.weight",
                                             "pw2.weight", "bn2.weight", "bn2.bias"}));
  DilConv dil(/*C_in=*/4, /*C_out=*/6, /*kernel=*/5, /*stride=*/2, /*padding=*/4, /*dilation=*/2, true);
  for (const auto format : {torch::MemoryFormat::Contiguous, kChannelsLast}) {
    MacCounter counter;
    sep(torch::randn({3, 4, 8, 8}).contiguous(format));
    EXPECT_EQ(counter.total(), 2 * (64 * 4 * 9 + 64 * 4 * 4));
    dil(torch::randn({3, 4, 8, 8}).contiguous(format));  // 4x4 outputs
    EXPECT_EQ(counter.total(), 2 * (64 * 4 * 9 + 64 * 4 * 4) + 16 * 4 * 25 + 16 * 6 * 4);
  }
}

}  // namespace
}  // namespace daas::nas
