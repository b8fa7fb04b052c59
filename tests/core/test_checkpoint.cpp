#include <gtest/gtest.h>
#include <torch/torch.h>

#include "daas/core/checkpoint.h"
#include "daas/core/files.h"
#include "daas/core/metrics.h"
#include "test_support.h"

namespace daas::core {
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
  // The optimiser state came back: Adam's moments and step count, and so
  // the next step from the same gradient lands on the same weights (a fresh
  // Adam would take a full lr-sized step instead).
  const auto adam_state = [](torch::optim::Adam& optimizer,
                             const torch::Tensor& parameter) -> const torch::optim::AdamParamState* {
    const auto& state = optimizer.state();
    const auto found = state.find(c10::guts::to_string(parameter.unsafeGetTensorImpl()));
    return found == state.end() ? nullptr : static_cast<const torch::optim::AdamParamState*>(found->second.get());
  };
  ASSERT_EQ(other_adam.state().size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const auto* want = adam_state(adam, model->parameters()[i]);
    const auto* got = adam_state(other_adam, other->parameters()[i]);
    ASSERT_NE(want, nullptr);
    ASSERT_NE(got, nullptr);
    EXPECT_EQ(got->step(), want->step());
    EXPECT_TRUE(torch::equal(got->exp_avg(), want->exp_avg()));
    EXPECT_TRUE(torch::equal(got->exp_avg_sq(), want->exp_avg_sq()));
  }
  for (auto* optimizer : {&adam, &other_adam}) optimizer->zero_grad();
  model(torch::ones({4, 3})).sum().backward();
  other(torch::ones({4, 3})).sum().backward();
  adam.step();
  other_adam.step();
  EXPECT_TRUE(torch::equal(other->weight, model->weight));
  EXPECT_TRUE(torch::equal(other->bias, model->bias));
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
}  // namespace daas::core
