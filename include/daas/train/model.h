#pragma once
// A retrained network and its model file (docs/method.md §8): NetworkCIFAR or
// NetworkImageNet behind one interface, and one file holding everything
// needed to use it again — weights plus a JSON record of the genotype, C,
// layers, input shape, normalisation and class names — so `daas eval`
// rebuilds the network from the file alone.
#include <c10/core/Device.h>
#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daas/nas/genotype.h"
#include "daas/nas/network.h"

namespace daas::data {
struct Dataset;
}

namespace daas::train {

/// Which DARTS network a genotype is built into.
enum class NetworkKind { kCifar, kImageNet };
const char* network_kind_name(NetworkKind kind);
/// "cifar" or "imagenet"; fails naming the value otherwise.
NetworkKind parse_network_kind(const std::string& name);
/// DARTS's choice by input side: NetworkImageNet (stride-8 stem) from
/// kImageNetMinSide pixels up, NetworkCIFAR below.
constexpr int64_t kImageNetMinSide = 64;
NetworkKind network_kind_for(int64_t height, int64_t width);

/// Bounds of a network, shared by the settings of search and retraining
/// (--channels, --layers) and the model record, so a file cannot build what
/// the command line may not. Parameters grow with C²·layers (DARTS's C 36, 20 cells:
/// 25,920, 3.3M parameters); the cap keeps a network near 300M parameters.
constexpr int64_t kMinChannels = 4;
constexpr int64_t kMaxChannels = 1024;
constexpr int64_t kMinLayers = 3;
constexpr int64_t kMaxLayers = 200;
constexpr int64_t kMaxChannelsSquaredLayers = int64_t{1} << 21;

/// Fails unless C and layers are within the bounds above; `source` names
/// where they came from (a file, or "--channels/--layers").
void check_network_size(int64_t C, int64_t layers, const std::string& source);

/// What a model file records besides the weights.
struct ModelInfo {
  nas::Genotype genotype;
  NetworkKind network = NetworkKind::kCifar;
  int64_t C = 16;
  int64_t layers = 8;
  bool auxiliary = false;  // the file holds an auxiliary head's weights too
  int64_t in_channels = 1;
  int64_t height = 28;
  int64_t width = 28;
  std::vector<std::string> classes;  // class index -> name; size = number of classes
  std::vector<double> mean;          // per channel, in [0, 1]: inputs are (x/255 − mean)/std
  std::vector<double> std;

  int64_t num_classes() const { return static_cast<int64_t>(classes.size()); }
  nlohmann::json to_json() const;
  /// Fails naming `source` and the field when a field is missing or invalid.
  static ModelInfo from_json(const nlohmann::json& json, const std::string& source);
};

/// A derived network, CIFAR or ImageNet variant, built from a ModelInfo.
class Network {
 public:
  Network(ModelInfo info, bool channels_last = true);
  /// x: float [N, in_channels, height, width], normalised.
  nas::NetworkOutput forward(const torch::Tensor& x);
  void set_drop_path_prob(double p);
  double drop_path_prob() const;
  torch::nn::Module& module();
  const ModelInfo& info() const { return info_; }
  bool channels_last() const { return channels_last_; }

 private:
  ModelInfo info_;
  bool channels_last_ = true;
  std::shared_ptr<nas::DerivedNetworkImpl> net_;
};

/// Writes `net` to `path` atomically: entry "model" (weights), "info"
/// (ModelInfo JSON) and "extra" (anything the caller records: data set,
/// epochs, test accuracy).
void save_model(Network& net, const std::string& path, const nlohmann::json& extra);

struct LoadedModel {
  std::unique_ptr<Network> network;  // in eval mode, on the requested device
  nlohmann::json extra;
};

/// Reads a model file written by save_model and rebuilds its network. Fails
/// naming the file when it is missing, truncated, not a daas model, or its
/// weights do not fit the network its record describes.
LoadedModel load_model(const std::string& path, const c10::Device& device);

/// Fails unless `data` has the channels, image size and class count `info`
/// was trained for; the message names the model file, the data set and both values.
void check_compatible(const ModelInfo& info, const data::Dataset& data, const std::string& model_path);

}  // namespace daas::train
