// `daas train` and `daas eval` as a user runs them.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "cli_support.h"
#include "daas/core/files.h"
#include "daas/core/metrics.h"
#include "daas/data/image_io.h"
#include "test_support.h"

namespace daas {
namespace {

using testing::run_daas;

/// The final test accuracy a command prints: "test top-1 NN.NN%" (train) or
/// "N images: top-1 NN.NN%" (eval); the per-epoch log lines do not match.
std::string top1_of(const std::string& output) {
  std::smatch match;
  return std::regex_search(output, match, std::regex("(test|images:) top-1 ([0-9.]+)%")) ? match[2].str() : "";
}

TEST(TrainCommand, SmokeRetrainThenEvalAgree) {
  testing::TempDir dir;
  const auto run = dir.file("run");
  const auto trained = run_daas("train --profile smoke --threads 2 --out " + run);
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  for (const char* file : {"config.yaml", "metrics.jsonl", "checkpoint.pt", "model.pt", "genotype.txt"}) {
    EXPECT_TRUE(core::file_exists(run + "/" + file)) << file;
  }
  EXPECT_EQ(core::read_metrics(run + "/metrics.jsonl").size(), 2u);
  const std::string train_top1 = top1_of(trained.output);
  ASSERT_FALSE(train_top1.empty()) << trained.output;

  const auto evaluated = run_daas("eval --profile smoke --threads 2 --model " + run + "/model.pt");
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.output;
  EXPECT_EQ(top1_of(evaluated.output), train_top1) << evaluated.output;
  EXPECT_NE(evaluated.output.find("confusion matrix"), std::string::npos);
  EXPECT_NE(evaluated.output.find("Ankle boot"), std::string::npos);
  const auto as_json = run_daas("eval --quiet --threads 2 --json --model " + run);
  ASSERT_EQ(as_json.exit_code, 0) << as_json.output;
  const auto json = nlohmann::json::parse(as_json.output);
  EXPECT_EQ(json["confusion"].size(), 10u);
  EXPECT_EQ(fmt::format("{:.2f}", 100 * json["top1"].get<double>()), train_top1);

  // An existing run is not overwritten; --resume of a finished run only re-saves the model.
  const auto again = run_daas("train --profile smoke --out " + run);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.output.find("already holds a train run (checkpoint.pt)"), std::string::npos) << again.output;
  const auto resumed = run_daas("train --threads 2 --resume " + run);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(top1_of(resumed.output), train_top1) << resumed.output;

  // A data set of another shape is refused with both shapes named.
  const auto folder = dir.file("images");
  for (const char* label : {"cat", "dog"}) {
    std::filesystem::create_directories(folder + "/" + label);
    for (int i = 0; i < 5; ++i) {
      data::write_png(folder + "/" + label + "/" + std::to_string(i) + ".png",
                      torch::randint(0, 256, {3, 16, 16}, torch::kUInt8));
    }
  }
  const auto mismatch = run_daas("eval --model " + run + " --data folder:" + folder + " --image-size 16");
  EXPECT_EQ(mismatch.exit_code, 1);
  EXPECT_NE(mismatch.output.find("the model takes 1×28×28 images but"), std::string::npos) << mismatch.output;
}

TEST(EvalCommand, TruncatedOrMissingModelIsOneClearError) {
  testing::TempDir dir;
  std::ofstream(dir.file("model.pt"), std::ios::binary) << "PK\x03\x04 not really a model";
  const auto truncated = run_daas("eval --model " + dir.file("model.pt") + " --subset 100");
  EXPECT_EQ(truncated.exit_code, 1);
  EXPECT_NE(truncated.output.find("not a readable daas checkpoint"), std::string::npos) << truncated.output;
  const auto missing = run_daas("eval --subset 100");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.output.find("daas eval: no --model"), std::string::npos) << missing.output;
}

TEST(TrainCommand, DryRunShowsTheProfilesTrainSection) {
  const auto paper = run_daas("train --profile cifar10-paper --dry-run");
  ASSERT_EQ(paper.exit_code, 0) << paper.output;
  for (const char* line : {"channels: 36", "layers: 20", "epochs: 600", "batch_size: 96", "auxiliary_weight: 0.4",
                           "drop_path: 0.2", "cutout: 16", "weight_decay: 0.0003"}) {
    EXPECT_NE(paper.output.find(line), std::string::npos) << line << "\n" << paper.output;
  }
  const auto bad = run_daas("train --policy-sampling greedy --dry-run");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("expected one of sub-policies, learned"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace daas
