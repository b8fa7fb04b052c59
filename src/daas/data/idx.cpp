// IDX reader (MNIST, Fashion-MNIST, KMNIST): big-endian magic and sizes, then
// uint8 payload. Format: http://yann.lecun.com/exdb/mnist/ (bottom of page).
#include <torch/torch.h>

#include <cstring>
#include <filesystem>

#include "daas/core/error.h"
#include "daas/core/files.h"
#include "daas/data/dataset.h"

namespace daas::data {
namespace {

constexpr uint32_t kImagesMagic = 2051;  // 0x00000803: uint8, 3 dimensions
constexpr uint32_t kLabelsMagic = 2049;  // 0x00000801: uint8, 1 dimension

uint32_t big_endian_u32(const std::string& bytes, size_t offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + offset;
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Largest IDX payload read: 16 GiB, far above any real IDX data set; a
// header announcing more is corrupt (or a product that wrapped around).
constexpr uint64_t kMaxIdxPayload = uint64_t{1} << 34;

/// Reads an IDX file: the header first, checked (magic, and a payload size
/// that does not overflow), then exactly the announced payload plus one byte
/// to detect padding, so a small .gz cannot inflate to gigabytes first.
/// Returns the bytes and fills `sizes`.
std::string read_idx_file(const std::string& path, uint32_t magic, size_t dims, std::vector<int64_t>& sizes) {
  const size_t header = 4 + 4 * dims;
  const std::string head = core::read_file_head(path, header);
  core::check(head.size() >= header, "{}: file is {} bytes, too short for an IDX header of {} bytes", path, head.size(),
              header);
  const uint32_t found = big_endian_u32(head, 0);
  core::check(found == magic, "{}: magic {}, expected {} (IDX {} file)", path, found, magic,
              magic == kImagesMagic ? "image" : "label");
  sizes.clear();
  uint64_t payload = 1;
  for (size_t i = 0; i < dims; ++i) {
    sizes.push_back(big_endian_u32(head, 4 + 4 * i));
    const auto size = static_cast<uint64_t>(sizes.back());
    payload = size != 0 && payload > kMaxIdxPayload / size ? kMaxIdxPayload + 1 : payload * size;
  }
  core::check(payload <= kMaxIdxPayload, "{}: header shape {} is more than {} bytes; expected a real IDX file", path,
              fmt::join(sizes, "×"), kMaxIdxPayload);
  const std::string bytes = core::read_file_head(path, header + payload + 1);
  core::check(bytes.size() == header + payload,
              "{}: {} bytes of data, expected {} for shape {} (file truncated or padded)", path,
              bytes.size() == header + payload + 1 ? "more than " + std::to_string(payload)
                                                   : std::to_string(bytes.size() - header),
              payload, fmt::join(sizes, "×"));
  return bytes;
}

torch::Tensor payload_tensor(std::string& bytes, size_t header, std::vector<int64_t> shape) {
  auto tensor = torch::empty(shape, torch::kUInt8);
  std::memcpy(tensor.data_ptr<uint8_t>(), bytes.data() + header, static_cast<size_t>(tensor.numel()));
  return tensor;
}

/// `dir/stem` or `dir/stem.gz`, whichever exists.
std::string find_idx(const std::string& dir, const std::string& stem) {
  const auto base = (std::filesystem::path(dir) / stem).string();
  if (core::file_exists(base + ".gz")) return base + ".gz";
  if (core::file_exists(base)) return base;
  core::fail("{}: file not found (looked for {} and {}.gz)", base, stem, stem);
}

}  // namespace

Dataset read_idx_pair(const std::string& images_path, const std::string& labels_path) {
  std::vector<int64_t> image_sizes, label_sizes;
  std::string image_bytes = read_idx_file(images_path, kImagesMagic, 3, image_sizes);
  core::check(image_sizes[1] > 0 && image_sizes[2] > 0, "{}: images are {}×{} pixels; expected at least 1×1",
              images_path, image_sizes[1], image_sizes[2]);
  std::string label_bytes = read_idx_file(labels_path, kLabelsMagic, 1, label_sizes);
  core::check(image_sizes[0] == label_sizes[0], "{}: {} labels, but {} has {} images", labels_path, label_sizes[0],
              images_path, image_sizes[0]);
  Dataset data;
  data.images = payload_tensor(image_bytes, 16, {image_sizes[0], 1, image_sizes[1], image_sizes[2]});
  data.labels = payload_tensor(label_bytes, 8, {label_sizes[0]}).to(torch::kLong);
  for (int i = 0; i < 10; ++i) data.classes.push_back(std::to_string(i));
  validate_dataset(data, labels_path);
  return data;
}

DataSplits read_idx(const std::string& dir, const DataOptions&) {
  if (!std::filesystem::is_directory(dir)) core::fail("{}: data folder not found", dir);
  DataSplits splits;
  splits.train = read_idx_pair(find_idx(dir, "train-images-idx3-ubyte"), find_idx(dir, "train-labels-idx1-ubyte"));
  const std::string test_images = find_idx(dir, "t10k-images-idx3-ubyte");
  splits.test = read_idx_pair(test_images, find_idx(dir, "t10k-labels-idx1-ubyte"));
  core::check(splits.train.images.sizes().slice(1) == splits.test.images.sizes().slice(1),
              "{}: images are {}×{}, but the training images are {}×{}; expected the same size", test_images,
              splits.test.images.size(2), splits.test.images.size(3), splits.train.images.size(2),
              splits.train.images.size(3));
  return splits;
}

}  // namespace daas::data
