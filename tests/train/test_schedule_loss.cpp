#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "daas/train/loss.h"
#include "daas/train/schedule.h"
#include "test_support.h"

namespace daas::train {
namespace {

TEST(Schedule, CosineRunsFromHighToLow) {
  EXPECT_DOUBLE_EQ(cosine_schedule(0.025, 0.001, 0, 10), 0.025);
  EXPECT_DOUBLE_EQ(cosine_schedule(0.025, 0.001, 5, 10), 0.013);
  EXPECT_NEAR(cosine_schedule(0.025, 0.001, 10, 10), 0.001, 1e-15);
}

TEST(Schedule, TemperatureIsLinearToTheLastEpoch) {
  EXPECT_DOUBLE_EQ(linear_schedule(10, 0.1, 0, 100), 10);
  EXPECT_NEAR(linear_schedule(10, 0.1, 99, 100), 0.1, 1e-12);
  EXPECT_DOUBLE_EQ(linear_schedule(10, 0.1, 0, 1), 10);
}

TEST(Schedule, DropPathGrowsLinearly) {
  EXPECT_DOUBLE_EQ(drop_path_schedule(0.2, 0, 600), 0.0);
  EXPECT_DOUBLE_EQ(drop_path_schedule(0.2, 300, 600), 0.1);
}

TEST(Loss, LabelSmoothingOnAHandMadeCase) {
  // Two classes, logits (0, 0): log p = log 0.5 for both, so any ε gives log 2.
  const auto even = torch::zeros({1, 2});
  EXPECT_NEAR(smoothed_cross_entropy(even, torch::tensor({0L}), 0.1).item<double>(), std::log(2.0), 1e-6);
  // logits (ln 3, 0): p = (0.75, 0.25); ε = 0.2, K = 2: target (0.9, 0.1).
  const auto logits = torch::tensor({{std::log(3.0), 0.0}});
  const double expected = -(0.9 * std::log(0.75) + 0.1 * std::log(0.25));
  EXPECT_NEAR(smoothed_cross_entropy(logits, torch::tensor({0L}), 0.2).item<double>(), expected, 1e-6);
  EXPECT_NEAR(smoothed_cross_entropy(logits, torch::tensor({0L}), 0.0).item<double>(), -std::log(0.75), 1e-6);
}

TEST(Loss, TopKCountsAndNonFiniteLosses) {
  const auto logits = torch::tensor({{0.1, 0.5, 0.4}, {0.9, 0.05, 0.05}});
  const auto labels = torch::tensor({2L, 0L});
  EXPECT_EQ(correct_top_k(logits, labels, 1), 1);
  EXPECT_EQ(correct_top_k(logits, labels, 2), 2);
  EXPECT_THROWS_WITH(check_finite(torch::tensor(NAN), "search weight loss", 3, 17),
                     "search weight loss is nan at epoch 3, step 17");
}

}  // namespace
}  // namespace daas::train
