#pragma once
// In-memory image classification data: one uint8 N×C×H×W tensor plus int64
// labels, read by one of the formats in the format table.
#include <torch/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "daas/core/config.h"

namespace daas::data {

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
  std::string data = "fashion-mnist";      // FORMAT or FORMAT:DIR
  int64_t subset = 0;                      // keep N stratified train images (0 = all)
  int64_t image_size = 32;                 // folder format: images brought to this side
  std::string image_resize = "crop";       // folder format: crop (shorter side, then centre crop) or stretch
  int64_t image_channels = 0;              // images read from files: 0 = as stored, 1 (gray) or 3 (RGB)
  std::string image_background = "white";  // images with transparency: composited on white or black, or error
  double folder_test_fraction = 0.2;       // folder without train/ and test/: held-out share
  std::string cifar100_labels = "fine";
};

/// The names of the format table, in order, as one comma-separated list.
std::string data_format_names();

template <typename T>
void add_data_options(core::OptionTable<T>& table) {
  table.add("data", &T::data, "data set: FORMAT or FORMAT:DIR (formats: " + data_format_names() + ")")
      .add("subset", &T::subset, "keep a stratified subset of N training images (test set scaled alike); 0 = all",
           {0, 1e12})
      .add("image_size", &T::image_size, "folder data: bring images to this side (see image_resize)", {8, 4096})
      .add_choice("image_resize", &T::image_resize,
                  "folder data: crop = shorter side to image_size, then the centre square (torchvision's "
                  "Resize + CenterCrop); stretch = both sides to image_size",
                  {"crop", "stretch"})
      .add("image_channels", &T::image_channels,
           "images read from files: 0 = as stored (gray stays gray; a folder with any colour image is RGB), 1 = gray, "
           "3 = RGB",
           {0, 3})
      .add_choice("image_background", &T::image_background,
                  "images with transparency (RGBA, gray+alpha, tRNS): composited on white or black; error = refuse "
                  "any image that is not opaque",
                  {"white", "black", "error"})
      .add("folder_test_fraction", &T::folder_test_fraction,
           "folder data without train/ and test/ subfolders: share held out for testing", {0.01, 0.9})
      .add_choice("cifar100_labels", &T::cifar100_labels, "CIFAR-100 label set", {"fine", "coarse"})
      .add_renamed("folder_channels", "image_channels");
}

/// The data settings as a JSON object of texts ({"data": "fashion-mnist",
/// "subset": "2000", ...}): a model file records how its data was read.
nlohmann::json data_options_to_json(const DataOptions& options);
/// Sets the fields named in `json` (as data_options_to_json writes them),
/// except the keys in `keep`; fails naming `source` on a bad value.
void data_options_from_json(const nlohmann::json& json, const std::set<std::string>& keep, const std::string& source,
                            DataOptions& options);

/// A reader of one format: reads the train and test splits from a folder.
struct DataFormat {
  const char* name;
  const char* default_dir;  // used when --data names no folder; may be empty
  DataSplits (*read)(const std::string& dir, const DataOptions& options);
};

/// The format table (name -> reader).
const std::vector<DataFormat>& data_formats();

/// Checks what can be checked of the data settings without reading a file:
/// a known format, a folder that exists, image_channels 0, 1 or 3. Commands
/// call it before they create their run folder; load_data calls it too.
/// Returns the format and the folder to read.
std::pair<const DataFormat*, std::string> check_data_source(const DataOptions& options);

/// Reads `options.data`, applies `options.subset` (seeded by `seed`) and
/// computes per-channel statistics from the training split.
DataSplits load_data(const DataOptions& options, uint64_t seed);

/// Stratified subset of `count` images, deterministic in `seed`; class shares
/// follow the full set (largest remainders), order sorted by original index.
torch::Tensor stratified_indices(const torch::Tensor& labels, int64_t num_classes, int64_t count, uint64_t seed);

/// Cuts `data` into two stratified halves (search: weights / architecture+policy).
std::pair<Dataset, Dataset> split_halves(const Dataset& data, uint64_t seed);

/// Per-channel mean and std of uint8 images, in [0, 1]; a constant channel
/// gets std 1 (with a warning), so that normalising keeps it finite.
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

}  // namespace daas::data
