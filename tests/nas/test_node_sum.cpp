#include "daas/nas/node_sum.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "tensor_support.h"
#include "test_support.h"

namespace daas::nas {
namespace {

constexpr auto kChannelsLast = torch::MemoryFormat::ChannelsLast;
/// Gradients against ATen's: the dot products for the weights are summed in
/// another order (double here, float there).
constexpr double kFloatTolerance = 1e-5;

/// A node's inputs: `count` terms of [N, C, H, W] in `format`, a cell's
/// [edges, ops] weights and a slot per term.
struct Node {
  std::vector<torch::Tensor> terms;
  torch::Tensor weights;
  std::vector<int64_t> slots;
};

Node random_node(int64_t count, torch::MemoryFormat format, torch::Dtype dtype, bool weighted,
                 std::vector<int64_t> sizes = {3, 13, 9, 7}) {
  Node node;
  for (int64_t i = 0; i < count; ++i) {
    node.terms.push_back(torch::randn(sizes, torch::dtype(dtype)).contiguous(format).requires_grad_(true));
    node.slots.push_back(8 * i + (3 * i + 1) % 8);  // edge i, some op
  }
  if (weighted) node.weights = (1 + 0.1 * torch::randn({count + 1, 8}, torch::dtype(dtype))).requires_grad_(true);
  return node;
}

/// What the search cell computed before node_sum, one ATen op at a time.
torch::Tensor reference(const Node& node) {
  torch::Tensor sum;
  for (size_t i = 0; i < node.terms.size(); ++i) {
    const auto term =
        node.weights.defined() ? node.terms[i] * node.weights[node.slots[i] / 8][node.slots[i] % 8] : node.terms[i];
    sum = sum.defined() ? sum + term : term;
  }
  return sum;
}

struct Result {
  torch::Tensor y;
  std::vector<torch::Tensor> grads;  // each term's, then the weights' (if any)
};

Result run(const Node& node, const torch::Tensor& grad_y, bool ours) {
  const auto y = ours ? node_sum(node.terms, node.weights, node.slots) : reference(node);
  std::vector<torch::Tensor> inputs = node.terms;
  if (node.weights.defined()) inputs.push_back(node.weights);
  return {y, torch::autograd::grad({y}, inputs, {grad_y})};
}

double scaled_error(const torch::Tensor& got, const torch::Tensor& want) {
  return (got - want).abs().max().item<double>() / std::max(1.0, want.abs().max().item<double>());
}

TEST(NodeSum, MatchesTheAtenExpression) {
  for (const auto format : {kChannelsLast, torch::MemoryFormat::Contiguous}) {
    for (const bool weighted : {true, false}) {
      for (const int64_t count : {1, 2, 5}) {
        SCOPED_TRACE(std::to_string(count) + " terms, weighted " + std::to_string(weighted));
        const auto node = random_node(count, format, torch::kFloat, weighted);
        EXPECT_TRUE(node_sum_uses_kernels(node.terms, node.weights));
        const auto grad_y = torch::randn_like(node.terms[0]);
        const auto got = run(node, grad_y, /*ours=*/true);
        const auto want = run(node, grad_y, /*ours=*/false);
        // The same float operations in the same order: the same bits.
        EXPECT_TRUE(torch::equal(got.y, want.y));
        EXPECT_TRUE(got.y.is_contiguous(format));
        ASSERT_EQ(got.grads.size(), want.grads.size());
        for (size_t i = 0; i < got.grads.size(); ++i) {
          EXPECT_LT(scaled_error(got.grads[i], want.grads[i]), kFloatTolerance) << "gradient " << i;
        }
      }
    }
  }
}

TEST(NodeSum, GumbelWeightsOfOneGiveTheSameGradients) {
  // A Gumbel path's straight-through weights, one-hot − p + p: exactly 1 in
  // value at the sampled op, and still a gradient back into p.
  auto node = random_node(3, kChannelsLast, torch::kFloat, /*weighted=*/false);
  const auto logits = torch::randn({4, 8}).requires_grad_(true);
  const auto p = torch::softmax(logits, 1);
  auto one_hot = torch::zeros({4, 8});
  for (const auto slot : node.slots) one_hot.view(-1)[slot] = 1;
  node.weights = one_hot - p.detach() + p;
  for (const auto slot : node.slots) ASSERT_EQ(node.weights.view(-1)[slot].item<float>(), 1.0f);
  const auto grad_y = torch::randn_like(node.terms[0]);
  const auto got = run(node, grad_y, true);
  const auto want = run(node, grad_y, false);
  EXPECT_TRUE(torch::equal(got.y, want.y));
  for (size_t i = 0; i < node.terms.size(); ++i) EXPECT_TRUE(torch::equal(got.grads[i], want.grads[i])) << i;
  EXPECT_LT(scaled_error(got.grads.back(), want.grads.back()), kFloatTolerance);
  EXPECT_GT(got.grads.back().abs().sum().item<float>(), 0.0f);
}

TEST(NodeSum, DetachedWeightsAndTermsWithoutGradient) {
  // Detached soft weights (a detached forward of the softmax sampler), a term
  // that needs no gradient, and no weights at all under create_graph.
  auto node = random_node(3, kChannelsLast, torch::kFloat, /*weighted=*/true);
  node.weights = node.weights.detach();
  node.terms[1] = node.terms[1].detach();
  const auto grad_y = torch::randn_like(node.terms[0]);
  const auto ours = node_sum(node.terms, node.weights, node.slots);
  const auto theirs = reference(node);
  EXPECT_TRUE(torch::equal(ours, theirs));
  const auto got = torch::autograd::grad({ours}, {node.terms[0], node.terms[2]}, {grad_y});
  const auto want = torch::autograd::grad({theirs}, {node.terms[0], node.terms[2]}, {grad_y});
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(torch::equal(got[i], want[i])) << i;

  const auto plain = random_node(2, kChannelsLast, torch::kDouble, /*weighted=*/false, {2, 3, 4, 4});
  const auto v = torch::randn_like(plain.terms[0]).requires_grad_(true);
  const auto u = torch::randn_like(plain.terms[0]);
  const auto second_order = [&](bool use_ours) {
    const auto y = use_ours ? node_sum(plain.terms, {}, plain.slots) : reference(plain);
    const auto g = torch::autograd::grad({(y * v).sum()}, {plain.terms[1]}, {}, true, /*create_graph=*/true)[0];
    return torch::autograd::grad({(g * u).sum()}, {v})[0];
  };
  EXPECT_TRUE(torch::equal(second_order(true), second_order(false)));
}

TEST(NodeSum, RepeatedSlotsAddTheirGradients) {
  auto node = random_node(3, kChannelsLast, torch::kFloat, /*weighted=*/true);
  node.slots = {5, 5, 9};
  const auto grad_y = torch::randn_like(node.terms[0]);
  const auto got = run(node, grad_y, true);
  const auto want = run(node, grad_y, false);
  EXPECT_TRUE(torch::equal(got.y, want.y));
  EXPECT_LT(scaled_error(got.grads.back(), want.grads.back()), kFloatTolerance);
  EXPECT_NE(got.grads.back().view(-1)[5].item<float>(), 0.0f);
}

TEST(NodeSum, DoubleKernelsPassGradcheck) {
  const auto node = random_node(3, kChannelsLast, torch::kDouble, /*weighted=*/true, {2, 3, 4, 3});
  const auto v = torch::randn_like(node.terms[0]);
  const auto got = run(node, v, true);
  const auto f = [&] {
    torch::NoGradGuard no_grad;
    return (node_sum(node.terms, node.weights, node.slots) * v).sum().item<double>();
  };
  for (size_t i = 0; i < node.terms.size(); ++i) {
    EXPECT_LT(scaled_error(got.grads[i], testing::finite_differences(node.terms[i], f)), 1e-7) << "term " << i;
  }
  EXPECT_LT(scaled_error(got.grads.back(), testing::finite_differences(node.weights, f)), 1e-7) << "weights";
}

TEST(NodeSum, SameResultsOnOneAndTwoThreads) {
  // Many chunks, and a last one that is cut short.
  const auto node = random_node(4, kChannelsLast, torch::kFloat, /*weighted=*/true, {16, 16, 28, 27});
  const auto grad_y = torch::randn_like(node.terms[0]);
  at::set_num_threads(1);
  const auto one = run(node, grad_y, true);
  at::set_num_threads(2);
  const auto two = run(node, grad_y, true);
  EXPECT_TRUE(torch::equal(one.y, two.y));
  for (size_t i = 0; i < one.grads.size(); ++i) EXPECT_TRUE(torch::equal(one.grads[i], two.grads[i])) << i;
}

TEST(NodeSum, SecondOrderGradientsMatchAten) {
  const auto node = random_node(3, kChannelsLast, torch::kDouble, /*weighted=*/true, {2, 4, 5, 5});
  const auto v = torch::randn_like(node.terms[0]);
  const auto u = torch::randn_like(node.terms[0]);
  const auto second_order = [&](bool ours) {
    const auto y = ours ? node_sum(node.terms, node.weights, node.slots) : reference(node);
    const auto grad_term = torch::autograd::grad({(y * v).sum()}, {node.terms[0]}, {}, true, /*create_graph=*/true)[0];
    return torch::autograd::grad({(grad_term * u).sum()}, {node.weights})[0];
  };
  EXPECT_LT(scaled_error(second_order(true), second_order(false)), 1e-12);
}

TEST(NodeSum, OtherInputsFallBackToAten) {
  auto node = random_node(2, kChannelsLast, torch::kFloat, /*weighted=*/true);
  node.terms[1] = node.terms[1].detach().contiguous().requires_grad_(true);  // two layouts
  EXPECT_FALSE(node_sum_uses_kernels(node.terms, node.weights));
  const auto grad_y = torch::randn_like(node.terms[0]);
  const auto got = run(node, grad_y, true);
  const auto want = run(node, grad_y, false);
  EXPECT_TRUE(torch::equal(got.y, want.y));
  for (size_t i = 0; i < got.grads.size(); ++i) EXPECT_TRUE(torch::equal(got.grads[i], want.grads[i])) << i;

  const auto floats = random_node(2, kChannelsLast, torch::kFloat, true);
  EXPECT_FALSE(node_sum_uses_kernels(floats.terms, floats.weights.to(torch::kDouble)));  // mixed dtypes
  EXPECT_FALSE(node_sum_uses_kernels({floats.terms[0].to(torch::kHalf)}, {}));           // half
  EXPECT_FALSE(node_sum_uses_kernels({floats.terms[0], floats.terms[0][0]}, {}));        // two shapes
  EXPECT_FALSE(node_sum_uses_kernels({floats.terms[0].transpose(2, 3)}, {}));            // not dense in order
}

TEST(NodeSum, ScalarTermsAreSummedToo) {
  // 0-dim terms have no rows; the kernels take them as one element.
  const auto a = torch::tensor(1.5f).requires_grad_(true), b = torch::tensor(-0.25f).requires_grad_(true);
  const auto w = torch::tensor({2.0f, 3.0f}).requires_grad_(true);
  const auto y = node_sum({a, b}, w, {0, 1});
  EXPECT_FLOAT_EQ(y.item<float>(), 2.0f * 1.5f + 3.0f * -0.25f);
  const auto grads = torch::autograd::grad({y}, {a, b, w});
  EXPECT_FLOAT_EQ(grads[0].item<float>(), 2.0f);
  EXPECT_FLOAT_EQ(grads[2][1].item<float>(), -0.25f);
}

TEST(NodeSum, BadSlotsAreClearErrors) {
  const auto node = random_node(2, kChannelsLast, torch::kFloat, true);
  EXPECT_THROWS_WITH(node_sum(node.terms, node.weights, {1}), "2 terms and 1 slots");
  EXPECT_THROWS_WITH(node_sum(node.terms, node.weights, {1, 24}), "slot 24; expected 0..23");
}

/// Drop-path factors of `count` terms over `rows` samples: 0 or 1/keep per
/// sample, and every factor of the last term exactly 1 (an identity edge).
torch::Tensor drop_scales(int64_t count, int64_t rows, torch::Dtype dtype) {
  const double keep = 0.7;
  auto scales = torch::empty({count, rows}, torch::dtype(dtype)).bernoulli_(keep) / keep;
  scales[count - 1].fill_(1.0);
  return scales;
}

/// A derived cell's node under drop-path, one ATen op at a time: each term
/// times its [N, 1, 1, 1] factor, then the sum.
torch::Tensor scaled_reference(const std::vector<torch::Tensor>& terms, const torch::Tensor& scales) {
  torch::Tensor sum;
  for (size_t i = 0; i < terms.size(); ++i) {
    const auto term = terms[i] * scales[static_cast<int64_t>(i)].view({-1, 1, 1, 1});
    sum = sum.defined() ? sum + term : term;
  }
  return sum;
}

Result run_scaled(const std::vector<torch::Tensor>& terms, const torch::Tensor& scales, const torch::Tensor& grad_y,
                  bool ours, bool create_graph = false) {
  const auto y = ours ? row_scaled_sum(terms, scales) : scaled_reference(terms, scales);
  return {y, torch::autograd::grad({y}, terms, {grad_y}, /*retain_graph=*/true, create_graph)};
}

TEST(RowScaledSum, MatchesTheAtenExpressionBitForBit) {
  torch::manual_seed(3);
  for (const auto format : {kChannelsLast, torch::MemoryFormat::Contiguous}) {
    for (const int64_t count : {1, 2, 3}) {
      SCOPED_TRACE(std::to_string(count) + " terms");
      // Rows of 13·9·7 elements: chunks of the kernels cut across rows.
      const auto terms = random_node(count, format, torch::kFloat, /*weighted=*/false, {6, 13, 9, 7}).terms;
      const auto scales = drop_scales(count, 6, torch::kFloat);
      const auto grad_y = torch::randn_like(terms[0]);
      const auto got = run_scaled(terms, scales, grad_y, /*ours=*/true);
      const auto want = run_scaled(terms, scales, grad_y, /*ours=*/false);
      EXPECT_TRUE(torch::equal(got.y, want.y));
      EXPECT_TRUE(got.y.is_contiguous(format));
      for (size_t i = 0; i < terms.size(); ++i) EXPECT_TRUE(torch::equal(got.grads[i], want.grads[i])) << "term " << i;
    }
  }
}

TEST(RowScaledSum, SameResultsOnOneAndTwoThreads) {
  const auto terms = random_node(2, kChannelsLast, torch::kFloat, /*weighted=*/false, {16, 16, 28, 27}).terms;
  const auto scales = drop_scales(2, 16, torch::kFloat);
  const auto grad_y = torch::randn_like(terms[0]);
  at::set_num_threads(1);
  const auto one = run_scaled(terms, scales, grad_y, true);
  at::set_num_threads(2);
  const auto two = run_scaled(terms, scales, grad_y, true);
  EXPECT_TRUE(torch::equal(one.y, two.y));
  for (size_t i = 0; i < one.grads.size(); ++i) EXPECT_TRUE(torch::equal(one.grads[i], two.grads[i])) << i;
}

TEST(RowScaledSum, DoubleKernelsPassGradcheckAndSecondOrderMatchesAten) {
  const auto terms = random_node(2, kChannelsLast, torch::kDouble, /*weighted=*/false, {3, 3, 4, 3}).terms;
  const auto scales = drop_scales(2, 3, torch::kDouble);
  const auto v = torch::randn_like(terms[0]);
  const auto got = run_scaled(terms, scales, v, true);
  const auto f = [&] {
    torch::NoGradGuard no_grad;
    return (row_scaled_sum(terms, scales) * v).sum().item<double>();
  };
  for (size_t i = 0; i < terms.size(); ++i) {
    EXPECT_LT(scaled_error(got.grads[i], testing::finite_differences(terms[i], f)), 1e-7) << "term " << i;
  }
  // With create_graph the backward is built from ATen ops: its gradient
  // with respect to the incoming gradient is the factor itself.
  const auto g = v.clone().requires_grad_(true);
  const auto u = torch::randn_like(terms[0]);
  const auto second_order = [&](bool ours) {
    const auto grad_term = run_scaled(terms, scales, g, ours, /*create_graph=*/true).grads[0];
    return torch::autograd::grad({(grad_term * u).sum()}, {g})[0];
  };
  EXPECT_LT(scaled_error(second_order(true), second_order(false)), 1e-12);
  EXPECT_LT(scaled_error(second_order(true), u * scales[0].view({-1, 1, 1, 1})), 1e-12);
}

TEST(RowScaledSum, OtherInputsFallBackAndBadScalesAreClearErrors) {
  auto terms = random_node(2, kChannelsLast, torch::kFloat, /*weighted=*/false).terms;
  terms[1] = terms[1].detach().contiguous().requires_grad_(true);  // two layouts: ATen
  const auto scales = drop_scales(2, 3, torch::kFloat);
  const auto grad_y = torch::randn_like(terms[0]);
  const auto got = run_scaled(terms, scales, grad_y, true);
  const auto want = run_scaled(terms, scales, grad_y, false);
  EXPECT_TRUE(torch::equal(got.y, want.y));
  for (size_t i = 0; i < terms.size(); ++i) EXPECT_TRUE(torch::equal(got.grads[i], want.grads[i])) << i;

  EXPECT_THROWS_WITH(row_scaled_sum(terms, scales.view(-1)), "scales of shape [6]; expected [2, 3]");
  EXPECT_THROWS_WITH(row_scaled_sum(terms, scales.slice(1, 0, 2)), "scales of shape [2, 2]; expected [2, 3]");
  EXPECT_THROWS_WITH(row_scaled_sum(terms, scales.clone().requires_grad_(true)), "expected constant factors");
  EXPECT_THROWS_WITH(row_scaled_sum({}, scales), "0 terms; expected at least one");
}

}  // namespace
}  // namespace daas::nas
