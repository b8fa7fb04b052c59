// val_fraction: a stratified share of the training split held out for
// validation; the test split is evaluated once, after the last epoch.
#include <gtest/gtest.h>

#include "daas/core/metrics.h"
#include "daas/data/dataset.h"
#include "daas/train/train.h"
#include "test_support.h"

namespace daas::train {
namespace {

TrainOptions small_options() {
  TrainOptions options;
  options.channels = 4;
  options.layers = 3;
  options.batch_size = 64;
  options.epochs = 2;
  options.threads = 2;
  options.auxiliary_weight = 0;
  options.eval_every = 1;
  return options;
}

TEST(ValidationShare, HeldOutOfTrainingAndTheTestSplitEvaluatedOnce) {
  data::DataOptions data;
  data.subset = 600;
  const auto splits = data::load_data(data, 0);
  testing::TempDir dir;
  auto options = small_options();
  options.val_fraction = 0.25;
  const auto result = train_splits(options, splits, dir.path(), false);
  const auto metrics = core::read_metrics(dir.file("metrics.jsonl"));
  ASSERT_EQ(metrics.size(), 2u);
  // 150 of the 600 training images are held out: 450 left make 7 batches of 64 (600 would make 9).
  for (const auto& record : metrics) {
    EXPECT_EQ(record["val_images"], 150) << record.dump();
    EXPECT_TRUE(record.contains("val_acc")) << record.dump();
    EXPECT_EQ(record["steps"], 7) << record.dump();
  }
  // eval_every 1 monitors every epoch on the validation share; the test split only after the last.
  EXPECT_FALSE(metrics[0].contains("test_acc")) << metrics[0].dump();
  ASSERT_TRUE(metrics[1].contains("test_acc"));
  EXPECT_EQ(metrics[1]["test_images"], splits.test.size());
  EXPECT_DOUBLE_EQ(metrics[1]["test_acc"].get<double>(), result.test.top1());

  // Without it, the (monitored) epoch is a test evaluation, and all 600 images train.
  testing::TempDir plain;
  auto plain_options = small_options();
  plain_options.epochs = 1;
  train_splits(plain_options, splits, plain.path(), false);
  const auto plain_metrics = core::read_metrics(plain.file("metrics.jsonl"));
  EXPECT_TRUE(plain_metrics[0].contains("test_acc"));
  EXPECT_FALSE(plain_metrics[0].contains("val_acc"));
  EXPECT_EQ(plain_metrics[0]["steps"], 9);
}

TEST(ValidationShare, AShareOfNoImageIsRefused) {
  data::DataOptions data;
  data.subset = 600;
  const auto splits = data::load_data(data, 0);
  testing::TempDir dir;
  auto options = small_options();
  options.val_fraction = 0.0001;
  EXPECT_THROWS_WITH(train_splits(options, splits, dir.path(), false),
                     "val_fraction 0.0001: 0 of 600 training images; expected a share leaving at least one image");
}

}  // namespace
}  // namespace daas::train
