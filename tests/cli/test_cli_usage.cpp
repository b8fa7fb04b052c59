// The command line without surprises: real flags, exit code 2 for every
// usage error, settings a command would ignore refused, renamed keys naming
// their new name, --help with the chosen profile's values, --quiet and
// --log-level governing every line, NO_COLOR, and `info` as a user expects.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>

#include "cli_support.h"
#include "daas/core/files.h"
#include "daas/data/dataset.h"
#include "daas/data/image_io.h"
#include "test_support.h"

namespace daas {
namespace {

namespace fs = std::filesystem;
using testing::run_daas;
using testing::TempDir;

#define EXPECT_RESULT(result, code, text)                                                      \
  do {                                                                                         \
    const auto r_ = (result);                                                                  \
    EXPECT_EQ(r_.exit_code, code) << r_.output;                                                \
    EXPECT_NE(r_.output.find(text), std::string::npos) << r_.output << "\nexpected: " << text; \
  } while (0)

TEST(CliUsage, BooleanSettingsAreFlags) {
  TempDir dir;
  data::write_png(dir.file("a.png"), torch::full({3, 8, 8}, 40, torch::kUInt8));
  const auto grid =
      run_daas("augment --policy trivialaugment --grid --input " + dir.file("a.png") + " --out " + dir.file("g"));
  ASSERT_EQ(grid.exit_code, 0) << grid.output;
  EXPECT_TRUE(fs::exists(dir.file("g/grid.png")));
  EXPECT_RESULT(run_daas("train --dry-run --channels-last"), 0, "channels_last: true");
  EXPECT_RESULT(run_daas("train --dry-run --no-channels-last"), 0, "channels_last: false");
  EXPECT_RESULT(run_daas("train --dry-run --channels-last=false"), 0, "channels_last: false");
  // A value after a flag is not taken as its value.
  EXPECT_EQ(run_daas("train --dry-run --channels-last false").exit_code, 2);
  // A yes/no value takes the spellings a profile takes; another one names the option.
  EXPECT_RESULT(run_daas("train --dry-run --channels-last=no"), 0, "channels_last: false");
  EXPECT_RESULT(run_daas("train --dry-run --channels-last=maybe"), 2,
                "setting 'channels_last' = 'maybe' (from --channels-last) is not a boolean; expected true or false");
  EXPECT_RESULT(run_daas("train --dry-run --no-channels-last=maybe"), 2,
                "--no-channels-last=maybe: --no-channels-last takes no value; expected --no-channels-last alone or "
                "--channels-last=false");
  // --help with a profile that cannot be read says whose values it shows.
  EXPECT_RESULT(run_daas("train --profile " + dir.file("none.yaml") + " --help"), 0,
                "The values in [] are the built-in defaults: profile " + dir.file("none.yaml") + " could not be read");
}

TEST(CliUsage, EveryUsageErrorExits2) {
  EXPECT_RESULT(run_daas("data info --threads -3"), 2, "setting 'threads' = -3 (from --threads) is out of range");
  EXPECT_RESULT(run_daas("search --dry-run --mode both"), 2, "setting 'mode' = 'both' (from --mode) is not allowed");
  EXPECT_RESULT(run_daas("train --dry-run --epochs many"), 2, "setting 'epochs' = 'many' (from --epochs) is not an");
  // The option is named as typed in the README and --help, with dashes, whichever spelling was given.
  EXPECT_RESULT(run_daas("search --dry-run --batch-size 0"), 2,
                "setting 'batch_size' = 0 (from --batch-size) is out of");
  EXPECT_RESULT(run_daas("search --dry-run --batch_size 0"), 2,
                "setting 'batch_size' = 0 (from --batch-size) is out of");
  EXPECT_RESULT(run_daas("eval"), 2, "daas eval: no --model");
  EXPECT_RESULT(run_daas("info"), 2, "daas info: expected exactly one of --genotype");
  EXPECT_RESULT(run_daas("augment --input x.png"), 2, "expected exactly one of --op and --policy (got neither)");
  EXPECT_EQ(run_daas("search --nonsense").exit_code, 2);
  EXPECT_EQ(run_daas("eval --batch-size").exit_code, 2);
  // A bad value in a profile is the profile's error, not a usage error.
  TempDir dir;
  core::write_file_atomic(dir.file("p.yaml"), "threads: -3\n");
  EXPECT_RESULT(run_daas("data info --dry-run --profile " + dir.file("p.yaml")), 1,
                "setting 'threads' = -3 (from profile");
}

TEST(CliUsage, SettingsACommandWouldIgnoreAreRefused) {
  TempDir dir;
  for (const std::string command :
       {"eval --model m.pt", "info --genotype DARTS_V2", "data info", "predict --model m.pt"}) {
    const auto result = run_daas(command + " --out " + dir.file("o"));
    EXPECT_EQ(result.exit_code, 2) << command << "\n" << result.output;
    EXPECT_NE(result.output.find("--out"), std::string::npos) << result.output;
  }
  EXPECT_FALSE(fs::exists(dir.file("o")));
  EXPECT_EQ(run_daas("export --model m.pt --out " + dir.file("o") + " --device cpu").exit_code, 2);
  EXPECT_EQ(run_daas("predict --model m.pt --seed 3 a.png").exit_code, 2);
  EXPECT_FALSE(fs::exists(dir.file("o")));
  // The shared top level of a profile may hold settings of other commands.
  core::write_file_atomic(dir.file("p.yaml"), "subset: 100\nout: somewhere\n");
  EXPECT_RESULT(run_daas("info --genotype DARTS_V2 --dry-run --profile " + dir.file("p.yaml")), 0,
                "genotype: DARTS_V2");
  core::write_file_atomic(dir.file("q.yaml"), "subsett: 100\n");
  EXPECT_RESULT(run_daas("info --genotype DARTS_V2 --dry-run --profile " + dir.file("q.yaml")), 1,
                "unknown setting 'subsett'");
}

TEST(CliUsage, RenamedKeysNameTheirNewName) {
  EXPECT_RESULT(run_daas("augment --op Invert --input a.png --output x"), 2,
                "setting 'output' (from --output) was renamed; use 'out' (--out)");
  EXPECT_RESULT(run_daas("augment --op Invert --input a.png --channels 1"), 2,
                "setting 'channels' (from --channels) was renamed; use 'image_channels' (--image-channels)");
  EXPECT_RESULT(run_daas("data info --folder-channels 1"), 2, "use 'image_channels' (--image-channels)");
  TempDir dir;
  core::write_file_atomic(dir.file("p.yaml"), "folder_channels: 3\n");
  EXPECT_RESULT(run_daas("data info --dry-run --profile " + dir.file("p.yaml")), 1,
                "setting 'folder_channels' (from profile " + dir.file("p.yaml") + ") was renamed");
}

TEST(CliUsage, HelpShowsTheChosenProfilesValues) {
  const auto fashion = run_daas("train --help");
  const auto smoke = run_daas("train --profile smoke --help");
  ASSERT_EQ(smoke.exit_code, 0) << smoke.output;
  EXPECT_NE(fashion.output.find("cells of the network [8]"), std::string::npos) << fashion.output;
  EXPECT_NE(smoke.output.find("cells of the network [3]"), std::string::npos) << smoke.output;
  EXPECT_NE(run_daas("search --help --profile=smoke").output.find("cells of the network [5]"), std::string::npos);
}

/// The output of `daas ARGS` run on a terminal (script(1) gives it a pty).
std::string on_a_terminal(const std::string& env, const std::string& args) {
  const std::string command =
      "script -qec '" + env + " " + std::string(DAAS_BINARY) + " " + args + "' /dev/null 2>&1 < /dev/null";
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return output;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  ::pclose(pipe);
  return output;
}

TEST(CliUsage, QuietAndLogLevelGovernEveryLine) {
  TempDir dir;
  const std::string search = "search --profile smoke --threads 2 --epochs 1 --steps-per-epoch 2 --out ";
  const auto normal = run_daas(search + dir.file("a"));
  ASSERT_EQ(normal.exit_code, 0) << normal.output;
  EXPECT_NE(normal.output.find("search epoch 1/1"), std::string::npos) << normal.output;  // the progress line
  EXPECT_NE(normal.output.find(" info "), std::string::npos) << normal.output;
  for (const std::string quiet : {"--quiet", "-q", "--log-level error"}) {
    const auto result = run_daas(search + dir.file("b" + std::to_string(quiet.size())) + " " + quiet);
    ASSERT_EQ(result.exit_code, 0) << result.output;
    EXPECT_EQ(result.output.find("search epoch"), std::string::npos) << quiet << "\n" << result.output;
    EXPECT_EQ(result.output.find(" info "), std::string::npos) << quiet << "\n" << result.output;
    EXPECT_NE(result.output.find("run folder: "), std::string::npos) << result.output;  // results still printed
  }
  // On a terminal the progress line is redrawn in place, not logged: --quiet
  // hides it there too.
  if (std::system("command -v script > /dev/null 2>&1") != 0) GTEST_SKIP() << "no script(1) to make a terminal";
  EXPECT_NE(on_a_terminal("", search + dir.file("c")).find("search epoch 1/1"), std::string::npos);
  const auto quiet = on_a_terminal("", search + dir.file("d") + " --quiet");
  EXPECT_NE(quiet.find("run folder: "), std::string::npos) << quiet;
  EXPECT_EQ(quiet.find("search epoch"), std::string::npos) << quiet;
}

TEST(CliUsage, NoColorTurnsColourOff) {
  if (std::system("command -v script > /dev/null 2>&1") != 0) GTEST_SKIP() << "no script(1) to make a terminal";
  const std::string args = "data info --device cuda --subset 100";
  const auto coloured = on_a_terminal("env -u NO_COLOR", args);
  ASSERT_NE(coloured.find("CUDA is not available"), std::string::npos) << coloured;
  EXPECT_NE(coloured.find("\033["), std::string::npos) << coloured;
  const auto plain = on_a_terminal("NO_COLOR=1", args);
  ASSERT_NE(plain.find("CUDA is not available"), std::string::npos) << plain;
  EXPECT_EQ(plain.find("\033["), std::string::npos) << plain;
}

TEST(CliUsage, InfoAsAUserExpectsIt) {
  // --imagenet: DARTS's ImageNet setting, 224×224 and 1000 classes.
  EXPECT_RESULT(run_daas("info --genotype DARTS_V2 --imagenet"), 0,
                "NetworkImageNet, C=48, 14 cells, input 3×224×224, 1000 classes");
  EXPECT_RESULT(run_daas("info --genotype DARTS_V2 --imagenet --size 112 --classes 100"), 0,
                "input 3×112×112, 100 classes");
  // --supernet: the supernet of the profile's search, on its data set.
  EXPECT_RESULT(run_daas("info --supernet --profile smoke"), 0,
                "search network (profile smoke): C=4, 5 cells, steps 4, multiplier 4, input 1×28×28, 10 classes");
  EXPECT_RESULT(run_daas("info --supernet --profile smoke --channels 6"), 0, "C=6, 5 cells");
  // Run folders, as `daas train --genotype` takes them.
  TempDir dir;
  fs::create_directories(dir.file("run"));
  core::write_file_atomic(
      dir.file("run/genotype.txt"),
      "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('sep_conv_3x3', 0), "
      "('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), "
      "('skip_connect', 1)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', "
      "1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), ('skip_connect', 2), "
      "('skip_connect', 2), ('max_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])\n");
  EXPECT_RESULT(run_daas("info --genotype " + dir.file("run")), 0, "NetworkCIFAR, C=36, 20 cells");
  fs::create_directories(dir.file("none"));
  EXPECT_RESULT(run_daas("info --genotype " + dir.file("none")), 1, "the folder has no genotype.json or genotype.txt");
}

TEST(CliUsage, DataInfoShowsEachSplitsOwnStatistics) {
  const auto result = run_daas("data info --subset 1200 --seed 4");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  data::DataOptions options;
  options.subset = 1200;
  auto splits = data::load_data(options, 4);
  data::compute_statistics(splits.test);
  const std::string test_line =
      fmt::format("mean {:.4f}  std {:.4f}", fmt::join(splits.test.mean, " "), fmt::join(splits.test.std, " "));
  const auto test_at = result.output.find("fashion-mnist/test");
  ASSERT_NE(test_at, std::string::npos) << result.output;
  EXPECT_NE(result.output.find(test_line, test_at), std::string::npos) << test_line << "\n" << result.output;
  const std::string train_line =
      fmt::format("mean {:.4f}  std {:.4f}", fmt::join(splits.train.mean, " "), fmt::join(splits.train.std, " "));
  EXPECT_LT(result.output.find(train_line), test_at) << train_line << "\n" << result.output;
  EXPECT_NE(train_line, test_line);
}

}  // namespace
}  // namespace daas
