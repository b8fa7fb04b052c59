// `daas data info` as a user runs it.
#include <gtest/gtest.h>

#include "cli_support.h"
#include "test_support.h"

namespace daas {
namespace {

using testing::run_daas;

TEST(DataInfoCommand, PrintsFashionMnistSplits) {
  const auto result = run_daas("data info --threads 1");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("fashion-mnist/train: 60000 images, 1×28×28, 10 classes"), std::string::npos);
  EXPECT_NE(result.output.find("fashion-mnist/test: 10000 images, 1×28×28, 10 classes"), std::string::npos);
  EXPECT_NE(result.output.find("Ankle boot        6000"), std::string::npos) << result.output;
}

TEST(DataInfoCommand, MissingDataIsOneClearErrorAndExitCode1) {
  const auto result = run_daas("data info --data mnist:/nonexistent/dir");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.output.find("/nonexistent/dir: data folder not found"), std::string::npos) << result.output;
}

TEST(DataInfoCommand, BadSettingNamesKeyAndRange) {
  const auto result = run_daas("data info --threads -3");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.output.find("setting 'threads' = -3 (from --threads) is out of range"), std::string::npos)
      << result.output;
}

TEST(DataInfoCommand, CudaWithoutCudaIsExplained) {
  const auto result = run_daas("data info --device cuda --subset 100");
  if (result.exit_code == 0) GTEST_SKIP() << "this LibTorch has CUDA";
  EXPECT_NE(result.output.find("device 'cuda': CUDA is not available"), std::string::npos) << result.output;
}

TEST(DataInfoCommand, DryRunPrintsResolvedSettings) {
  const auto result = run_daas("data info --profile smoke --dry-run --seed 9");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("seed: 9"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("subset: 2000"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("(profile smoke)"), std::string::npos) << result.output;
}

TEST(DataInfoCommand, UnknownOptionAndHelp) {
  EXPECT_NE(run_daas("data info --epochz 3").exit_code, 0);
  const auto help = run_daas("data info --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--subset"), std::string::npos);
}

}  // namespace
}  // namespace daas
