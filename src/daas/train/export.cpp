#include "daas/train/export.h"

#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "daas/core/error.h"
#include "daas/core/files.h"
#include "daas/nas/network.h"
#include "daas/nas/ops.h"

namespace fs = std::filesystem;

namespace daas::train {
namespace {

using Names = std::map<std::string, std::string>;

// DARTS builds these blocks as nn.Sequential; the numbers are the positions
// of the convolutions and BatchNorms among their ReLUs.
const Names kReLUConvBN = {{"conv", "op.1"}, {"bn", "op.2"}};
const Names kSepConv = {{"dw1", "op.1"}, {"pw1", "op.2"}, {"bn1", "op.3"},
                        {"dw2", "op.5"}, {"pw2", "op.6"}, {"bn2", "op.7"}};
const Names kDilConv = {{"dw", "op.1"}, {"pw", "op.2"}, {"bn", "op.3"}};
const Names kFactorizedReduce = {{"conv1", "conv_1"}, {"conv2", "conv_2"}, {"bn", "bn"}};
// AuxiliaryHead*.features: ReLU, AvgPool, Conv, BN, ReLU, Conv, [BN,] ReLU.
const Names kAuxiliaryHead = {{"conv1", "features.2"},
                              {"bn1", "features.3"},
                              {"conv2", "features.5"},
                              {"bn2", "features.6"},
                              {"classifier", "classifier"}};
const Names kCifarTop = {{"stem_conv", "stem.0"}, {"stem_bn", "stem.1"}};
const Names kImageNetTop = {{"stem0_conv1", "stem0.0"}, {"stem0_bn1", "stem0.1"},  {"stem0_conv2", "stem0.3"},
                            {"stem0_bn2", "stem0.4"},   {"stem1_conv", "stem1.1"}, {"stem1_bn", "stem1.2"}};

/// The DARTS name of the child `name` of `parent`.
std::string darts_child_name(const torch::nn::Module& parent, const std::string& name) {
  const auto lookup = [&](const Names& names) -> std::string {
    const auto found = names.find(name);
    if (found == names.end()) core::fail("export: no DARTS name for '{}' in {}", name, parent.name());
    return found->second;
  };
  const bool network = dynamic_cast<const nas::NetworkCIFARImpl*>(&parent) != nullptr ||
                       dynamic_cast<const nas::NetworkImageNetImpl*>(&parent) != nullptr;
  if (network) {
    if (name.rfind("cell", 0) == 0) return "cells." + name.substr(4);
    if (name == "auxiliary_head" || name == "classifier") return name;
    return lookup(dynamic_cast<const nas::NetworkCIFARImpl*>(&parent) != nullptr ? kCifarTop : kImageNetTop);
  }
  if (dynamic_cast<const nas::CellImpl*>(&parent) != nullptr) {
    if (name == "preprocess0" || name == "preprocess1") return name;
    if (name.rfind("op", 0) == 0) return "_ops." + name.substr(2);
    core::fail("export: no DARTS name for '{}' in a cell", name);
  }
  if (dynamic_cast<const nas::ReLUConvBN*>(&parent) != nullptr) return lookup(kReLUConvBN);
  if (dynamic_cast<const nas::SepConv*>(&parent) != nullptr) return lookup(kSepConv);
  if (dynamic_cast<const nas::DilConv*>(&parent) != nullptr) return lookup(kDilConv);
  if (dynamic_cast<const nas::FactorizedReduce*>(&parent) != nullptr) return lookup(kFactorizedReduce);
  if (dynamic_cast<const nas::AuxiliaryHead*>(&parent) != nullptr) return lookup(kAuxiliaryHead);
  core::fail("export: no DARTS name for '{}' in {}", name, parent.name());
}

void collect(const torch::nn::Module& module, const std::string& prefix,
             std::vector<std::pair<std::string, torch::Tensor>>& out) {
  const auto take = [&](const std::string& name, const torch::Tensor& value) {
    out.emplace_back(prefix + name, value.detach().to(torch::kCPU).contiguous().clone());
  };
  for (const auto& item : module.named_parameters(/*recurse=*/false)) take(item.key(), item.value());
  for (const auto& item : module.named_buffers(/*recurse=*/false)) take(item.key(), item.value());
  for (const auto& child : module.named_children()) {
    collect(*child.value(), prefix + darts_child_name(module, child.key()) + ".", out);
  }
}

}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> darts_state_dict(Network& net) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  const auto& module = net.module();
  collect(module, "", out);
  const size_t expected = module.parameters().size() + module.buffers().size();
  core::check(out.size() == expected, "export: {} tensors named for DARTS, but the network has {}", out.size(),
              expected);
  return out;
}

std::vector<char> save_state_dict_bytes(const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, tensor] : tensors) dict.insert(name, tensor);
  return torch::pickle_save(c10::IValue(dict));
}

std::vector<std::string> export_model(Network& net, const std::string& dir, const std::string& resize) {
  const ModelInfo& info = net.info();
  const auto bytes = save_state_dict_bytes(darts_state_dict(net));
  const bool imagenet = info.network == NetworkKind::kImageNet;
  const nlohmann::json normalization = {
      {"input", {{"channels", info.in_channels}, {"height", info.height}, {"width", info.width}}},
      {"scale", "pixels / 255, then (x - mean) / std per channel"},
      {"mean", info.mean},
      {"std", info.std},
      {"channels", info.in_channels == 1 ? "gray (ITU-R 601 luma of a colour image)" : "RGB"},
      {"resize", resize == "stretch" ? "both sides to the input size (bilinear, antialiased)"
                                     : "shorter side to the input size (bilinear, antialiased), then the centre crop"}};
  const nlohmann::json model = {
      {"network", imagenet ? "NetworkImageNet" : "NetworkCIFAR"},
      {"arguments",
       {{"C", info.C},
        {"num_classes", info.num_classes()},
        {"layers", info.layers},
        {"auxiliary", info.auxiliary},
        {"genotype", info.genotype.to_darts_string()}}},
      {"in_channels", info.in_channels},
      {"classes", info.classes},
      {"state_dict", kExportStateDict},
      {"note",
       "DARTS's model.py hard-codes 3 input channels in the stem; a model of other in_channels needs that number "
       "changed. Set drop_path_prob before calling the network in training mode."}};
  core::make_dirs(dir);
  std::vector<std::string> written;
  const auto write = [&](const char* name, const std::string& text) {
    const std::string path = (fs::path(dir) / name).string();
    core::write_file_atomic(path, text);
    written.push_back(path);
  };
  write(kExportStateDict, std::string(bytes.begin(), bytes.end()));
  write(kExportGenotype, info.genotype.to_darts_string() + "\n");
  write(kExportNormalization, normalization.dump(2) + "\n");
  write(kExportModel, model.dump(2) + "\n");
  return written;
}

}  // namespace daas::train
