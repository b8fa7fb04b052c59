// `daas export`: the exported state dict loads, strict, into PyTorch networks
// built as DARTS's model.py builds them (tests/cli/darts_reference.py, run by
// Debian's /usr/bin/python3 with python3-torch) and gives daas's logits.
#include <gtest/gtest.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>

#include "cli_support.h"
#include "daas/core/files.h"
#include "daas/nas/genotype.h"
#include "daas/train/export.h"
#include "daas/train/model.h"
#include "test_support.h"

namespace daas {
namespace {

namespace fs = std::filesystem;
using testing::run_daas;
using testing::TempDir;

// Every op of the search space, skip_connect both as identity and as a
// stride-2 FactorizedReduce, a `none` edge, and a concat of three nodes.
constexpr const char* kEveryOp =
    "Genotype(normal=[('sep_conv_3x3', 0), ('dil_conv_5x5', 1), ('skip_connect', 0), ('avg_pool_3x3', 2), "
    "('sep_conv_5x5', 1), ('dil_conv_3x3', 3), ('max_pool_3x3', 2), ('none', 4)], normal_concat=[3, 4, 5], "
    "reduce=[('skip_connect', 0), ('max_pool_3x3', 1), ('sep_conv_5x5', 0), ('avg_pool_3x3', 2), "
    "('dil_conv_3x3', 1), ('skip_connect', 2), ('sep_conv_3x3', 3), ('dil_conv_5x5', 4)], reduce_concat=[2, 3, 4, 5])";

struct Case {
  const char* name;
  train::NetworkKind network;
  int64_t in_channels, side, C, layers;
  bool auxiliary;
};

/// A model file of random weights and BatchNorm statistics (as after
/// training, so that eval-mode BN does something).
std::string write_random_model(const TempDir& dir, const Case& c) {
  train::ModelInfo info;
  info.genotype = nas::parse_genotype(kEveryOp);
  info.network = c.network;
  info.C = c.C;
  info.layers = c.layers;
  info.auxiliary = c.auxiliary;
  info.in_channels = c.in_channels;
  info.height = info.width = c.side;
  for (int k = 0; k < 7; ++k) info.classes.push_back("class" + std::to_string(k));
  info.mean.assign(static_cast<size_t>(c.in_channels), 0.4);
  info.std.assign(static_cast<size_t>(c.in_channels), 0.25);
  torch::manual_seed(3);
  train::Network net(info);
  torch::NoGradGuard no_grad;
  for (auto& p : net.module().parameters()) p.copy_(torch::randn_like(p) * 0.3);
  for (auto& item : net.module().named_buffers()) {
    if (item.key().find("running_mean") != std::string::npos) item.value().copy_(torch::randn_like(item.value()) * 0.1);
    if (item.key().find("running_var") != std::string::npos) item.value().uniform_(0.5, 2.0);
    if (item.key().find("num_batches_tracked") != std::string::npos) item.value().fill_(17);
  }
  const std::string path = dir.file(std::string(c.name) + ".pt");
  train::save_model(net, path, {{"note", "random weights for the export test"}});
  return path;
}

void write_tensor(const std::string& path, const torch::Tensor& tensor) {
  const auto bytes = torch::pickle_save(c10::IValue(tensor.contiguous()));
  core::write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

TEST(ExportCommand, StateDictLoadsIntoDartsNetworksAndGivesTheSameLogits) {
  TempDir dir;
  const std::vector<Case> cases = {
      {"cifar_gray", train::NetworkKind::kCifar, 1, 28, 8, 5, true},
      {"cifar_rgb", train::NetworkKind::kCifar, 3, 32, 6, 6, false},
      {"imagenet", train::NetworkKind::kImageNet, 3, 224, 8, 3, true},
  };
  for (const auto& c : cases) {
    const std::string model = write_random_model(dir, c);
    const std::string out = dir.file(std::string(c.name) + "-export");
    const auto exported = run_daas("export --model " + model + " --out " + out);
    ASSERT_EQ(exported.exit_code, 0) << exported.output;
    for (const char* file :
         {train::kExportStateDict, train::kExportGenotype, train::kExportNormalization, train::kExportModel}) {
      EXPECT_NE(exported.output.find(out + "/" + file), std::string::npos) << exported.output;
    }
    const auto normalization = nlohmann::json::parse(core::read_file(out + "/normalization.json"));
    EXPECT_EQ(normalization["mean"].size(), static_cast<size_t>(c.in_channels));
    EXPECT_EQ(core::read_file(out + "/genotype.txt"), nas::parse_genotype(kEveryOp).to_darts_string() + "\n");

    // daas's own eval-mode logits on a few normalised inputs.
    auto loaded = train::load_model(model, c10::Device(c10::kCPU));
    torch::manual_seed(5);
    const auto inputs = torch::randn({3, c.in_channels, c.side, c.side});
    torch::Tensor logits;
    {
      torch::NoGradGuard no_grad;
      logits = loaded.network->forward(inputs).logits.contiguous();
    }
    write_tensor(dir.file("inputs.pt"), inputs);
    write_tensor(dir.file("logits.pt"), logits);
    const std::string python = "/usr/bin/python3 " + testing::source_dir() + "/tests/cli/darts_reference.py " + out +
                               " " + dir.file("inputs.pt") + " " + dir.file("logits.pt") + " 1e-4";
    EXPECT_EQ(std::system(python.c_str()), 0) << c.name;
  }
}

TEST(ExportCommand, NamesFollowDarts) {
  Case c{"names", train::NetworkKind::kCifar, 3, 32, 4, 3, true};
  TempDir dir;
  auto loaded = train::load_model(write_random_model(dir, c), c10::Device(c10::kCPU));
  std::vector<std::string> names;
  for (const auto& [name, tensor] : train::darts_state_dict(*loaded.network)) names.push_back(name);
  for (const char* name :
       {"stem.0.weight", "stem.1.running_var", "cells.0.preprocess0.op.1.weight", "cells.0._ops.0.op.7.bias",
        "cells.0._ops.1.op.3.num_batches_tracked", "cells.1._ops.0.conv_2.weight", "cells.2.preprocess0.conv_1.weight",
        "auxiliary_head.features.6.weight", "auxiliary_head.classifier.bias", "classifier.weight"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
}

TEST(ExportCommand, RefusesAFolderInUseAndNeedsAModel) {
  TempDir dir;
  fs::create_directories(dir.file("used"));
  core::write_file_atomic(dir.file("used/keep.txt"), "mine\n");
  const auto model = write_random_model(dir, {"m", train::NetworkKind::kCifar, 1, 16, 4, 3, false});
  const auto busy = run_daas("export --model " + model + " --out " + dir.file("used"));
  EXPECT_EQ(busy.exit_code, 1) << busy.output;
  EXPECT_NE(busy.output.find("exists and is not an empty folder"), std::string::npos) << busy.output;
  EXPECT_EQ(core::read_file(dir.file("used/keep.txt")), "mine\n");
  const auto no_model = run_daas("export --out " + dir.file("x"));
  EXPECT_EQ(no_model.exit_code, 2) << no_model.output;
  EXPECT_NE(no_model.output.find("daas export: no --model"), std::string::npos) << no_model.output;
  EXPECT_FALSE(fs::exists(dir.file("x")));
}

TEST(ExportCommand, WithoutOutWritesANewRunFolder) {
  // As --help says of --out: empty = runs/<command>-<date>-<time>, from the
  // current folder.
  TempDir dir;
  const auto model = write_random_model(dir, {"m", train::NetworkKind::kCifar, 1, 16, 4, 3, false});
  const std::string command = "cd '" + dir.path() + "' && " + std::string(DAAS_BINARY) + " export --model " + model;
  testing::CommandResult exported;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) exported.output += buffer;
  const int status = ::pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << exported.output;
  std::smatch match;
  ASSERT_TRUE(
      std::regex_search(exported.output, match, std::regex("(runs/export-[0-9]{8}-[0-9]{6})/state_dict\\.pt\n")))
      << exported.output;
  for (const char* file :
       {train::kExportStateDict, train::kExportGenotype, train::kExportNormalization, train::kExportModel}) {
    EXPECT_TRUE(fs::exists(dir.file(match[1].str()) + "/" + file)) << file;
  }
  EXPECT_NE(run_daas("export --help").output.find("empty = runs/<command>-<date>-<time>"), std::string::npos);
}

}  // namespace
}  // namespace daas
