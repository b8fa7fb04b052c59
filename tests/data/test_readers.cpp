// Readers: the real Fashion-MNIST, and one test per kind of bad file.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "daas/core/files.h"
#include "daas/data/dataset.h"
#include "daas/data/image_io.h"
#include "test_support.h"

namespace daas::data {
namespace {

using testing::TempDir;

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string idx_images(uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols, uint8_t fill = 7) {
  return be32(magic) + be32(n) + be32(rows) + be32(cols) + std::string(n * rows * cols, static_cast<char>(fill));
}

std::string idx_labels(uint32_t magic, const std::vector<uint8_t>& labels) {
  return be32(magic) + be32(static_cast<uint32_t>(labels.size())) + std::string(labels.begin(), labels.end());
}

void write_raw(const std::string& path, const std::string& bytes) { core::write_file_atomic(path, bytes); }

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(file);
}

/// A valid 4-image IDX data set in `dir` (raw files).
void write_idx_set(const std::string& dir) {
  for (const std::string split : {"train", "t10k"}) {
    write_raw(dir + "/" + split + "-images-idx3-ubyte", idx_images(2051, 4, 5, 6));
    write_raw(dir + "/" + split + "-labels-idx1-ubyte", idx_labels(2049, {0, 1, 2, 9}));
  }
}

DataOptions options_for(const std::string& spec) {
  DataOptions options;
  options.data = spec;
  return options;
}

TEST(FashionMnist, ReadsDebianPackageWithExpectedCounts) {
  const auto splits = load_data(options_for("fashion-mnist"), 0);
  EXPECT_EQ(splits.train.size(), 60000);
  EXPECT_EQ(splits.test.size(), 10000);
  EXPECT_EQ(splits.train.images.sizes(), (std::vector<int64_t>{60000, 1, 28, 28}));
  EXPECT_EQ(splits.train.num_classes(), 10);
  EXPECT_EQ(splits.train.classes[9], "Ankle boot");
  EXPECT_TRUE(torch::equal(splits.train.class_counts(), torch::full({10}, 6000, torch::kLong)));
  EXPECT_TRUE(torch::equal(splits.test.class_counts(), torch::full({10}, 1000, torch::kLong)));
  // Published Fashion-MNIST statistics: mean 0.2860, std 0.3530.
  EXPECT_NEAR(splits.train.mean[0], 0.2860, 1e-3);
  EXPECT_NEAR(splits.train.std[0], 0.3530, 1e-3);
}

TEST(Idx, GzipAndRawGiveTheSameData) {
  TempDir raw, gz;
  write_idx_set(raw.path());
  for (const std::string split : {"train", "t10k"}) {
    write_gz(gz.file(split + "-images-idx3-ubyte.gz"), core::read_file(raw.file(split + "-images-idx3-ubyte")));
    write_gz(gz.file(split + "-labels-idx1-ubyte.gz"), core::read_file(raw.file(split + "-labels-idx1-ubyte")));
  }
  const auto a = load_data(options_for("mnist:" + raw.path()), 0);
  const auto b = load_data(options_for("mnist:" + gz.path()), 0);
  EXPECT_TRUE(torch::equal(a.train.images, b.train.images));
  EXPECT_TRUE(torch::equal(a.train.labels, b.train.labels));
  EXPECT_EQ(a.train.images.sizes(), (std::vector<int64_t>{4, 1, 5, 6}));
}

TEST(Idx, MissingFileNamesIt) {
  TempDir dir;
  write_idx_set(dir.path());
  std::filesystem::remove(dir.file("t10k-labels-idx1-ubyte"));
  EXPECT_THROWS_WITH(load_data(options_for("mnist:" + dir.path()), 0), "t10k-labels-idx1-ubyte: file not found");
}

TEST(Idx, MissingFolderNamesIt) {
  EXPECT_THROWS_WITH(load_data(options_for("mnist:/nonexistent/mnist"), 0),
                     "/nonexistent/mnist: data folder not found");
}

TEST(Idx, WrongMagicNamesFoundAndExpected) {
  TempDir dir;
  write_idx_set(dir.path());
  write_raw(dir.file("train-images-idx3-ubyte"), idx_images(2049, 4, 5, 6));
  EXPECT_THROWS_WITH(load_data(options_for("mnist:" + dir.path()), 0),
                     "train-images-idx3-ubyte: magic 2049, expected 2051");
}

TEST(Idx, TruncatedFileIsReported) {
  TempDir dir;
  write_idx_set(dir.path());
  const auto bytes = idx_images(2051, 4, 5, 6);
  write_raw(dir.file("train-images-idx3-ubyte"), bytes.substr(0, bytes.size() - 10));
  EXPECT_THROWS_WITH(load_data(options_for("mnist:" + dir.path()), 0), "expected 120 for shape 4×5×6");
}

TEST(Idx, TruncatedGzipIsReported) {
  TempDir dir;
  write_idx_set(dir.path());
  write_gz(dir.file("whole.gz"), idx_images(2051, 400, 28, 28, 1));
  std::ifstream in(dir.file("whole.gz"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  write_raw(dir.file("train-images-idx3-ubyte.gz"), bytes.substr(0, bytes.size() / 2));
  EXPECT_THROWS_WITH(load_data(options_for("mnist:" + dir.path()), 0),
                     "train-images-idx3-ubyte.gz: truncated gzip stream");
}

TEST(Idx, ImageLabelCountMismatch) {
  TempDir dir;
  write_idx_set(dir.path());
  write_raw(dir.file("train-labels-idx1-ubyte"), idx_labels(2049, {0, 1, 2}));
  EXPECT_THROWS_WITH(load_data(options_for("mnist:" + dir.path()), 0), "3 labels, but");
}

TEST(Idx, LabelOutOfRange) {
  TempDir dir;
  write_idx_set(dir.path());
  write_raw(dir.file("train-labels-idx1-ubyte"), idx_labels(2049, {0, 1, 12, 3}));
  EXPECT_THROWS_WITH(load_data(options_for("mnist:" + dir.path()), 0),
                     "label 12 at record 2 is out of range; expected 0..9");
}

TEST(DataSpec, UnknownFormatListsKnownOnes) {
  EXPECT_THROWS_WITH(load_data(options_for("imagenette:/x"), 0), "unknown format 'imagenette'");
  EXPECT_THROWS_WITH(load_data(options_for("cifar10"), 0), "has no default folder");
}

std::string cifar_record(uint8_t label, int label_bytes) {
  std::string record(static_cast<size_t>(label_bytes), static_cast<char>(label));
  return record + std::string(3072, '\x10');
}

TEST(Cifar, ReadsCifar10Batches) {
  TempDir dir;
  for (int i = 1; i <= 5; ++i) {
    write_raw(dir.file("data_batch_" + std::to_string(i) + ".bin"), cifar_record(i, 1) + cifar_record(0, 1));
  }
  write_raw(dir.file("test_batch.bin"), cifar_record(9, 1));
  const auto splits = load_data(options_for("cifar10:" + dir.path()), 0);
  EXPECT_EQ(splits.train.images.sizes(), (std::vector<int64_t>{10, 3, 32, 32}));
  EXPECT_EQ(splits.train.labels[2].item<int64_t>(), 2);
  EXPECT_EQ(splits.test.classes[9], "truck");
}

TEST(Cifar, SizeNotAMultipleOfRecord) {
  TempDir dir;
  for (int i = 1; i <= 5; ++i) write_raw(dir.file("data_batch_" + std::to_string(i) + ".bin"), cifar_record(1, 1));
  write_raw(dir.file("test_batch.bin"), cifar_record(9, 1).substr(0, 3000));
  EXPECT_THROWS_WITH(load_data(options_for("cifar10:" + dir.path()), 0),
                     "test_batch.bin: size 3000 bytes is not a positive multiple of the record size 3073");
}

TEST(Cifar, Cifar100FineAndCoarseLabels) {
  TempDir dir;
  std::string train = std::string{static_cast<char>(3), static_cast<char>(42)} + std::string(3072, '\0');
  write_raw(dir.file("train.bin"), train);
  write_raw(dir.file("test.bin"), train);
  auto options = options_for("cifar100:" + dir.path());
  EXPECT_EQ(load_data(options, 0).train.labels[0].item<int64_t>(), 42);
  EXPECT_EQ(load_data(options, 0).train.num_classes(), 100);
  options.cifar100_labels = "coarse";
  EXPECT_EQ(load_data(options, 0).train.labels[0].item<int64_t>(), 3);
}

void write_image(const std::string& path, int64_t size, uint8_t value) {
  write_png(path, torch::full({3, size, size}, value, torch::kUInt8));
}

TEST(Folder, ReadsSortedClassesAndResizes) {
  TempDir dir;
  for (const std::string cls : {"zebra", "ant"}) {
    std::filesystem::create_directories(dir.file(cls));
    for (int i = 0; i < 5; ++i) write_image(dir.file(cls + "/" + std::to_string(i) + ".png"), 20, 100);
  }
  auto options = options_for("folder:" + dir.path());
  options.image_size = 16;
  const auto splits = load_data(options, 0);
  EXPECT_EQ(splits.train.classes, (std::vector<std::string>{"ant", "zebra"}));
  EXPECT_EQ(splits.train.size() + splits.test.size(), 10);
  EXPECT_EQ(splits.train.images.sizes().slice(1), (std::vector<int64_t>{3, 16, 16}));
  EXPECT_EQ(splits.train.images.max().item<int64_t>(), 100);
}

TEST(Folder, UnreadableImageNamesTheFile) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("cat"));
  write_image(dir.file("cat/a.png"), 8, 1);
  write_raw(dir.file("cat/b.png"), "\x89PNG\r\n\x1a\n garbage");
  EXPECT_THROWS_WITH(load_data(options_for("folder:" + dir.path()), 0), "cat/b.png: cannot decode PNG");
}

TEST(Folder, EmptyClassFolder) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("cat"));
  std::filesystem::create_directories(dir.file("dog"));
  write_image(dir.file("cat/a.png"), 8, 1);
  EXPECT_THROWS_WITH(load_data(options_for("folder:" + dir.path()), 0),
                     "dog: class folder has no .png, .jpg or .jpeg images");
}

}  // namespace
}  // namespace daas::data
