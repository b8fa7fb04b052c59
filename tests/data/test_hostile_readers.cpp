// Hostile data files: sizes from headers checked before allocating, truncated
// images refused, splits of different shapes refused.
#include <gtest/gtest.h>
#include <jpeglib.h>
#include <torch/torch.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>

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

std::string idx_images(uint32_t n, uint32_t rows, uint32_t cols) {
  std::string out = be32(2051) + be32(n) + be32(rows) + be32(cols);
  for (uint32_t i = 0; i < n * rows * cols; ++i) out += static_cast<char>(i % 251);
  return out;
}

std::string idx_labels(uint32_t n) {
  std::string out = be32(2049) + be32(n);
  for (uint32_t i = 0; i < n; ++i) out += static_cast<char>(i % 10);
  return out;
}

void write_idx(const std::string& dir, const std::string& split, uint32_t n, uint32_t rows, uint32_t cols) {
  core::write_file_atomic(dir + "/" + split + "-images-idx3-ubyte", idx_images(n, rows, cols));
  core::write_file_atomic(dir + "/" + split + "-labels-idx1-ubyte", idx_labels(n));
}

DataOptions options_for(const std::string& spec) {
  DataOptions options;
  options.data = spec;
  return options;
}

/// A gray JPEG of size × size with varied pixels, encoded by libjpeg.
std::string encode_jpeg(int size) {
  jpeg_compress_struct info;
  jpeg_error_mgr error;
  info.err = jpeg_std_error(&error);
  jpeg_create_compress(&info);
  unsigned char* buffer = nullptr;
  unsigned long length = 0;
  jpeg_mem_dest(&info, &buffer, &length);
  info.image_width = static_cast<JDIMENSION>(size);
  info.image_height = static_cast<JDIMENSION>(size);
  info.input_components = 1;
  info.in_color_space = JCS_GRAYSCALE;
  jpeg_set_defaults(&info);
  jpeg_start_compress(&info, TRUE);
  std::vector<unsigned char> row(static_cast<size_t>(size));
  while (info.next_scanline < info.image_height) {
    for (int x = 0; x < size; ++x)
      row[static_cast<size_t>(x)] = static_cast<unsigned char>((x * 7 + info.next_scanline * 13) % 256);
    JSAMPROW rows[1] = {row.data()};
    jpeg_write_scanlines(&info, rows, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  std::string out(reinterpret_cast<char*>(buffer), length);
  std::free(buffer);
  return out;
}

TEST(HostileIdx, GzipBombIsRefusedWithoutInflatingIt) {
  TempDir dir;
  write_idx(dir.path(), "t10k", 4, 5, 6);
  core::write_file_atomic(dir.file("train-labels-idx1-ubyte"), idx_labels(1));
  // A valid header for one 28 × 28 image, then 64 MiB of zeros (64 KiB compressed).
  const std::string path = dir.file("train-images-idx3-ubyte.gz");
  gzFile file = gzopen(path.c_str(), "wb");
  const std::string header = be32(2051) + be32(1) + be32(28) + be32(28);
  gzwrite(file, header.data(), static_cast<unsigned>(header.size()));
  const std::string zeros(1 << 20, '\0');
  for (int i = 0; i < 64; ++i) gzwrite(file, zeros.data(), static_cast<unsigned>(zeros.size()));
  gzclose(file);
  EXPECT_THROWS_WITH(load_data(options_for("mnist:" + dir.path()), 0),
                     "train-images-idx3-ubyte.gz: more than 784 bytes of data, expected 784 for shape 1×28×28 (file "
                     "truncated or padded)");
}

TEST(HostileIdx, ShapeWhoseProductOverflowsIsNamed) {
  TempDir dir;
  core::write_file_atomic(dir.file("train-images-idx3-ubyte"), be32(2051) + be32(4) + be32(1u << 31) + be32(1u << 31));
  core::write_file_atomic(dir.file("train-labels-idx1-ubyte"), idx_labels(4));
  write_idx(dir.path(), "t10k", 4, 5, 6);
  EXPECT_THROWS_WITH(load_data(options_for("mnist:" + dir.path()), 0),
                     "train-images-idx3-ubyte: header shape 4×2147483648×2147483648 is more than 17179869184 bytes");
}

TEST(HostileIdx, EmptyImagesAreRefused) {
  TempDir dir;
  write_idx(dir.path(), "train", 4, 0, 0);
  write_idx(dir.path(), "t10k", 4, 5, 6);
  EXPECT_THROWS_WITH(load_data(options_for("mnist:" + dir.path()), 0),
                     "train-images-idx3-ubyte: images are 0×0 pixels; expected at least 1×1");
}

TEST(HostileIdx, SplitsOfDifferentImageSizesAreRefused) {
  TempDir dir;
  write_idx(dir.path(), "train", 4, 1, 1);
  write_idx(dir.path(), "t10k", 4, 28, 28);
  EXPECT_THROWS_WITH(load_data(options_for("mnist:" + dir.path()), 0),
                     "t10k-images-idx3-ubyte: images are 28×28, but the training images are 1×1; expected the same "
                     "size");
}

TEST(HostileImages, JpegDimensionsAreCheckedBeforeDecoding) {
  TempDir dir;
  std::string jpeg = encode_jpeg(16);
  // SOF0: FF C0, length (2), precision (1), height (2), width (2).
  const auto sof = jpeg.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  for (size_t at : {sof + 5, sof + 7}) {
    jpeg[at] = static_cast<char>(20000 >> 8);
    jpeg[at + 1] = static_cast<char>(20000 & 0xFF);
  }
  core::write_file_atomic(dir.file("big.jpg"), jpeg);
  EXPECT_THROWS_WITH(read_image(dir.file("big.jpg"), 3),
                     "big.jpg: JPEG header says 20000×20000 pixels; expected at most 16384 per side and 67108864 "
                     "pixels in all");
}

TEST(HostileImages, TruncatedJpegIsRefused) {
  TempDir dir;
  const std::string jpeg = encode_jpeg(64);
  core::write_file_atomic(dir.file("whole.jpg"), jpeg);
  EXPECT_EQ(read_image(dir.file("whole.jpg"), 1).sizes(), (std::vector<int64_t>{1, 64, 64}));
  core::write_file_atomic(dir.file("cut.jpg"), jpeg.substr(0, jpeg.size() / 2));
  EXPECT_THROWS_WITH(read_image(dir.file("cut.jpg"), 1), "cut.jpg: cannot decode JPEG (Premature end of JPEG file)");
}

TEST(HostileImages, PngDimensionsAreCheckedBeforeDecoding) {
  TempDir dir;
  write_png(dir.file("small.png"), torch::zeros({1, 1, 1}, torch::kUInt8));
  std::string png = core::read_file(dir.file("small.png"));
  // IHDR data (width, height) at bytes 16..23, its CRC over type and data at 29..32.
  const std::string side = be32(999999);
  png.replace(16, 4, side);
  png.replace(20, 4, side);
  const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(png.data() + 12), 17);
  png.replace(29, 4, be32(static_cast<uint32_t>(crc)));
  core::write_file_atomic(dir.file("big.png"), png);
  EXPECT_THROWS_WITH(read_image(dir.file("big.png"), 3), "big.png: PNG header says 999999×999999 pixels");
}

TEST(HostileFolder, TooFewImagesAndTrainWithoutTestAreNamed) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("a/cat"));
  write_png(dir.file("a/cat/1.png"), torch::randint(255, {1, 8, 8}).to(torch::kUInt8));
  write_png(dir.file("a/cat/2.png"), torch::randint(255, {1, 8, 8}).to(torch::kUInt8));
  EXPECT_THROWS_WITH(load_data(options_for("folder:" + dir.file("a")), 0),
                     "a: 2 images; expected at least 3 (2 to train on, 1 held out to test)");
  std::filesystem::create_directories(dir.file("b/train/cat"));
  write_png(dir.file("b/train/cat/1.png"), torch::randint(255, {1, 8, 8}).to(torch::kUInt8));
  EXPECT_THROWS_WITH(load_data(options_for("folder:" + dir.file("b")), 0),
                     "b: has train/ but no test/; expected both train/ and test/");
}

}  // namespace
}  // namespace daas::data
