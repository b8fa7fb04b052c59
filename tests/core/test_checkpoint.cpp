#include <gtest/gtest.h>
#include <torch/torch.h>

#include "daas/core/checkpoint.h"
#include "daas/core/files.h"
#include "daas/core/metrics.h"
#include "test_support.h"

namespace daas {
namespace {

TEST(Checkpoint, RoundTripsModulesOptimisersGeneratorsAndJson) {
  testing::TempDir dir;
  torch::nn::Linear model(3, 2);
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(0.1));
  model(torch::ones({4, 3})).sum().backward();
  adam.step();
  auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
  torch::rand({3}, generator);
  CheckpointWriter writer;
  writer.module("model", *model);
  writer.optimizer("adam", adam);
  writer.generator("rng", generator);
  writer.tensor("alpha", torch::arange(4.0));
  writer.json("meta", {{"epoch", 3}});
  writer.save(dir.file("c.pt"));
  const auto expected_next = torch::rand({3}, generator);

  torch::nn::Linear other(3, 2);
  torch::optim::Adam other_adam(other->parameters(), torch::optim::AdamOptions(0.1));
  auto other_generator = at::make_generator<at::CPUGeneratorImpl>(99);
  CheckpointReader reader(dir.file("c.pt"));
  reader.module("model", *other);
  reader.optimizer("adam", other_adam);
  reader.generator("rng", other_generator);
  EXPECT_TRUE(torch::equal(other->weight, model->weight));
  EXPECT_TRUE(torch::equal(torch::rand({3}, other_generator), expected_next));
  EXPECT_TRUE(torch::equal(reader.tensor("alpha"), torch::arange(4.0)));
  EXPECT_EQ(reader.json("meta")["epoch"], 3);
  EXPECT_THROWS_WITH(reader.tensor("beta"), "checkpoint has no entry 'beta'");
}

TEST(Checkpoint, TruncatedFileIsAClearError) {
  testing::TempDir dir;
  CheckpointWriter writer;
  writer.tensor("x", torch::ones({1000}));
  writer.save(dir.file("c.pt"));
  const auto bytes = read_file(dir.file("c.pt"));
  write_file_atomic(dir.file("cut.pt"), bytes.substr(0, bytes.size() / 2));
  EXPECT_THROWS_WITH(CheckpointReader(dir.file("cut.pt")), "cut.pt: not a readable daas checkpoint");
  EXPECT_THROWS_WITH(CheckpointReader(dir.file("none.pt")), "none.pt: checkpoint not found");
}

TEST(Metrics, ResumeDropsLinesAfterTheCheckpointEpoch) {
  testing::TempDir dir;
  {
    MetricsLog log(dir.file("m.jsonl"), -1);
    for (int epoch = 1; epoch <= 4; ++epoch) log.append({{"epoch", epoch}});
  }
  MetricsLog resumed(dir.file("m.jsonl"), 2);
  resumed.append({{"epoch", 3}, {"again", true}});
  const auto records = read_metrics(dir.file("m.jsonl"));
  ASSERT_EQ(records.size(), 3u);
  EXPECT_TRUE(records[2]["again"].get<bool>());
}

}  // namespace
}  // namespace daas
