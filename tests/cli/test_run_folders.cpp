// Run folders a user can rely on: every search folder feeds `daas train`,
// policy.json is the Fast-AA / DADA list, and a train folder holds what it
// trained with (absolute paths, copies of genotype and policy), so it resumes
// from anywhere after its sources are gone.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_support.h"
#include "daas/augment/policy.h"
#include "daas/core/files.h"
#include "test_support.h"

namespace daas {
namespace {

namespace fs = std::filesystem;
using testing::run_daas;
using testing::TempDir;

/// `daas ARGS` run from the folder `cwd`: output and exit code.
testing::CommandResult run_in(const std::string& cwd, const std::string& args) {
  const std::string command = "cd '" + cwd + "' && " + std::string(DAAS_BINARY) + " " + args + " 2>&1";
  testing::CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) result.output += buffer;
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

TEST(RunFolders, JointSearchWritesTheFastAaListAndBetaApart) {
  TempDir dir;
  const auto searched = run_daas("search --profile smoke --threads 2 --quiet --epochs 1 --out " + dir.file("s"));
  ASSERT_EQ(searched.exit_code, 0) << searched.output;
  const auto list = nlohmann::json::parse(core::read_file(dir.file("s/policy.json")));
  ASSERT_TRUE(list.is_array());
  ASSERT_EQ(list.size(), 25u);  // top_k
  for (const auto& sub : list) {
    ASSERT_TRUE(sub.is_array() && sub.size() == 2) << sub;
    for (const auto& op : sub) EXPECT_TRUE(op.is_array() && op.size() == 3 && op[0].is_string()) << op;
  }
  EXPECT_EQ(augment::read_policy_file(dir.file("s/policy.json")).size(), 25u);
  const auto search = nlohmann::json::parse(core::read_file(dir.file("s/policy_search.json")));
  EXPECT_EQ(search["mode"], "joint");
  EXPECT_EQ(search["beta"]["phi"].size(), 105u);
  // Both feed `daas train`: the list as sub-policies, β when drawn from.
  const auto learned =
      run_daas("train --profile smoke --threads 2 --quiet --epochs 1 --steps-per-epoch 2 --genotype " + dir.file("s") +
               " --policy " + dir.file("s") + " --policy-sampling learned --out " + dir.file("t"));
  ASSERT_EQ(learned.exit_code, 0) << learned.output;
  EXPECT_EQ(core::read_file(dir.file("t/policy_search.json")), core::read_file(dir.file("s/policy_search.json")));
}

TEST(RunFolders, ArchSearchFeedsTrainAndTrainRunsAreSelfContained) {
  TempDir dir;
  const auto searched = run_in(dir.path(), "search --profile smoke --threads 2 --quiet --mode arch --epochs 1 --out s");
  ASSERT_EQ(searched.exit_code, 0) << searched.output;
  EXPECT_FALSE(fs::exists(dir.file("s/policy.json")));  // `standard` is no sub-policy list
  EXPECT_EQ(nlohmann::json::parse(core::read_file(dir.file("s/policy_search.json")))["fixed_policy"], "standard");
  // Relative paths, from the run's own folder.
  const auto trained = run_in(dir.path(),
                              "train --profile smoke --threads 2 --quiet --epochs 1 --steps-per-epoch 2 --genotype s "
                              "--policy s --out t");
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  const std::string config = core::read_file(dir.file("t/config.yaml"));
  for (const std::string line : {"genotype: " + dir.file("s"), "policy: " + dir.file("s"), "out: " + dir.file("t")}) {
    EXPECT_NE(config.find(line + "\n"), std::string::npos) << line << "\n" << config;
  }
  for (const char* file : {"genotype.json", "genotype.txt", "policy_search.json", "model.pt"}) {
    EXPECT_TRUE(fs::exists(dir.file("t") + "/" + file)) << file;
  }
  // The search folder gone, from another folder: the run resumes from its copies.
  fs::rename(dir.file("s"), dir.file("s-moved"));
  const auto resumed = run_in("/", "train --threads 2 --quiet --resume " + dir.file("t") + " --epochs 2");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("test top-1"), std::string::npos) << resumed.output;
  // eval and predict from anywhere, with the model's data settings.
  EXPECT_EQ(run_in("/", "eval --threads 2 --quiet --model " + dir.file("t")).exit_code, 0);
}

TEST(RunFolders, AnUnreadablePolicyFailsBeforeTheFolderIsMade) {
  TempDir dir;
  fs::create_directories(dir.file("empty"));
  const auto failed = run_daas("train --profile smoke --policy " + dir.file("empty") + " --out " + dir.file("t"));
  EXPECT_EQ(failed.exit_code, 1) << failed.output;
  EXPECT_NE(failed.output.find("the folder has no policy.json (nor policy_search.json)"), std::string::npos)
      << failed.output;
  EXPECT_FALSE(fs::exists(dir.file("t")));
}

}  // namespace
}  // namespace daas
