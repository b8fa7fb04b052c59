// `daas search` as a user runs it: outputs, resume, refusals.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>

#include "cli_support.h"
#include "daas/core/files.h"
#include "daas/core/metrics.h"
#include "test_support.h"

namespace daas {
namespace {

using testing::run_daas;

TEST(SearchCommand, SmokeSearchWritesEveryOutputAndResumes) {
  testing::TempDir dir;
  const std::string run = dir.file("run");
  const auto result = run_daas("search --profile smoke --threads 2 --out " + run);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("genotype: Genotype(normal=[("), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("top sub-policies"), std::string::npos);
  for (const char* name : {"config.yaml", "metrics.jsonl", "genotype.json", "genotype.txt", "policy.json",
                           "policy_search.json", "checkpoint.pt"}) {
    EXPECT_TRUE(core::file_exists(run + "/" + name)) << name;
  }
  const auto records = core::read_metrics(run + "/metrics.jsonl");
  ASSERT_EQ(records.size(), 2u);
  for (const char* key : {"train_loss", "train_acc", "val_loss", "val_acc", "tau", "lr", "genotype", "top_sub_policies",
                          "alpha_entropy", "phi_entropy", "seconds"}) {
    EXPECT_TRUE(records[1].contains(key)) << key;
  }

  // The same folder again is refused; --resume with more epochs continues it.
  const auto again = run_daas("search --profile smoke --out " + run);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.output.find("already holds a search run (checkpoint.pt); use --resume"), std::string::npos);
  const auto resumed = run_daas("search --resume " + run + " --epochs 3 --threads 2");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resuming"), std::string::npos) << resumed.output;
  EXPECT_EQ(core::read_metrics(run + "/metrics.jsonl").size(), 3u);
}

TEST(SearchCommand, SigintStopsAfterTheStepWithACheckpointAndExit130) {
  testing::TempDir dir;
  const std::string run = dir.file("run"), log = dir.file("log.txt");
  // Started in the background; SIGINT once the search has begun (its first
  // log line), then the exit status of daas itself.
  const std::string script =
      "sh -c '" + std::string(DAAS_BINARY) + " search --profile smoke --threads 1 --epochs 50 --out " + run + " >" +
      log + " 2>&1 & pid=$!; i=0; while ! grep -q \"search (joint)\" " + log +
      " && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; kill -INT $pid; wait $pid; echo exit=$?'";
  FILE* pipe = ::popen(script.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string status;
  std::array<char, 256> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) status += buffer.data();
  ::pclose(pipe);
  const std::string output = core::read_file(log);
  EXPECT_EQ(status, "exit=130\n") << output;
  EXPECT_NE(output.find("stopped by SIGINT: checkpoint at epoch 1, step"), std::string::npos) << output;
  EXPECT_NE(output.find("go on with `daas search --resume " + run + "`"), std::string::npos) << output;
  // The run goes on from there (two epochs are enough to finish it).
  const auto resumed = run_daas("search --resume " + run + " --epochs 2 --threads 1");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resuming " + run + " at epoch 1, step "), std::string::npos) << resumed.output;
  EXPECT_EQ(core::read_metrics(run + "/metrics.jsonl").size(), 2u);
}

TEST(SearchCommand, BadResumeFolderAndBadSettingsAreClearErrors) {
  testing::TempDir dir;
  const auto missing = run_daas("search --resume " + dir.file("nothing"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("no config.yaml there; expected a daas search run folder"), std::string::npos)
      << missing.output;
  const auto mode = run_daas("search --profile smoke --mode both --out " + dir.file("x"));
  EXPECT_EQ(mode.exit_code, 2);
  EXPECT_NE(
      mode.output.find("setting 'mode' = 'both' (from --mode) is not allowed; expected one of joint, arch, policy"),
      std::string::npos)
      << mode.output;
  const auto policy = run_daas("search --profile smoke --mode arch --fixed-policy sometimes --out " + dir.file("y"));
  EXPECT_EQ(policy.exit_code, 1);
  EXPECT_NE(policy.output.find("sometimes"), std::string::npos) << policy.output;
}

}  // namespace
}  // namespace daas
