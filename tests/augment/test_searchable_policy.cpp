// The searchable policy: sampling, log-probability and its gradient, top-K,
// export and resume.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "daas/augment/searchable_policy.h"
#include "daas/core/files.h"
#include "test_support.h"

namespace daas::augment {
namespace {

using daas::testing::TempDir;

void randomise(SearchablePolicy& policy, uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : policy->policy_parameters()) p.copy_(torch::randn(p.sizes(), generator, p.options()));
}

TEST(SearchablePolicy, HasTheDesignShapesAndStartsUniform) {
  SearchablePolicy policy;
  EXPECT_EQ(policy->phi.sizes(), torch::IntArrayRef({105}));
  EXPECT_EQ(policy->theta.sizes(), torch::IntArrayRef({105, 2}));
  EXPECT_EQ(policy->mu.sizes(), torch::IntArrayRef({105, 2, 11}));
  EXPECT_EQ(policy->parameters().size(), 3u);
  std::set<std::pair<int, int>> pairs;
  for (const auto& pair : sub_policy_ops()) {
    EXPECT_LT(static_cast<int>(pair[0]), static_cast<int>(pair[1]));
    EXPECT_LT(static_cast<int>(pair[1]), kSearchOpCount);
    pairs.insert({static_cast<int>(pair[0]), static_cast<int>(pair[1])});
  }
  EXPECT_EQ(pairs.size(), 105u);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(1);
  const auto sample = policy->sample(64, generator);
  // Levels count for the slots applied with an op that has a magnitude.
  const auto shaped =
      (sample.applied.to(torch::kFloat) * slot_has_magnitude().index_select(0, sample.sub_policy)).sum(1);
  const auto expected = std::log(1.0 / kSubPolicyCount) + 2 * std::log(0.5) + shaped * std::log(1.0 / 11);
  EXPECT_TRUE(torch::allclose(policy->log_prob(sample), expected));
  EXPECT_GT(shaped.max().item<float>(), 0.0f);
  EXPECT_EQ(shaped.min().item<float>(), 0.0f);
}

TEST(SearchablePolicy, LevelsThatDidNotShapeTheImageGetNoGradient) {
  SearchablePolicy policy;
  randomise(policy, 5);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(6);
  const auto sample = policy->sample(256, generator);
  policy->zero_grad();
  policy->log_prob(sample).sum().backward();
  const auto has_magnitude = slot_has_magnitude();
  const auto grad = policy->mu.grad();
  int64_t silent = 0, shaping = 0;
  for (int64_t i = 0; i < sample.size(); ++i) {
    const int64_t s = sample.sub_policy[i].item<int64_t>();
    for (int64_t j = 0; j < 2; ++j) {
      // Only this image drew sub-policy s? Then μ_sj's gradient is its own.
      if (sample.sub_policy.eq(s).sum().item<int64_t>() != 1) continue;
      const bool shaped = sample.applied[i][j].item<bool>() && has_magnitude[s][j].item<float>() > 0;
      const double size = grad[s][j].abs().max().item<double>();
      if (shaped) {
        EXPECT_GT(size, 0.0) << "image " << i << " slot " << j;
        ++shaping;
      } else {
        EXPECT_EQ(size, 0.0) << "image " << i << " slot " << j;
        ++silent;
      }
    }
  }
  EXPECT_GT(silent, 5);
  EXPECT_GT(shaping, 5);
}

TEST(SearchablePolicy, LeavingOutSilentLevelsKeepsTheGradientsMeanAndLowersItsVariance) {
  // The REINFORCE estimate of ∇μ E[d] with a reward that, like the real one,
  // depends on a level only where it shaped the image, over many batches of
  // 64: with and without the levels that did not, from the same draws.
  SearchablePolicy policy(SearchablePolicyOptions().levels(5));
  randomise(policy, 7);
  {
    torch::NoGradGuard no_grad;
    policy->phi.mul_(3);   // a few sub-policies take most draws
    policy->mu.mul_(0.3);  // no level so rare that its few draws make the mean's error skewed
  }
  auto generator = at::make_generator<at::CPUGeneratorImpl>(8);
  const auto has_magnitude = slot_has_magnitude();
  const int64_t batches = 400, n = 64;
  std::vector<torch::Tensor> now, before;
  for (int64_t k = 0; k < batches; ++k) {
    const auto sample = policy->sample(n, generator);
    const auto shaped = sample.applied.to(torch::kFloat) * has_magnitude.index_select(0, sample.sub_policy);
    const auto level = sample.levels.to(torch::kFloat) / 4;
    const auto d = (shaped * (level - 0.3).square()).sum(1) + 0.1 * torch::randn({n}, generator);
    const auto advantage = d - d.mean();
    for (const bool every : {false, true}) {
      policy->zero_grad();
      // Before: every draw's log-probability, written out here.
      const auto b = sample.applied.to(torch::kFloat);
      const auto t = policy->theta.index_select(0, sample.sub_policy);
      const auto levels = torch::log_softmax(policy->mu, 2).index_select(0, sample.sub_policy);
      const auto log_p = every ? torch::log_softmax(policy->phi, 0).index_select(0, sample.sub_policy) +
                                     (b * torch::log_sigmoid(t) + (1 - b) * torch::log_sigmoid(-t)).sum(1) +
                                     levels.gather(2, sample.levels.unsqueeze(2)).squeeze(2).sum(1)
                               : policy->log_prob(sample);
      (advantage * log_p).mean().backward();
      (every ? before : now).push_back(policy->mu.grad().clone());
    }
  }
  const auto a = torch::stack(now), b = torch::stack(before);
  // The same expectation: per entry, the mean of the paired differences is
  // within 5 standard errors of zero (the silent terms average out).
  const auto difference = a - b;
  const auto standard_error = difference.std(0) / std::sqrt(static_cast<double>(batches));
  const auto drawn = standard_error > 0;
  ASSERT_GT(drawn.sum().item<int64_t>(), 100);
  const auto t = difference.mean(0).masked_select(drawn).abs() / standard_error.masked_select(drawn);
  EXPECT_LT(t.max().item<float>(), 5.0f);
  // Less variance in total, by a clear margin.
  const double var_now = a.var(0).sum().item<double>(), var_before = b.var(0).sum().item<double>();
  EXPECT_LT(var_now, 0.8 * var_before) << var_now << " against " << var_before;
  std::cout << "mu gradient variance, summed: " << var_now << " without silent levels, " << var_before << " with\n";
}

TEST(SearchablePolicy, SamplesFollowTheDistribution) {
  SearchablePolicy policy(SearchablePolicyOptions().levels(5));
  {
    torch::NoGradGuard no_grad;
    policy->phi[7] = 3.0;       // e^3 / (e^3 + 104) = 0.1618
    policy->theta[7][0] = 2.0;  // σ = 0.8808
    policy->mu[7][1][4] = 2.0;  // e^2 / (e^2 + 4) = 0.6488
  }
  auto generator = at::make_generator<at::CPUGeneratorImpl>(2);
  const int64_t n = 20000;
  const auto sample = policy->sample(n, generator);
  const auto chosen = sample.sub_policy.eq(7);
  EXPECT_NEAR(chosen.to(torch::kDouble).mean().item<double>(), 0.1618, 0.01);
  const auto applied = sample.applied.select(1, 0).masked_select(chosen).to(torch::kDouble).mean().item<double>();
  EXPECT_NEAR(applied, 0.8808, 0.02);
  const auto top = sample.levels.select(1, 1).masked_select(chosen).eq(4).to(torch::kDouble).mean().item<double>();
  EXPECT_NEAR(top, 0.6488, 0.025);
  auto same = at::make_generator<at::CPUGeneratorImpl>(2);
  EXPECT_TRUE(torch::equal(policy->sample(n, same).levels, sample.levels));
}

TEST(SearchablePolicy, LogProbGradientMatchesFiniteDifferences) {
  SearchablePolicy policy(SearchablePolicyOptions().levels(4));
  randomise(policy, 3);
  policy->to(torch::kDouble);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(4);
  const auto sample = policy->sample(12, generator);
  // A REINFORCE-like objective: Σ_i w_i log p(τ_i) with arbitrary weights.
  const auto weights = torch::randn({12}, generator, torch::kDouble);
  auto objective = [&] { return (weights * policy->log_prob(sample)).sum(); };
  policy->zero_grad();
  objective().backward();
  const double eps = 1e-6;
  int checked = 0;
  for (auto& p : policy->policy_parameters()) {
    const auto flat = p.detach().view(-1);
    const auto grad = p.grad().view(-1);
    // Every entry a drawn sub-policy touches, plus a spread of untouched ones.
    for (int64_t k = 0; k < flat.numel(); k += (k % 7 == 0 ? 1 : 5)) {
      const double saved = flat[k].item<double>();
      torch::NoGradGuard no_grad;
      flat[k] = saved + eps;
      const double up = objective().item<double>();
      flat[k] = saved - eps;
      const double down = objective().item<double>();
      flat[k] = saved;
      const double numeric = (up - down) / (2 * eps);
      ASSERT_NEAR(grad[k].item<double>(), numeric, 1e-6 + 1e-5 * std::abs(numeric)) << "entry " << k;
      ++checked;
    }
  }
  EXPECT_GT(checked, 100);
  // The gradient is not trivially zero: φ moves towards the weighted draws.
  EXPECT_GT(policy->phi.grad().abs().sum().item<double>(), 0.1);
}

TEST(SearchablePolicy, ApplyUsesTheDrawnOpsAndLevels) {
  SearchablePolicy policy;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
  const auto images = torch::randint(0, 256, {3, 3, 16, 16}, generator, torch::kLong).to(torch::kByte);
  PolicySample sample;
  // Sub-policy index of (Invert, Solarize): ops 6 and 8.
  int64_t s = -1;
  for (size_t i = 0; i < sub_policy_ops().size(); ++i) {
    if (sub_policy_ops()[i] == std::array<Op, 2>{Op::Invert, Op::Solarize}) s = static_cast<int64_t>(i);
  }
  ASSERT_GE(s, 0);
  sample.sub_policy = torch::full({3}, s, torch::kLong);
  sample.applied = torch::tensor({true, false, false, false, true, true}).view({3, 2});
  // Image 2: Solarize at level 4 of 10, threshold 256 · 0.4 = 102.4.
  sample.levels = torch::tensor({0, 0, 0, 0, 0, 4}, torch::kLong).view({3, 2});
  sample.negate = torch::zeros({3, 2}, torch::kBool);
  const auto out = policy->apply(images, sample, generator);
  EXPECT_TRUE(torch::equal(out[0], 255 - images[0]));  // Invert only
  EXPECT_TRUE(torch::equal(out[1], images[1]));        // nothing applied
  // Invert, then Solarize: pixels at or above the threshold (103 and up on
  // the uint8 scale) are inverted again, the others stay inverted.
  const auto inverted = 255 - images[2];
  const auto solarized = torch::where(inverted >= 103, 255 - inverted, inverted);
  EXPECT_TRUE(torch::equal(out[2], solarized));
  EXPECT_FALSE(torch::equal(out[2], inverted));
}

TEST(SearchablePolicy, NeedsTwoMagnitudeLevels) {
  EXPECT_THROWS_WITH(SearchablePolicy(SearchablePolicyOptions().levels(1)),
                     "SearchablePolicy: 1 magnitude levels; expected >= 2");
}

TEST(SearchablePolicy, TopKExportAndResume) {
  SearchablePolicy policy(SearchablePolicyOptions().levels(6));
  randomise(policy, 6);
  {
    torch::NoGradGuard no_grad;
    policy->phi[42] = 10.0;
    policy->theta[42][1] = 0.0;
    policy->mu[42][1].zero_();
    policy->mu[42][1][3] = 5.0;
  }
  const auto top = policy->top_k(5);
  ASSERT_EQ(top.size(), 5u);
  EXPECT_EQ(top[0][0].op, sub_policy_ops()[42][0]);
  EXPECT_EQ(top[0][1].op, sub_policy_ops()[42][1]);
  EXPECT_DOUBLE_EQ(top[0][1].probability, 0.5);
  EXPECT_DOUBLE_EQ(top[0][1].level, 0.6);

  TempDir dir;
  const std::string path = dir.file("policy.json");
  policy->save(path, 5);
  const auto as_file = read_policy_file(path);
  ASSERT_EQ(as_file.size(), 5u);
  EXPECT_EQ(as_file[0][1].op, top[0][1].op);
  EXPECT_NO_THROW(make_policy("file:" + path));

  SearchablePolicy resumed(SearchablePolicyOptions().levels(6));
  resumed->load(path);
  EXPECT_TRUE(torch::equal(resumed->phi, policy->phi));
  EXPECT_TRUE(torch::equal(resumed->theta, policy->theta));
  EXPECT_TRUE(torch::equal(resumed->mu, policy->mu));
  SearchablePolicy other(SearchablePolicyOptions().levels(11));
  EXPECT_THROWS_WITH(other->load(path), "beta has 6 magnitude levels; this policy has 11");

  // A β number no float holds is refused, not converted (undefined behaviour).
  auto damaged = nlohmann::json::parse(core::read_file(path));
  damaged["beta"]["phi"][3] = 1e300;
  core::write_file_atomic(dir.file("damaged.json"), damaged.dump());
  EXPECT_THROWS_WITH(resumed->load(dir.file("damaged.json")), "beta.phi: 1e+300 is out of range");
  EXPECT_TRUE(torch::equal(resumed->phi, policy->phi));
}

}  // namespace
}  // namespace daas::augment
