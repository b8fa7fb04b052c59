// Run folders a user can rely on: every search folder feeds `daas train`,
// policy.json is the Fast-AA / DADA list, and a train folder holds what it
// trained with (absolute paths, copies of genotype and policy), so it resumes
// from anywhere after its sources are gone.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

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

TEST(RunFolders, BadDataOrWidthFailsBeforeTheFolderIsMade) {
  TempDir dir;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--data bogus", "data 'bogus': unknown format 'bogus'"},
      {"--data folder:" + dir.file("nothing"), dir.file("nothing") + ": data folder not found (data 'folder:" +
                                                   dir.file("nothing") + "'); expected an existing folder"},
      {"--image-channels 2", "image_channels 2: expected 0 (as stored), 1 (gray) or 3 (RGB)"},
      {"--channels 17", "C 17 is odd; expected an even channel count"},
  };
  for (const auto& [args, message] : cases) {
    for (const std::string command : {"train", "search"}) {
      const std::string out = dir.file(command + "-run");
      const auto failed = run_daas(command + " --profile smoke " + args + " --out " + out);
      EXPECT_EQ(failed.exit_code, 1) << command << " " << args << "\n" << failed.output;
      EXPECT_NE(failed.output.find(message), std::string::npos) << command << " " << args << "\n" << failed.output;
      EXPECT_FALSE(fs::exists(out)) << command << " " << args;
    }
  }
}

TEST(RunFolders, AResumeKeepsItsFolderProfileAndFinishedEpochs) {
  TempDir dir;
  const std::string run = dir.file("t");
  const auto trained = run_daas("train --profile smoke --threads 2 --epochs 2 --steps-per-epoch 2 --out " + run);
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  const std::string config = core::read_file(run + "/config.yaml");
  ASSERT_EQ(config.rfind("# daas train (profile smoke)\n", 0), 0u) << config;
  // Another folder or profile would be ignored: refused, nothing written.
  const auto elsewhere = run_daas("train --threads 2 --resume " + run + " --out " + dir.file("other"));
  EXPECT_EQ(elsewhere.exit_code, 2) << elsewhere.output;
  EXPECT_NE(elsewhere.output.find("--out " + dir.file("other") + " with --resume " + run +
                                  ": a resumed run stays in its own folder; expected no --out"),
            std::string::npos)
      << elsewhere.output;
  EXPECT_FALSE(fs::exists(dir.file("other")));
  const auto profile = run_daas("train --threads 2 --resume " + run + " --profile cifar10-paper");
  EXPECT_EQ(profile.exit_code, 2) << profile.output;
  EXPECT_NE(profile.output.find("--profile cifar10-paper with --resume " + run +
                                ": a resumed run keeps the settings in its config.yaml"),
            std::string::npos)
      << profile.output;
  // Fewer epochs than it has finished would contradict its metrics.
  const auto shrunk = run_daas("train --threads 2 --resume " + run + " --epochs 1");
  EXPECT_EQ(shrunk.exit_code, 1) << shrunk.output;
  EXPECT_NE(shrunk.output.find("epochs 1 is fewer than the 2 the run has finished; expected at least 2"),
            std::string::npos)
      << shrunk.output;
  EXPECT_EQ(core::read_file(run + "/config.yaml"), config);
  // A resume that goes on keeps the profile the run was started with.
  const auto resumed = run_daas("train --threads 2 --resume " + run + " --epochs 3");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("daas train, profile smoke;"), std::string::npos) << resumed.output;
  const std::string grown = core::read_file(run + "/config.yaml");
  EXPECT_EQ(grown.rfind("# daas train (profile smoke)\n", 0), 0u) << grown;
  EXPECT_NE(grown.find("epochs: 3\n"), std::string::npos) << grown;
}

TEST(RunFolders, ModelOptionsNameWhatTheyWereGiven) {
  TempDir dir;
  const std::string search = dir.file("s");
  fs::create_directories(search);
  core::write_file_atomic(search + "/config.yaml", "# daas search (profile smoke)\nepochs: 1\n");
  const auto from_search = run_daas("eval --model " + search);
  EXPECT_EQ(from_search.exit_code, 1) << from_search.output;
  EXPECT_NE(from_search.output.find("--model " + search +
                                    ": holds a daas search run, which has no model.pt; expected a daas train run"),
            std::string::npos)
      << from_search.output;
  const std::string train = dir.file("t");
  fs::create_directories(train);
  core::write_file_atomic(train + "/config.yaml", "# daas train (profile smoke)\nepochs: 1\n");
  core::write_file_atomic(train + "/checkpoint.pt", "not read");
  const auto checkpoint = run_daas("eval --model " + train + "/checkpoint.pt");
  EXPECT_EQ(checkpoint.exit_code, 1) << checkpoint.output;
  EXPECT_NE(checkpoint.output.find("--model " + train +
                                   "/checkpoint.pt: a daas run's checkpoint (for --resume), not a model; expected "
                                   "the model.pt of a daas train run"),
            std::string::npos)
      << checkpoint.output;
}

}  // namespace
}  // namespace daas
