// Subsets, halves and statistics.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "daas/data/dataset.h"
#include "test_support.h"

namespace daas::data {
namespace {

Dataset toy(int64_t per_class, int64_t classes) {
  Dataset data;
  data.labels = torch::arange(classes, torch::kLong).repeat({per_class});
  data.images = torch::arange(data.labels.size(0), torch::kLong).remainder(256).to(torch::kUInt8).view({-1, 1, 1, 1});
  for (int64_t c = 0; c < classes; ++c) data.classes.push_back(std::to_string(c));
  return data;
}

TEST(Subset, IsStratifiedAndDeterministic) {
  const auto data = toy(100, 10);
  const auto a = stratified_indices(data.labels, 10, 250, 3);
  const auto b = stratified_indices(data.labels, 10, 250, 3);
  const auto c = stratified_indices(data.labels, 10, 250, 4);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  EXPECT_EQ(std::get<0>(at::_unique(a)).size(0), 250);
  const auto counts = torch::bincount(data.labels.index_select(0, a), {}, 10);
  EXPECT_EQ(counts.min().item<int64_t>(), 25);
  EXPECT_EQ(counts.max().item<int64_t>(), 25);
}

TEST(Subset, RejectsImpossibleCounts) {
  const auto data = toy(3, 2);
  EXPECT_THROWS_WITH(stratified_indices(data.labels, 2, 7, 0), "subset of 7 images requested from 6 images");
}

TEST(Subset, LoadDataScalesTestSplit) {
  DataOptions options;
  options.subset = 600;
  const auto splits = load_data(options, 0);
  EXPECT_EQ(splits.train.size(), 600);
  EXPECT_EQ(splits.test.size(), 100);
  EXPECT_TRUE(torch::equal(splits.train.class_counts(), torch::full({10}, 60, torch::kLong)));
}

TEST(Halves, AreDisjointStratifiedAndCoverTheSet) {
  const auto data = toy(10, 4);
  const auto [first, second] = split_halves(data, 1);
  EXPECT_EQ(first.size(), 20);
  EXPECT_EQ(second.size(), 20);
  EXPECT_TRUE(torch::equal(first.class_counts(), torch::full({4}, 5, torch::kLong)));
  const auto all = torch::cat({first.images.flatten(), second.images.flatten()}).to(torch::kLong);
  EXPECT_TRUE(torch::equal(std::get<0>(all.sort()), torch::arange(40, torch::kLong)));
}

TEST(Statistics, MeanAndStdPerChannel) {
  Dataset data;
  data.images = torch::zeros({2, 2, 1, 2}, torch::kUInt8);
  data.images.select(1, 1).fill_(255);
  data.images[0][0].fill_(255);
  compute_statistics(data);
  EXPECT_DOUBLE_EQ(data.mean[0], 0.5);
  EXPECT_DOUBLE_EQ(data.std[0], 0.5);
  // Channel 1 is constant: std 1, so normalised inputs stay finite.
  EXPECT_DOUBLE_EQ(data.mean[1], 1.0);
  EXPECT_DOUBLE_EQ(data.std[1], 1.0);
}

}  // namespace
}  // namespace daas::data
