// A model file's record is validated with the bounds of the settings before
// anything is built from it.
#include <gtest/gtest.h>

#include "daas/core/checkpoint.h"
#include "daas/train/model.h"
#include "test_support.h"

namespace daas::train {
namespace {

nlohmann::json record() {
  ModelInfo info;
  info.genotype = nas::builtin_genotype("DARTS_V2");
  info.C = 8;
  info.layers = 3;
  info.classes = {"a", "b"};
  info.mean = {0.3};
  info.std = {0.35};
  return info.to_json();
}

/// A model file holding only `info` (enough: the record is read first).
std::string model_file(const testing::TempDir& dir, const nlohmann::json& info) {
  core::CheckpointWriter writer;
  writer.json("info", info);
  writer.save(dir.file("model.pt"));
  return dir.file("model.pt");
}

TEST(HostileModel, HugeNetworkInTheRecordIsRefusedBeforeBuilding) {
  testing::TempDir dir;
  auto info = record();
  info["C"] = 4096;
  info["layers"] = 1000;
  EXPECT_THROWS_WITH(load_model(model_file(dir, info), torch::kCPU),
                     "model.pt: model record: C 4096; expected 4 to 1024 channels");
  info["C"] = 1024;
  info["layers"] = 200;
  EXPECT_THROWS_WITH(load_model(model_file(dir, info), torch::kCPU),
                     "model.pt: model record: C 1024 with 200 layers is too large a network");
}

TEST(HostileModel, StatisticsOutOfRangeAreNamed) {
  testing::TempDir dir;
  auto info = record();
  info["mean"] = {1e308};
  info["std"] = {1e-308};
  EXPECT_THROWS_WITH(load_model(model_file(dir, info), torch::kCPU),
                     "model.pt: model record mean 1e+308 of channel 0; expected a number in [0, 1]");
  info["mean"] = {0.5};
  for (const double bad : {0.0, -1.0}) {
    info["std"] = {bad};
    EXPECT_THROWS_WITH(load_model(model_file(dir, info), torch::kCPU), "model.pt: model record std " +
                                                                           fmt::format("{}", bad) +
                                                                           " of channel 0; expected a number in "
                                                                           "[1e-06, 1]");
  }
}

TEST(HostileModel, NetworkSizeBoundsMatchTheSettings) {
  EXPECT_NO_THROW(check_network_size(36, 20, "x"));
  EXPECT_THROWS_WITH(check_network_size(2, 8, "--channels/--layers"),
                     "--channels/--layers: C 2; expected 4 to 1024 channels");
  EXPECT_THROWS_WITH(check_network_size(16, 2, "f"), "f: 2 layers; expected 3 to 200");
}

}  // namespace
}  // namespace daas::train
