// CIFAR-10 / CIFAR-100 binary batches (https://www.cs.toronto.edu/~kriz/cifar.html):
// records of label byte(s) then 3072 bytes, 1024 per channel, row-major 32×32.
#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <sstream>

#include "daas/core/error.h"
#include "daas/core/files.h"
#include "daas/data/dataset.h"

namespace fs = std::filesystem;

namespace daas::data {
namespace {

constexpr int64_t kPixels = 3 * 32 * 32;

/// Reads records of `label_bytes` labels + image; keeps label byte `label_at`.
Dataset read_records(const std::vector<std::string>& paths, int64_t label_bytes, int64_t label_at) {
  const int64_t record = label_bytes + kPixels;
  std::vector<torch::Tensor> images;
  std::vector<torch::Tensor> labels;
  for (const auto& path : paths) {
    const std::string bytes = core::read_file(path);
    core::check(!bytes.empty() && static_cast<int64_t>(bytes.size()) % record == 0,
                "{}: size {} bytes is not a positive multiple of the record size {} ({} label byte(s) + 3072 pixels)",
                path, bytes.size(), record, label_bytes);
    const int64_t n = static_cast<int64_t>(bytes.size()) / record;
    auto raw = torch::empty({n, record}, torch::kUInt8);
    std::memcpy(raw.data_ptr<uint8_t>(), bytes.data(), bytes.size());
    images.push_back(raw.slice(1, label_bytes).reshape({n, 3, 32, 32}));
    labels.push_back(raw.select(1, label_at).to(torch::kLong));
  }
  Dataset data;
  data.images = torch::cat(images).contiguous();
  data.labels = torch::cat(labels);
  return data;
}

std::vector<std::string> read_names(const std::string& path) {
  std::istringstream in(core::read_file(path));
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  return names;
}

/// The folder holding the batches: DIR itself or DIR/<inner> as the archive unpacks.
std::string batches_dir(const std::string& dir, const std::string& inner, const std::string& probe) {
  if (fs::exists(fs::path(dir) / probe)) return dir;
  if (fs::exists(fs::path(dir) / inner / probe)) return (fs::path(dir) / inner).string();
  if (!fs::is_directory(dir)) core::fail("{}: data folder not found", dir);
  core::fail("{}: file not found (looked in {} and {}/{})", (fs::path(dir) / probe).string(), dir, dir, inner);
}

void finish(Dataset& data, const std::vector<std::string>& classes, const std::string& source) {
  data.classes = classes;
  validate_dataset(data, source);
}

}  // namespace

DataSplits read_cifar10(const std::string& dir, const DataOptions&) {
  const std::string root = batches_dir(dir, "cifar-10-batches-bin", "data_batch_1.bin");
  std::vector<std::string> train_files;
  for (int i = 1; i <= 5; ++i) train_files.push_back((fs::path(root) / fmt::format("data_batch_{}.bin", i)).string());
  const std::string test_file = (fs::path(root) / "test_batch.bin").string();
  std::vector<std::string> classes = {"airplane", "automobile", "bird",  "cat",  "deer",
                                      "dog",      "frog",       "horse", "ship", "truck"};
  const auto meta = fs::path(root) / "batches.meta.txt";
  if (fs::exists(meta)) classes = read_names(meta.string());
  DataSplits splits;
  splits.train = read_records(train_files, 1, 0);
  finish(splits.train, classes, train_files.front());
  splits.test = read_records({test_file}, 1, 0);
  finish(splits.test, classes, test_file);
  return splits;
}

DataSplits read_cifar100(const std::string& dir, const DataOptions& options) {
  const std::string root = batches_dir(dir, "cifar-100-binary", "train.bin");
  const bool fine = options.cifar100_labels == "fine";
  const int64_t label_at = fine ? 1 : 0;  // record: coarse label, fine label, pixels
  const auto names_file = fs::path(root) / (fine ? "fine_label_names.txt" : "coarse_label_names.txt");
  std::vector<std::string> classes;
  if (fs::exists(names_file)) {
    classes = read_names(names_file.string());
  } else {
    for (int i = 0; i < (fine ? 100 : 20); ++i) classes.push_back(std::to_string(i));
  }
  DataSplits splits;
  const std::string train_file = (fs::path(root) / "train.bin").string();
  const std::string test_file = (fs::path(root) / "test.bin").string();
  splits.train = read_records({train_file}, 2, label_at);
  finish(splits.train, classes, train_file);
  splits.test = read_records({test_file}, 2, label_at);
  finish(splits.test, classes, test_file);
  return splits;
}

}  // namespace daas::data
