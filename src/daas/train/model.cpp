#include "daas/train/model.h"

#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <type_traits>

#include "daas/core/checkpoint.h"
#include "daas/core/error.h"
#include "daas/core/json.h"
#include "daas/data/dataset.h"

namespace daas::train {
namespace {

constexpr const char* kModelFormat = "daas-model";
constexpr int kModelVersion = 1;

struct KindName {
  NetworkKind kind;
  const char* name;
};
constexpr KindName kKindNames[] = {{NetworkKind::kCifar, "cifar"}, {NetworkKind::kImageNet, "imagenet"}};

template <typename T>
T field(const nlohmann::json& json, const char* key, const std::string& source) {
  const std::string record = source + ": model record";
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    static_assert(std::is_signed_v<T>, "model record integers are read as int64_t");
    return static_cast<T>(
        core::integer_field(json, key, record, std::numeric_limits<T>::min(), std::numeric_limits<T>::max()));
  } else {
    core::check(json.contains(key), "{} has no \"{}\"", record, key);
    try {
      return json.at(key).get<T>();
    } catch (const nlohmann::json::exception& e) {
      core::fail("{} field \"{}\" = {} has the wrong type ({})", record, key, core::json_excerpt(json.at(key)),
                 e.what());
    }
  }
}

nas::NetworkOptions network_options(const ModelInfo& info, bool channels_last) {
  return nas::NetworkOptions(info.C, info.layers, info.genotype)
      .num_classes(info.num_classes())
      .in_channels(info.in_channels)
      .auxiliary(info.auxiliary)
      .channels_last(channels_last);
}

/// Shape of every parameter and buffer, by name.
std::map<std::string, std::vector<int64_t>> shapes_of(const torch::nn::Module& module) {
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& item : module.named_parameters()) shapes[item.key()] = item.value().sizes().vec();
  for (const auto& item : module.named_buffers()) shapes[item.key()] = item.value().sizes().vec();
  return shapes;
}

}  // namespace

const char* network_kind_name(NetworkKind kind) {
  for (const auto& entry : kKindNames) {
    if (entry.kind == kind) return entry.name;
  }
  return "?";
}

NetworkKind parse_network_kind(const std::string& name) {
  for (const auto& entry : kKindNames) {
    if (name == entry.name) return entry.kind;
  }
  core::fail("network '{}': expected cifar or imagenet", name);
}

NetworkKind network_kind_for(int64_t height, int64_t width) {
  return std::min(height, width) >= kImageNetMinSide ? NetworkKind::kImageNet : NetworkKind::kCifar;
}

nlohmann::json ModelInfo::to_json() const {
  return {{"format", kModelFormat},
          {"version", kModelVersion},
          {"genotype", genotype.to_json()},
          {"genotype_text", genotype.to_darts_string()},
          {"network", network_kind_name(network)},
          {"C", C},
          {"layers", layers},
          {"auxiliary", auxiliary},
          {"in_channels", in_channels},
          {"height", height},
          {"width", width},
          {"num_classes", num_classes()},
          {"classes", classes},
          {"mean", mean},
          {"std", std}};
}

void check_network_size(int64_t C, int64_t layers, const std::string& source) {
  core::check(C >= kMinChannels && C <= kMaxChannels, "{}: C {}; expected {} to {} channels", source, C, kMinChannels,
              kMaxChannels);
  core::check(layers >= kMinLayers && layers <= kMaxLayers, "{}: {} layers; expected {} to {}", source, layers,
              kMinLayers, kMaxLayers);
  core::check(C % 2 == 0, "{}: C {} is odd; expected an even channel count (a reduction cell halves it)", source, C);
  core::check(
      C * C * layers <= kMaxChannelsSquaredLayers,
      "{}: C {} with {} layers is too large a network (C²·layers {}); expected C²·layers at most {} (about 300M "
      "parameters)",
      source, C, layers, C * C * layers, kMaxChannelsSquaredLayers);
}

ModelInfo ModelInfo::from_json(const nlohmann::json& json, const std::string& source) {
  core::check(json.is_object() && json.value("format", std::string()) == kModelFormat,
              "{}: not a daas model file (no \"format\": \"{}\" record); expected the model.pt of a daas train run",
              source, kModelFormat);
  const int version = field<int>(json, "version", source);
  core::check(version == kModelVersion, "{}: model file version {}, expected {}", source, version, kModelVersion);
  ModelInfo info;
  try {
    info.genotype = nas::Genotype::from_json(json.at("genotype"));
    info.genotype.validate();
  } catch (const std::exception& e) {
    core::fail("{}: model genotype: {}", source, e.what());
  }
  info.network = parse_network_kind(field<std::string>(json, "network", source));
  info.C = field<int64_t>(json, "C", source);
  info.layers = field<int64_t>(json, "layers", source);
  info.auxiliary = field<bool>(json, "auxiliary", source);
  info.in_channels = field<int64_t>(json, "in_channels", source);
  info.height = field<int64_t>(json, "height", source);
  info.width = field<int64_t>(json, "width", source);
  info.classes = field<std::vector<std::string>>(json, "classes", source);
  info.mean = field<std::vector<double>>(json, "mean", source);
  info.std = field<std::vector<double>>(json, "std", source);
  const auto num_classes = field<int64_t>(json, "num_classes", source);
  core::check(num_classes == info.num_classes() && num_classes >= 2,
              "{}: model record has {} classes but {} class names", source, num_classes, info.classes.size());
  check_network_size(info.C, info.layers, source + ": model record");
  core::check(info.height >= 1 && info.width >= 1 && info.height <= 4096 && info.width <= 4096,
              "{}: model record input size {}×{}; expected 1 to 4096 pixels per side", source, info.height, info.width);
  core::check(info.in_channels == 1 || info.in_channels == 3, "{}: model record in_channels {}; expected 1 or 3",
              source, info.in_channels);
  core::check(static_cast<int64_t>(info.mean.size()) == info.in_channels && info.mean.size() == info.std.size(),
              "{}: model record has {} input channels, {} means and {} stds; expected one mean and std per channel",
              source, info.in_channels, info.mean.size(), info.std.size());
  // Statistics of pixels scaled to [0, 1]: anything else would normalise the
  // inputs to infinities and report NaN losses as a result.
  for (size_t c = 0; c < info.mean.size(); ++c) {
    core::check(std::isfinite(info.mean[c]) && info.mean[c] >= 0 && info.mean[c] <= 1,
                "{}: model record mean {} of channel {}; expected a number in [0, 1]", source, info.mean[c], c);
    core::check(std::isfinite(info.std[c]) && info.std[c] >= 1e-6 && info.std[c] <= 1,
                "{}: model record std {} of channel {}; expected a number in [1e-06, 1]", source, info.std[c], c);
  }
  return info;
}

Network::Network(ModelInfo info, bool channels_last) : info_(std::move(info)), channels_last_(channels_last) {
  const auto options = network_options(info_, channels_last);
  if (info_.network == NetworkKind::kCifar) {
    net_ = std::make_shared<nas::NetworkCIFARImpl>(options);
  } else {
    net_ = std::make_shared<nas::NetworkImageNetImpl>(options);
  }
}

nas::NetworkOutput Network::forward(const torch::Tensor& x) { return net_->forward(x); }

double Network::drop_path_prob() const { return net_->options().drop_path_prob(); }

void Network::set_drop_path_prob(double p) { net_->set_drop_path_prob(p); }

torch::nn::Module& Network::module() { return *net_; }

void save_model(Network& net, const std::string& path, const nlohmann::json& extra) {
  core::CheckpointWriter writer;
  writer.module("model", net.module());
  writer.json("info", net.info().to_json());
  writer.json("extra", extra);
  writer.save(path);
}

LoadedModel load_model(const std::string& path, const c10::Device& device) {
  core::CheckpointReader reader(path);
  const ModelInfo info = ModelInfo::from_json(reader.json("info"), path);
  LoadedModel loaded;
  loaded.network = std::make_unique<Network>(info);
  auto& module = loaded.network->module();
  // LibTorch's Module::load replaces each tensor with the stored one whatever
  // its shape, so shapes are compared here: weights of another C or class
  // count must not slip through to a confusing error in the first forward.
  const auto expected = shapes_of(module);
  reader.module("model", module);
  for (const auto& [name, shape] : shapes_of(module)) {
    const auto& want = expected.at(name);
    core::check(
        shape == want,
        "{}: weight '{}' has shape {} but the recorded network ({} genotype, C {}, {} layers, {} classes) needs {}; "
        "the file's weights and record disagree",
        path, name, fmt::join(shape, "×"), network_kind_name(info.network), info.C, info.layers, info.num_classes(),
        fmt::join(want, "×"));
  }
  module.to(device);
  module.eval();
  loaded.extra = reader.json("extra");
  return loaded;
}

void check_compatible(const ModelInfo& info, const data::Dataset& data, const std::string& model_path) {
  core::check(data.channels() == info.in_channels && data.height() == info.height && data.width() == info.width,
              "{}: the model takes {}×{}×{} images but {} has {}×{}×{}; expected the data set it was trained on",
              model_path, info.in_channels, info.height, info.width, data.name, data.channels(), data.height(),
              data.width());
  core::check(data.num_classes() == info.num_classes(),
              "{}: the model has {} classes but {} has {}; expected the data set it was trained on", model_path,
              info.num_classes(), data.name, data.num_classes());
}

}  // namespace daas::train
