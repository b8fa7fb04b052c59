#include "daas/nas/supernet.h"

#include <torch/torch.h>

#include "test_support.h"

namespace daas::nas {
namespace {

// DARTS model_search.py parameter count written out op by op: affine stem,
// non-affine BN elsewhere (no parameters), pools without weights.
int64_t darts_search_parameters(int64_t C, int64_t layers, int64_t classes, int64_t in_channels) {
  const int64_t C_stem = 3 * C;
  int64_t total = 9 * in_channels * C_stem + 2 * C_stem;
  int64_t C_pp = C_stem, C_p = C_stem, C_cur = C;
  for (int64_t i = 0; i < layers; ++i) {
    const bool reduction = i == layers / 3 || i == 2 * layers / 3;
    if (reduction) C_cur *= 2;
    total += C_pp * C_cur + C_p * C_cur;  // preprocess0 (1x1 conv or FactorizedReduce), preprocess1
    for (int64_t node = 0; node < 4; ++node) {
      for (int64_t j = 0; j < node + 2; ++j) {
        const int64_t c = C_cur;
        total += 2 * (9 * c + c * c) + 2 * (25 * c + c * c) + (9 * c + c * c) + (25 * c + c * c);
        if (reduction && j < 2) total += c * c;  // skip_connect = FactorizedReduce
      }
    }
    C_pp = C_p;
    C_p = 4 * C_cur;
  }
  return total + C_p * classes + classes;
}

SearchNetwork tiny(const std::string& sampler = "gumbel") {
  return SearchNetwork(SearchNetworkOptions(/*C=*/4, /*layers=*/3).sampler(sampler));
}

class SearchNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(0); }
};

TEST_F(SearchNetworkTest, ParameterCountFollowsDartsRules) {
  SearchNetwork net(SearchNetworkOptions(16, 8));
  int64_t weights = 0;
  for (const auto& p : net->weight_parameters()) weights += p.numel();
  // 1,930,618: what DARTS train_search.py logs as "param size" at C=16, 8 cells.
  EXPECT_EQ(weights, 1930618);
  EXPECT_EQ(weights, darts_search_parameters(16, 8, 10, 3));
  SearchNetwork other(SearchNetworkOptions(8, 5).num_classes(7).in_channels(1));
  int64_t other_weights = 0;
  for (const auto& p : other->weight_parameters()) other_weights += p.numel();
  EXPECT_EQ(other_weights, darts_search_parameters(8, 5, 7, 1));
}

TEST_F(SearchNetworkTest, ArchitectureParametersAreRegisteredApart) {
  auto net = tiny();
  const auto arch = net->arch_parameters();
  ASSERT_EQ(arch.size(), 2u);
  for (const auto& a : arch) {
    EXPECT_EQ(a.sizes(), (std::vector<int64_t>{14, kNumPrimitives}));
    EXPECT_LT(a.abs().max().item<double>(), 1e-2);
    EXPECT_GT(a.abs().max().item<double>(), 0.0);
  }
  EXPECT_EQ(net->weight_parameters().size() + 2, net->parameters().size());
  for (const auto& w : net->weight_parameters()) {
    EXPECT_FALSE(w.is_same(arch[0]) || w.is_same(arch[1]));
  }
  const auto state = net->named_parameters();
  EXPECT_TRUE(state.contains("alpha_normal"));
  EXPECT_TRUE(state.contains("alpha_reduce"));
}

TEST_F(SearchNetworkTest, StraightThroughGradientsReachAlpha) {
  auto net = tiny();
  const auto path = net->sample_path();
  for (const auto* cell : {&path.normal, &path.reduce}) {
    EXPECT_TRUE(torch::allclose(cell->weights.sum(1), torch::ones({14})));
    EXPECT_EQ(cell->weights.detach().gather(1, cell->index.unsqueeze(1)).squeeze(1).eq(1).all().item<bool>(), true);
  }
  auto logits = net->forward(torch::randn({2, 3, 8, 8}), path, /*detach_arch=*/false);
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 10}));
  logits.pow(2).sum().backward();
  ASSERT_TRUE(net->alpha_normal().grad().defined());
  EXPECT_GT(net->alpha_normal().grad().abs().sum().item<double>(), 0.0);
  EXPECT_GT(net->alpha_reduce().grad().abs().sum().item<double>(), 0.0);
}

TEST_F(SearchNetworkTest, DetachedForwardLeavesAlphaAlone) {
  for (const char* sampler : {"gumbel", "softmax"}) {
    auto net = tiny(sampler);
    const auto path = net->sample_path();
    net->forward(torch::randn({2, 3, 8, 8}), path, /*detach_arch=*/true).pow(2).sum().backward();
    EXPECT_FALSE(net->alpha_normal().grad().defined()) << sampler;
    EXPECT_TRUE(net->weight_parameters()[0].grad().defined()) << sampler;
  }
}

void reset_calls(SearchNetwork& net) {
  for (const auto& cell : net->cells()) {
    for (const auto& edge : cell->edges()) {
      for (const auto& op : edge->ops()) op->reset_calls();
    }
  }
}

TEST_F(SearchNetworkTest, GumbelRunsOnlyTheSampledOpOfEachEdge) {
  auto net = tiny();
  // Make `none` likely on some edges, so the test sees it skipped too.
  {
    torch::NoGradGuard no_grad;
    net->alpha_normal().index_put_({torch::indexing::Slice(0, 5), 0}, 3.0);
  }
  net->set_tau(1.0);
  const auto path = net->sample_path();
  reset_calls(net);
  net->forward(torch::randn({2, 3, 8, 8}), path, /*detach_arch=*/false);
  int64_t none_edges = 0;
  for (const auto& cell : net->cells()) {
    const auto& cell_path = cell->reduction() ? path.reduce : path.normal;
    const auto index = cell_path.index.accessor<int64_t, 1>();
    for (size_t e = 0; e < cell->edges().size(); ++e) {
      const auto& ops = cell->edges()[e]->ops();
      for (int64_t k = 0; k < kNumPrimitives; ++k) {
        const bool runs = k == index[static_cast<int64_t>(e)] && k != static_cast<int64_t>(Primitive::kNone);
        EXPECT_EQ(ops[static_cast<size_t>(k)]->calls(), runs ? 1 : 0) << "edge " << e << " op " << k;
      }
      none_edges += index[static_cast<int64_t>(e)] == 0;
    }
  }
  EXPECT_GT(none_edges, 0);
}

TEST_F(SearchNetworkTest, NodesWhoseEdgesAllDrewNoneAreZero) {
  // Every edge `none`: each node is zero, so a cell's output is zero at the
  // cell's output size, in normal and in reduction cells (this once read a
  // dangling reference and crashed).
  auto net = tiny();
  {
    torch::NoGradGuard no_grad;
    net->alpha_normal().select(1, 0).fill_(100.0);
    net->alpha_reduce().select(1, 0).fill_(100.0);
  }
  net->set_tau(0.1);
  const auto path = net->sample_path();
  ASSERT_TRUE(path.normal.index.eq(0).all().item<bool>());
  ASSERT_TRUE(path.reduce.index.eq(0).all().item<bool>());
  for (const bool reduction : {false, true}) {
    SearchCell cell(/*steps=*/4, /*multiplier=*/4, /*C_prev_prev=*/6, /*C_prev=*/6, /*C=*/4, reduction,
                    /*reduction_prev=*/false);
    const auto s = torch::randn({2, 6, 9, 9});
    CellInput input(s);
    const auto out = cell->forward(input, input, reduction ? path.reduce : path.normal, /*weights=*/torch::Tensor());
    const int64_t side = reduction ? 5 : 9;
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 16, side, side})) << reduction;
    EXPECT_EQ(out.abs().max().item<double>(), 0.0) << reduction;
  }
  // Through the whole network: the last cell gives zeros, so every image's
  // logits are the classifier's bias.
  const auto logits = net->forward(torch::randn({2, 3, 9, 9}), path, /*detach_arch=*/true);
  const auto bias = net->named_parameters()["classifier.bias"];
  EXPECT_TRUE(torch::equal(logits, bias.detach().expand({2, 10})));
}

TEST_F(SearchNetworkTest, SoftmaxRunsEveryOpButNone) {
  auto net = tiny("softmax");
  const auto path = net->sample_path();
  reset_calls(net);
  net->forward(torch::randn({2, 3, 8, 8}), path, /*detach_arch=*/false).sum().backward();
  for (const auto& cell : net->cells()) {
    for (const auto& edge : cell->edges()) {
      for (int64_t k = 0; k < kNumPrimitives; ++k) {
        EXPECT_EQ(edge->ops()[static_cast<size_t>(k)]->calls(), k == 0 ? 0 : 1);
      }
    }
  }
  EXPECT_GT(net->alpha_normal().grad().abs().sum().item<double>(), 0.0);
}

TEST_F(SearchNetworkTest, OnePathServesSeveralForwards) {
  auto net = tiny();
  net->eval();
  const auto x = torch::randn({2, 3, 8, 8});
  const auto path = net->sample_path();
  const auto a = net->forward(x, path, /*detach_arch=*/true);
  const auto b = net->forward(x, path, /*detach_arch=*/false);
  EXPECT_TRUE(torch::allclose(a, b));
}

TEST_F(SearchNetworkTest, GeneratorMakesSamplesReproducible) {
  auto net = tiny();
  net->set_tau(1.0);
  auto g1 = at::detail::createCPUGenerator(42);
  auto g2 = at::detail::createCPUGenerator(42);
  const auto a = net->sample_path(&g1);
  const auto b = net->sample_path(&g2);
  EXPECT_TRUE(a.normal.index.equal(b.normal.index));
  EXPECT_TRUE(a.reduce.index.equal(b.reduce.index));
}

TEST_F(SearchNetworkTest, GumbelFollowsAlpha) {
  auto alpha = torch::zeros({14, kNumPrimitives});
  alpha.index_put_({torch::indexing::Slice(), 5}, 4.0);  // softmax ≈ 0.89 on sep_conv_5x5
  int64_t hits = 0;
  for (int i = 0; i < 50; ++i) hits += gumbel_path(alpha, 1.0, nullptr).index.eq(5).sum().item<int64_t>();
  EXPECT_GT(hits, 50 * 14 * 8 / 10);
  EXPECT_LT(hits, 50 * 14);
}

TEST_F(SearchNetworkTest, GumbelResamplingIsBounded) {
  const auto alpha = torch::full({14, kNumPrimitives}, std::nan(""));
  EXPECT_THROWS_WITH(gumbel_path(alpha, 1.0, nullptr), "draws in a row gave inf or NaN");
}

TEST_F(SearchNetworkTest, SettingsAreChecked) {
  auto net = tiny();
  EXPECT_THROWS_WITH(net->set_tau(0.0), "tau = 0");
  net->set_tau(0.5);
  EXPECT_DOUBLE_EQ(net->tau(), 0.5);
  EXPECT_THROWS_WITH(tiny("relax"), "unknown sampler 'relax'; expected one of gumbel, softmax");
  EXPECT_THROWS_WITH(SearchNetwork(SearchNetworkOptions(5, 8)), "C = 5");
}

TEST_F(SearchNetworkTest, GenotypeDerivesFromAlpha) {
  auto net = tiny();
  {
    torch::NoGradGuard no_grad;
    net->alpha_normal().zero_();
    net->alpha_reduce().zero_();
    // node 0 (edges 0,1): both inputs, best ops sep_conv_3x3 / max_pool
    net->alpha_normal()[0][4] = 2.0;
    net->alpha_normal()[1][1] = 1.0;
  }
  const auto g = net->genotype();
  EXPECT_EQ(g.normal[0], (GenotypeEdge{Primitive::kSepConv3x3, 0}));
  EXPECT_EQ(g.normal[1], (GenotypeEdge{Primitive::kMaxPool3x3, 1}));
  EXPECT_EQ(g.normal_concat, (std::vector<int64_t>{2, 3, 4, 5}));
}

TEST_F(SearchNetworkTest, MovesWithTo) {
  auto net = tiny();
  net->to(torch::kDouble);
  EXPECT_EQ(net->alpha_normal().scalar_type(), torch::kDouble);
  const auto logits = net->forward(torch::randn({1, 3, 8, 8}, torch::kDouble));
  EXPECT_EQ(logits.scalar_type(), torch::kDouble);
}

}  // namespace
}  // namespace daas::nas
