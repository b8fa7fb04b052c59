// IDX reader (MNIST, Fashion-MNIST, KMNIST): big-endian magic and sizes, then
// uint8 payload. Format: http://yann.lecun.com/exdb/mnist/ (bottom of page).
#include <torch/torch.h>

#include <cstring>
#include <filesystem>

#include "daas/core/error.h"
#include "daas/core/files.h"
#include "daas/data/dataset.h"

namespace daas {
namespace {

constexpr uint32_t kImagesMagic = 2051;  // 0x00000803: uint8, 3 dimensions
constexpr uint32_t kLabelsMagic = 2049;  // 0x00000801: uint8, 1 dimension

uint32_t big_endian_u32(const std::string& bytes, size_t offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + offset;
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

/// Reads an IDX file, checks magic and size, returns the dimensions.
std::vector<int64_t> idx_header(const std::string& bytes, const std::string& path, uint32_t magic, size_t dims) {
  const size_t header = 4 + 4 * dims;
  check(bytes.size() >= header, "{}: file is {} bytes, too short for an IDX header of {} bytes", path, bytes.size(),
        header);
  const uint32_t found = big_endian_u32(bytes, 0);
  check(found == magic, "{}: magic {}, expected {} (IDX {} file)", path, found, magic,
        magic == kImagesMagic ? "image" : "label");
  std::vector<int64_t> sizes;
  size_t payload = 1;
  for (size_t i = 0; i < dims; ++i) {
    sizes.push_back(big_endian_u32(bytes, 4 + 4 * i));
    payload *= static_cast<size_t>(sizes.back());
  }
  check(bytes.size() == header + payload, "{}: {} bytes of data, expected {} for shape {} (file truncated or padded)",
        path, bytes.size() - header, payload, fmt::join(sizes, "×"));
  return sizes;
}

torch::Tensor payload_tensor(std::string& bytes, size_t header, std::vector<int64_t> shape) {
  auto tensor = torch::empty(shape, torch::kUInt8);
  std::memcpy(tensor.data_ptr<uint8_t>(), bytes.data() + header, static_cast<size_t>(tensor.numel()));
  return tensor;
}

/// `dir/stem` or `dir/stem.gz`, whichever exists.
std::string find_idx(const std::string& dir, const std::string& stem) {
  const auto base = (std::filesystem::path(dir) / stem).string();
  if (file_exists(base + ".gz")) return base + ".gz";
  if (file_exists(base)) return base;
  fail("{}: file not found (looked for {} and {}.gz)", base, stem, stem);
}

}  // namespace

Dataset read_idx_pair(const std::string& images_path, const std::string& labels_path) {
  std::string image_bytes = read_file(images_path);
  const auto image_sizes = idx_header(image_bytes, images_path, kImagesMagic, 3);
  std::string label_bytes = read_file(labels_path);
  const auto label_sizes = idx_header(label_bytes, labels_path, kLabelsMagic, 1);
  check(image_sizes[0] == label_sizes[0], "{}: {} labels, but {} has {} images", labels_path, label_sizes[0],
        images_path, image_sizes[0]);
  Dataset data;
  data.images = payload_tensor(image_bytes, 16, {image_sizes[0], 1, image_sizes[1], image_sizes[2]});
  data.labels = payload_tensor(label_bytes, 8, {label_sizes[0]}).to(torch::kLong);
  for (int i = 0; i < 10; ++i) data.classes.push_back(std::to_string(i));
  validate_dataset(data, labels_path);
  return data;
}

DataSplits read_idx(const std::string& dir, const DataOptions&) {
  if (!std::filesystem::is_directory(dir)) fail("{}: data folder not found", dir);
  DataSplits splits;
  splits.train = read_idx_pair(find_idx(dir, "train-images-idx3-ubyte"), find_idx(dir, "train-labels-idx1-ubyte"));
  splits.test = read_idx_pair(find_idx(dir, "t10k-images-idx3-ubyte"), find_idx(dir, "t10k-labels-idx1-ubyte"));
  return splits;
}

}  // namespace daas
