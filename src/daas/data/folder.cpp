// Image-folder reader: root/<class>/*.{png,jpg,jpeg}, classes sorted by name,
// optional root/train and root/test; images decoded (channels as stored by
// default) and brought to a square (shorter side, then the centre by default).
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>

#include "daas/core/error.h"
#include "daas/data/dataset.h"
#include "daas/data/image_io.h"

namespace fs = std::filesystem;

namespace daas::data {
namespace {

bool is_image(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

std::vector<std::string> class_folders(const std::string& root) {
  std::vector<std::string> classes;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (entry.is_directory()) classes.push_back(entry.path().filename().string());
  }
  std::sort(classes.begin(), classes.end());
  core::check(!classes.empty(), "{}: no class folders; expected {}/<class>/*.png|jpg", root, root);
  return classes;
}

struct FolderImages {
  std::vector<torch::Tensor> images;  // uint8 [C, H, W], channels as read
  std::vector<int64_t> labels;
};

FolderImages read_class_folders(const std::string& root, const std::vector<std::string>& classes,
                                const DataOptions& options) {
  FolderImages out;
  for (size_t c = 0; c < classes.size(); ++c) {
    const fs::path folder = fs::path(root) / classes[c];
    core::check(fs::is_directory(folder), "{}: class folder missing (the class list comes from the training folder)",
                folder.string());
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(folder)) {
      if (entry.is_regular_file() && is_image(entry.path())) files.push_back(entry.path());
    }
    core::check(!files.empty(), "{}: class folder has no .png, .jpg or .jpeg images", folder.string());
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      const auto image = read_image(file.string(), options.image_channels, options.image_background);
      out.images.push_back(resize_image(image, options.image_size, options.image_size, options.image_resize));
      out.labels.push_back(static_cast<int64_t>(c));
    }
  }
  return out;
}

// With image_channels 0, the images keep their stored channels unless the
// folder mixes gray and colour: then all are RGB (a gray image replicated).
int64_t common_channels(const std::vector<const FolderImages*>& parts) {
  int64_t channels = 1;
  for (const auto* part : parts) {
    for (const auto& image : part->images) channels = std::max(channels, image.size(0));
  }
  return channels;
}

Dataset to_dataset(const FolderImages& read, int64_t channels, const std::vector<std::string>& classes,
                   const std::string& root) {
  std::vector<torch::Tensor> images;
  images.reserve(read.images.size());
  for (const auto& image : read.images) images.push_back(convert_channels(image, channels));
  Dataset data;
  data.images = torch::stack(images);
  data.labels = torch::tensor(read.labels, torch::kLong);
  data.classes = classes;
  validate_dataset(data, root);
  return data;
}

}  // namespace

DataSplits read_folder(const std::string& dir, const DataOptions& options) {
  if (!fs::is_directory(dir)) core::fail("{}: data folder not found", dir);
  DataSplits splits;
  const fs::path train = fs::path(dir) / "train";
  const fs::path test = fs::path(dir) / "test";
  core::check(fs::is_directory(train) == fs::is_directory(test),
              "{}: has {}/ but no {}/; expected both train/ and test/ (each of class folders), or class folders only",
              dir, fs::is_directory(train) ? "train" : "test", fs::is_directory(train) ? "test" : "train");
  if (fs::is_directory(train)) {
    const auto classes = class_folders(train.string());
    const auto train_images = read_class_folders(train.string(), classes, options);
    const auto test_images = read_class_folders(test.string(), classes, options);
    const int64_t channels = common_channels({&train_images, &test_images});
    splits.train = to_dataset(train_images, channels, classes, train.string());
    splits.test = to_dataset(test_images, channels, classes, test.string());
    return splits;
  }
  // One folder of classes: hold out a stratified share for testing (fixed seed,
  // so the test split does not move with --seed).
  const auto classes = class_folders(dir);
  const auto read = read_class_folders(dir, classes, options);
  const auto all = to_dataset(read, common_channels({&read}), classes, dir);
  core::check(all.size() >= 3, "{}: {} images; expected at least 3 (2 to train on, 1 held out to test)", dir,
              all.size());
  const int64_t test_count =
      std::max<int64_t>(1, static_cast<int64_t>(options.folder_test_fraction * static_cast<double>(all.size())));
  const auto test_indices = stratified_indices(all.labels, all.num_classes(), test_count, /*seed=*/12345);
  auto mask = torch::ones({all.size()}, torch::kBool);
  mask.index_fill_(0, test_indices, false);
  splits.train = all.select(mask.nonzero().flatten(), "");
  splits.test = all.select(test_indices, "");
  return splits;
}

}  // namespace daas::data
