// The per-epoch records of a search (alpha.jsonl, policy_history.jsonl).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "daas/augment/searchable_policy.h"
#include "daas/core/files.h"
#include "daas/core/metrics.h"
#include "daas/search/history.h"
#include "test_support.h"

namespace daas::search {
namespace {

double sum(const nlohmann::json& values) {
  double total = 0;
  for (const auto& v : values) total += v.get<double>();
  return total;
}

TEST(SearchHistory, RoundingKeepsSignificantDigits) {
  EXPECT_EQ(round_significant(0.12519872188568115, 4), 0.1252);
  EXPECT_EQ(round_significant(123456.0, 3), 123000.0);
  EXPECT_EQ(round_significant(-0.000123456, 2), -0.00012);
  EXPECT_EQ(round_significant(0.0, 4), 0.0);
  EXPECT_EQ(nlohmann::json(round_significant(2.0 / 3.0, 4)).dump(), "0.6667");
}

TEST(SearchHistory, AlphaRecordIsTheSoftmaxOfEveryEdge) {
  torch::manual_seed(0);
  auto normal = torch::randn({14, 8});
  normal[5][3] = 20.0;  // edge 5 all but decided for op 3
  const auto record = alpha_record(4, normal, torch::zeros({14, 8}));
  EXPECT_EQ(record["epoch"], 4);
  EXPECT_EQ(record["ops"][4], "sep_conv_3x3");
  ASSERT_EQ(record["normal"].size(), 14u);
  for (const auto& row : record["normal"]) EXPECT_NEAR(sum(row), 1.0, 1e-3);
  EXPECT_GT(record["normal"][5][3].get<double>(), 0.999);
  EXPECT_EQ(record["reduce"][0][0].get<double>(), 0.125);
  EXPECT_THROWS_WITH(alpha_record(1, torch::zeros({14, 7}), torch::zeros({14, 8})), "expected [edges, 8]");
}

TEST(SearchHistory, UniformPolicyGivesUniformSummaries) {
  augment::SearchablePolicy policy;
  const auto record = policy_record(1, *policy, 10);
  ASSERT_EQ(record["application"].size(), 15u);
  // Each op is in 14 of the 105 sub-policies, applied with p = 0.5: 14 / 105 / 2 = 1/15.
  for (const auto& p : record["application"]) EXPECT_NEAR(p.get<double>(), 1.0 / 15, 1e-4);
  for (const auto& row : record["level_distribution"]) {
    EXPECT_NEAR(sum(row), 1.0, 1e-3);
    EXPECT_NEAR(row[0].get<double>(), 1.0 / 11, 1e-4);
  }
  for (const auto& m : record["mean_level"]) EXPECT_NEAR(m.get<double>(), 0.5, 1e-4);
  EXPECT_EQ(record["sub_policy_probability"].size(), 105u);
  EXPECT_NEAR(sum(record["sub_policy_probability"]), 1.0, 1e-3);
  EXPECT_EQ(record["top"].size(), 10u);
}

TEST(SearchHistory, PolicySummariesFollowBeta) {
  augment::SearchablePolicy policy;
  {
    torch::NoGradGuard no_grad;
    // Sub-policy 0 is (ShearX, ShearY): chosen far more often, ShearY slot almost always applied at the top level.
    policy->phi[0] = 5.0;
    policy->theta[0][1] = 6.0;
    policy->mu[0][1][10] = 8.0;
  }
  const auto record = policy_record(2, *policy, 3);
  const auto& top = record["top"][0];
  EXPECT_EQ(top["ops"], nlohmann::json({"ShearX", "ShearY"}));
  EXPECT_GT(top["probability"].get<double>(), 0.5);
  EXPECT_GT(top["apply"][1].get<double>(), 0.99);
  EXPECT_EQ(top["level"][1].get<double>(), 1.0);
  const double shear_y = record["application"][1].get<double>();
  const double rotate = record["application"][4].get<double>();
  EXPECT_GT(shear_y, 0.5);
  EXPECT_LT(rotate, 1.0 / 15);
  // ShearY's level distribution leans to the top level; Rotate's stays uniform.
  EXPECT_GT(record["level_distribution"][1][10].get<double>(), 0.5);
  EXPECT_NEAR(record["level_distribution"][4][10].get<double>(), 1.0 / 11, 1e-4);
  EXPECT_EQ(record["top"].size(), 3u);
}

TEST(SearchHistory, FilesFollowTheModeAndResume) {
  testing::TempDir dir;
  augment::SearchablePolicy policy;
  const std::vector<torch::Tensor> alphas = {torch::zeros({14, 8}), torch::zeros({14, 8})};
  {
    SearchHistory history(dir.path(), -1, /*has_alpha=*/true, /*has_policy=*/true);
    for (int64_t epoch = 1; epoch <= 3; ++epoch) history.append(epoch, alphas, policy);
  }
  EXPECT_EQ(core::read_metrics(dir.file(SearchHistory::kAlphaFile)).size(), 3u);
  EXPECT_EQ(core::read_metrics(dir.file(SearchHistory::kPolicyFile)).size(), 3u);
  // A run resumed from epoch 2 drops epoch 3's records before writing its own.
  {
    SearchHistory history(dir.path(), 2, true, true);
    history.append(3, alphas, policy);
  }
  const auto records = core::read_metrics(dir.file(SearchHistory::kAlphaFile));
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[2]["epoch"], 3);
  // Arch mode (no β) writes no policy history; policy mode (no α) no alpha.jsonl.
  testing::TempDir arch;
  SearchHistory(arch.path(), -1, true, false).append(1, alphas, augment::SearchablePolicy(nullptr));
  EXPECT_TRUE(core::file_exists(arch.file(SearchHistory::kAlphaFile)));
  EXPECT_FALSE(core::file_exists(arch.file(SearchHistory::kPolicyFile)));
  testing::TempDir fixed;
  SearchHistory(fixed.path(), -1, false, true).append(1, {}, policy);
  EXPECT_FALSE(core::file_exists(fixed.file(SearchHistory::kAlphaFile)));
  EXPECT_EQ(core::read_metrics(fixed.file(SearchHistory::kPolicyFile)).size(), 1u);
}

}  // namespace
}  // namespace daas::search
