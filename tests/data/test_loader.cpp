// The batch loader: coverage, seeded order, drop-last, transforms on the
// prefetch thread and their errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "daas/data/loader.h"
#include "test_support.h"

namespace daas::data {
namespace {

Dataset numbered(int64_t n) {
  Dataset data;
  data.images = torch::arange(n, torch::kLong).to(torch::kUInt8).view({n, 1, 1, 1});
  data.labels = torch::zeros({n}, torch::kLong);
  data.classes = {"only"};
  return data;
}

std::vector<int64_t> drain(BatchLoader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<int64_t> seen;
  while (auto batch = loader.next()) {
    for (int64_t i = 0; i < batch->images.size(0); ++i) seen.push_back(batch->images[i].item<int64_t>());
  }
  return seen;
}

TEST(Loader, EpochCoversEveryImageOnceWithoutDropLast) {
  const auto data = numbered(10);
  BatchLoader loader(data, {/*batch_size=*/3, /*shuffle=*/true, /*drop_last=*/false, /*seed=*/1});
  EXPECT_EQ(loader.batches_per_epoch(), 4);
  auto seen = drain(loader, 0);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(Loader, DropLastDropsThePartialBatch) {
  const auto data = numbered(10);
  BatchLoader loader(data, {3, true, true, 1});
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  EXPECT_EQ(drain(loader, 0).size(), 9u);
}

TEST(Loader, OrderIsAFunctionOfSeedAndEpoch) {
  const auto data = numbered(50);
  BatchLoader a(data, {5, true, true, 7});
  BatchLoader b(data, {5, true, true, 7});
  BatchLoader c(data, {5, true, true, 8});
  const auto a1 = drain(a, 1);
  EXPECT_EQ(a1, drain(b, 1));  // same seed, same epoch, fresh loader (a resumed run)
  EXPECT_NE(a1, drain(a, 2));  // next epoch reshuffles
  EXPECT_NE(a1, drain(c, 1));  // another seed
  EXPECT_EQ(drain(a, 1), a1);  // epoch order does not depend on history
}

TEST(Loader, TransformRunsOnEveryBatch) {
  const auto data = numbered(12);
  BatchLoader loader(data, {4, false, true, 0},
                     [](Batch& batch) { batch.images = batch.images.to(torch::kFloat32).add(1000.0); });
  loader.start_epoch(0);
  int64_t count = 0;
  while (auto batch = loader.next()) {
    EXPECT_EQ(batch->images.scalar_type(), torch::kFloat32);
    EXPECT_EQ(batch->index, count);
    EXPECT_GE(batch->images.min().item<float>(), 1000.0f);
    ++count;
  }
  EXPECT_EQ(count, 3);
}

TEST(Loader, TransformErrorReachesTheCaller) {
  const auto data = numbered(12);
  BatchLoader loader(data, {4, false, true, 0}, [](Batch& batch) {
    if (batch.index == 1) core::fail("augmentation failed on batch {}", batch.index);
  });
  loader.start_epoch(0);
  EXPECT_TRUE(loader.next().has_value());
  EXPECT_THROWS_WITH(loader.next(), "augmentation failed on batch 1");
}

TEST(Loader, RestartingMidEpochIsSafe) {
  const auto data = numbered(40);
  BatchLoader loader(data, {4, true, true, 0});
  loader.start_epoch(0);
  loader.next();
  EXPECT_EQ(drain(loader, 0).size(), 40u);
}

TEST(Loader, TooFewImagesForABatch) {
  const auto data = numbered(3);
  EXPECT_THROWS_WITH(BatchLoader(data, {4, true, true, 0}), "3 images, fewer than one batch of 4");
}

}  // namespace
}  // namespace daas::data
