#include "daas/data/dataset.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <numeric>

#include "daas/core/error.h"

namespace daas::data {

namespace {

// Class names from the Fashion-MNIST README (zalandoresearch/fashion-mnist).
DataSplits read_fashion_mnist(const std::string& dir, const DataOptions& options) {
  DataSplits splits = read_idx(dir, options);
  splits.train.classes = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                          "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  splits.test.classes = splits.train.classes;
  return splits;
}

}  // namespace

const std::vector<DataFormat>& data_formats() {
  static const std::vector<DataFormat> formats = {
      {"fashion-mnist", "/usr/share/datasets/fashion-mnist", &read_fashion_mnist},
      {"mnist", "/usr/share/datasets/mnist", &read_idx},
      {"kmnist", "", &read_idx},
      {"cifar10", "", &read_cifar10},
      {"cifar100", "", &read_cifar100},
      {"folder", "", &read_folder},
  };
  return formats;
}

namespace {

const core::OptionTable<DataOptions>& data_option_table() {
  static const core::OptionTable<DataOptions> table = [] {
    core::OptionTable<DataOptions> t;
    add_data_options(t);
    return t;
  }();
  return table;
}

}  // namespace

nlohmann::json data_options_to_json(const DataOptions& options) {
  nlohmann::json out = nlohmann::json::object();
  const auto& table = data_option_table();
  for (const auto& option : table.options()) out[option.key] = table.value_text(options, option);
  return out;
}

void data_options_from_json(const nlohmann::json& json, const std::set<std::string>& keep, const std::string& source,
                            DataOptions& options) {
  core::check(json.is_object(), "{}: data settings are not a JSON object", source);
  const auto& table = data_option_table();
  core::Settings settings;
  for (const auto& option : table.options()) {
    if (keep.count(option.key) != 0 || !json.contains(option.key)) continue;
    const auto& value = json.at(option.key);
    core::check(value.is_string(), "{}: data setting '{}' is not a text", source, option.key);
    settings.set(option.key, value.get<std::string>(), source);
  }
  table.apply(settings, options);
}

std::string data_format_names() {
  std::vector<std::string> names;
  for (const auto& row : data_formats()) names.push_back(row.name);
  return fmt::format("{}", fmt::join(names, ", "));
}

Dataset Dataset::select(const torch::Tensor& indices, const std::string& suffix) const {
  Dataset out = *this;
  out.name = name + suffix;
  out.images = images.index_select(0, indices).contiguous();
  out.labels = labels.index_select(0, indices).contiguous();
  return out;
}

torch::Tensor Dataset::class_counts() const { return torch::bincount(labels, {}, num_classes()); }

void validate_dataset(const Dataset& data, const std::string& source) {
  core::check(data.images.defined() && data.images.dim() == 4 && data.images.scalar_type() == torch::kUInt8,
              "{}: images must be uint8 N×C×H×W", source);
  core::check(data.labels.size(0) == data.images.size(0), "{}: {} images but {} labels", source, data.images.size(0),
              data.labels.size(0));
  core::check(data.size() > 0, "{}: no images", source);
  core::check(data.images.size(2) > 0 && data.images.size(3) > 0, "{}: images are {}×{} pixels; expected at least 1×1",
              source, data.images.size(2), data.images.size(3));
  const int64_t max_label = data.labels.max().item<int64_t>();
  const int64_t min_label = data.labels.min().item<int64_t>();
  if (min_label < 0 || max_label >= data.num_classes()) {
    const int64_t bad = min_label < 0 ? min_label : max_label;
    const int64_t at = (data.labels == bad).nonzero()[0][0].item<int64_t>();
    core::fail("{}: label {} at record {} is out of range; expected 0..{}", source, bad, at, data.num_classes() - 1);
  }
}

void compute_statistics(Dataset& data) {
  const auto pixels = data.images.to(torch::kFloat64).div_(255.0);
  const auto mean = pixels.mean({0, 2, 3});
  const auto std = pixels.std({0, 2, 3}, /*unbiased=*/false);
  data.mean.assign(mean.data_ptr<double>(), mean.data_ptr<double>() + mean.numel());
  data.std.assign(std.data_ptr<double>(), std.data_ptr<double>() + std.numel());
  for (size_t c = 0; c < data.std.size(); ++c) {
    // A constant channel normalises to zero whatever its divisor; 1 keeps
    // it finite (0 would make every input NaN, and a model file refuses it).
    if (!(data.std[c] > 1e-12)) {
      spdlog::warn("{}: channel {} is constant (value {:.4g}); normalised with standard deviation 1",
                   data.name.empty() ? std::string("data set") : data.name, c, data.mean[c]);
      data.std[c] = 1.0;
    }
  }
}

torch::Tensor stratified_indices(const torch::Tensor& labels, int64_t num_classes, int64_t count, uint64_t seed) {
  const int64_t n = labels.size(0);
  core::check(count > 0 && count <= n, "subset of {} images requested from {} images; expected 1..{}", count, n, n);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto counts = torch::bincount(labels, {}, num_classes);
  // Largest-remainder apportionment keeps class shares as close as possible.
  std::vector<int64_t> take(num_classes);
  std::vector<std::pair<double, int64_t>> remainders;
  int64_t given = 0;
  for (int64_t c = 0; c < num_classes; ++c) {
    const double exact = static_cast<double>(count) * counts[c].item<int64_t>() / static_cast<double>(n);
    take[c] = static_cast<int64_t>(exact);
    given += take[c];
    remainders.emplace_back(exact - static_cast<double>(take[c]), c);
  }
  std::stable_sort(remainders.begin(), remainders.end(), [](auto a, auto b) { return a.first > b.first; });
  for (int64_t i = 0; given < count; ++i, ++given) take[remainders[i].second] += 1;
  std::vector<torch::Tensor> parts;
  for (int64_t c = 0; c < num_classes; ++c) {
    if (take[c] == 0) continue;
    const auto members = (labels == c).nonzero().flatten();
    const auto order = torch::randperm(members.size(0), generator, torch::kLong);
    parts.push_back(members.index_select(0, order.slice(0, 0, take[c])));
  }
  return std::get<0>(torch::cat(parts).sort());
}

std::pair<Dataset, Dataset> split_halves(const Dataset& data, uint64_t seed) {
  core::check(data.size() >= 2, "{}: only {} training image(s); expected at least 2 (one for each half of the search)",
              data.name, data.size());
  const auto first = stratified_indices(data.labels, data.num_classes(), data.size() / 2, seed);
  auto mask = torch::ones({data.size()}, torch::kBool);
  mask.index_fill_(0, first, false);
  const auto second = mask.nonzero().flatten();
  return {data.select(first, "[half 1]"), data.select(second, "[half 2]")};
}

std::pair<const DataFormat*, std::string> check_data_source(const DataOptions& options) {
  const auto colon = options.data.find(':');
  const std::string format_name = options.data.substr(0, colon);
  const std::string dir = colon == std::string::npos ? "" : options.data.substr(colon + 1);
  const DataFormat* format = nullptr;
  for (const auto& row : data_formats()) {
    if (format_name == row.name) format = &row;
  }
  if (format == nullptr)
    core::fail("data '{}': unknown format '{}'; expected FORMAT or FORMAT:DIR with FORMAT one of {}", options.data,
               format_name, data_format_names());
  const std::string folder = dir.empty() ? format->default_dir : dir;
  if (folder.empty())
    core::fail("data '{}': format {} has no default folder; give one as {}:DIR", options.data, format->name,
               format->name);
  core::check(std::filesystem::is_directory(folder),
              "{}: data folder not found (data '{}'); expected an existing folder", folder, options.data);
  // The declared range [0, 3] lets 2 through.
  core::check(options.image_channels == 0 || options.image_channels == 1 || options.image_channels == 3,
              "image_channels {}: expected 0 (as stored), 1 (gray) or 3 (RGB)", options.image_channels);
  return {format, folder};
}

DataSplits load_data(const DataOptions& options, uint64_t seed) {
  const auto [format, folder] = check_data_source(options);
  DataSplits splits = format->read(folder, options);
  splits.train.name = std::string(format->name) + "/train";
  splits.test.name = std::string(format->name) + "/test";
  const auto shape = [](const Dataset& d) { return fmt::format("{}", fmt::join(d.images.sizes().slice(1), "×")); };
  core::check(splits.train.images.sizes().slice(1) == splits.test.images.sizes().slice(1),
              "data '{}': training images are {} but test images are {}; expected the same shape", options.data,
              shape(splits.train), shape(splits.test));
  if (options.subset > 0 && options.subset < splits.train.size()) {
    const int64_t full = splits.train.size();
    splits.train = splits.train.select(
        stratified_indices(splits.train.labels, splits.train.num_classes(), options.subset, seed), "");
    const int64_t test_count = std::max<int64_t>(std::min<int64_t>(splits.test.num_classes(), splits.test.size()),
                                                 splits.test.size() * options.subset / full);
    splits.test =
        splits.test.select(stratified_indices(splits.test.labels, splits.test.num_classes(), test_count, seed + 1), "");
  }
  compute_statistics(splits.train);
  splits.test.mean = splits.train.mean;
  splits.test.std = splits.train.std;
  return splits;
}

}  // namespace daas::data
