#pragma once
// In-memory image classification data: one uint8 N×C×H×W tensor plus int64
// labels, read by one of the formats in the format table.
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "daas/core/config.h"

namespace daas {

struct Dataset {
  std::string name;                  // "fashion-mnist/train"
  torch::Tensor images;              // uint8 [N, C, H, W]
  torch::Tensor labels;              // int64 [N]
  std::vector<std::string> classes;  // class index -> name
  std::vector<double> mean;          // per channel, in [0, 1]
  std::vector<double> std;           // per channel, in [0, 1]

  int64_t size() const { return images.size(0); }
  int64_t channels() const { return images.size(1); }
  int64_t height() const { return images.size(2); }
  int64_t width() const { return images.size(3); }
  int64_t num_classes() const { return static_cast<int64_t>(classes.size()); }

  /// The images at `indices` (int64), sharing classes and statistics.
  Dataset select(const torch::Tensor& indices, const std::string& suffix) const;
  /// Per-class counts, int64 [num_classes].
  torch::Tensor class_counts() const;
};

struct DataSplits {
  Dataset train;
  Dataset test;
};

/// Settings that decide how a data set is read.
struct DataOptions {
  std::string data = "fashion-mnist";  // FORMAT or FORMAT:DIR
  int64_t subset = 0;                  // keep N stratified train images (0 = all)
  int64_t image_size = 32;             // folder format: images resized to this side
  int64_t folder_channels = 3;         // folder format: 1 (gray) or 3 (RGB)
  double folder_test_fraction = 0.2;   // folder without train/ and test/: held-out share
  std::string cifar100_labels = "fine";
};

/// The names of the format table, in order, as one comma-separated list.
std::string data_format_names();

template <typename T>
void add_data_options(OptionTable<T>& table) {
  table.add("data", &T::data, "data set: FORMAT or FORMAT:DIR (formats: " + data_format_names() + ")")
      .add("subset", &T::subset, "keep a stratified subset of N training images (test set scaled alike); 0 = all",
           {0, 1e12})
      .add("image_size", &T::image_size, "folder data: resize images to this side", {8, 4096})
      .add("folder_channels", &T::folder_channels, "folder data: 1 = grayscale, 3 = RGB", {1, 3})
      .add("folder_test_fraction", &T::folder_test_fraction,
           "folder data without train/ and test/ subfolders: share held out for testing", {0.01, 0.9})
      .add_choice("cifar100_labels", &T::cifar100_labels, "CIFAR-100 label set", {"fine", "coarse"});
}

/// A reader of one format: reads the train and test splits from a folder.
struct DataFormat {
  const char* name;
  const char* default_dir;  // used when --data names no folder; may be empty
  DataSplits (*read)(const std::string& dir, const DataOptions& options);
};

/// The format table (name -> reader).
const std::vector<DataFormat>& data_formats();

/// Reads `options.data`, applies `options.subset` (seeded by `seed`) and
/// computes per-channel statistics from the training split.
DataSplits load_data(const DataOptions& options, uint64_t seed);

/// Stratified subset of `count` images, deterministic in `seed`; class shares
/// follow the full set (largest remainders), order sorted by original index.
torch::Tensor stratified_indices(const torch::Tensor& labels, int64_t num_classes, int64_t count, uint64_t seed);

/// Cuts `data` into two stratified halves (search: weights / architecture+policy).
std::pair<Dataset, Dataset> split_halves(const Dataset& data, uint64_t seed);

/// Per-channel mean and std of uint8 images, in [0, 1].
void compute_statistics(Dataset& data);

/// Fills in labels/class checks shared by readers: label range, counts.
void validate_dataset(const Dataset& data, const std::string& source);

// Readers (rows of the table), exposed for tests.
DataSplits read_idx(const std::string& dir, const DataOptions& options);
DataSplits read_cifar10(const std::string& dir, const DataOptions& options);
DataSplits read_cifar100(const std::string& dir, const DataOptions& options);
DataSplits read_folder(const std::string& dir, const DataOptions& options);

/// Reads one IDX image file + label file pair (gzip or raw).
Dataset read_idx_pair(const std::string& images_path, const std::string& labels_path);

}  // namespace daas
