// Image-folder reader: root/<class>/*.{png,jpg,jpeg}, classes sorted by name,
// optional root/train and root/test; images decoded and resized to a square.
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>

#include "daas/core/error.h"
#include "daas/data/dataset.h"
#include "daas/data/image_io.h"

namespace fs = std::filesystem;

namespace daas {
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
  check(!classes.empty(), "{}: no class folders; expected {}/<class>/*.png|jpg", root, root);
  return classes;
}

torch::Tensor resize(const torch::Tensor& image, int64_t size) {
  if (image.size(1) == size && image.size(2) == size) return image;
  // Bilinear with antialiasing, as PIL's resize does for photos.
  auto resized = torch::nn::functional::interpolate(image.unsqueeze(0).to(torch::kFloat32),
                                                    torch::nn::functional::InterpolateFuncOptions()
                                                        .size(std::vector<int64_t>{size, size})
                                                        .mode(torch::kBilinear)
                                                        .align_corners(false)
                                                        .antialias(true));
  return resized.squeeze(0).round_().clamp_(0, 255).to(torch::kUInt8);
}

Dataset read_class_folders(const std::string& root, const std::vector<std::string>& classes,
                           const DataOptions& options) {
  std::vector<torch::Tensor> images;
  std::vector<int64_t> labels;
  for (size_t c = 0; c < classes.size(); ++c) {
    const fs::path folder = fs::path(root) / classes[c];
    check(fs::is_directory(folder), "{}: class folder missing (the class list comes from the training folder)",
          folder.string());
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(folder)) {
      if (entry.is_regular_file() && is_image(entry.path())) files.push_back(entry.path());
    }
    check(!files.empty(), "{}: class folder has no .png, .jpg or .jpeg images", folder.string());
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      images.push_back(resize(read_image(file.string(), options.folder_channels), options.image_size));
      labels.push_back(static_cast<int64_t>(c));
    }
  }
  Dataset data;
  data.images = torch::stack(images);
  data.labels = torch::tensor(labels, torch::kLong);
  data.classes = classes;
  validate_dataset(data, root);
  return data;
}

}  // namespace

DataSplits read_folder(const std::string& dir, const DataOptions& options) {
  if (!fs::is_directory(dir)) fail("{}: data folder not found", dir);
  DataSplits splits;
  const fs::path train = fs::path(dir) / "train";
  const fs::path test = fs::path(dir) / "test";
  check(fs::is_directory(train) == fs::is_directory(test),
        "{}: has {}/ but no {}/; expected both train/ and test/ (each of class folders), or class folders only", dir,
        fs::is_directory(train) ? "train" : "test", fs::is_directory(train) ? "test" : "train");
  if (fs::is_directory(train)) {
    const auto classes = class_folders(train.string());
    splits.train = read_class_folders(train.string(), classes, options);
    splits.test = read_class_folders(test.string(), classes, options);
    return splits;
  }
  // One folder of classes: hold out a stratified share for testing (fixed seed,
  // so the test split does not move with --seed).
  const auto all = read_class_folders(dir, class_folders(dir), options);
  check(all.size() >= 3, "{}: {} images; expected at least 3 (2 to train on, 1 held out to test)", dir, all.size());
  const int64_t test_count =
      std::max<int64_t>(1, static_cast<int64_t>(options.folder_test_fraction * static_cast<double>(all.size())));
  const auto test_indices = stratified_indices(all.labels, all.num_classes(), test_count, /*seed=*/12345);
  auto mask = torch::ones({all.size()}, torch::kBool);
  mask.index_fill_(0, test_indices, false);
  splits.train = all.select(mask.nonzero().flatten(), "");
  splits.test = all.select(test_indices, "");
  return splits;
}

}  // namespace daas
