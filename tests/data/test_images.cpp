// Image files: channels as stored, transparency composited on a stated
// background or refused, resizing that keeps the aspect ratio (shorter side,
// then the centre, with torchvision's offsets).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>
#include <filesystem>

#include "daas/data/dataset.h"
#include "daas/data/image_io.h"
#include "png_support.h"
#include "test_support.h"

namespace daas::data {
namespace {

using testing::TempDir;
using testing::write_png_with;

TEST(Images, ChannelsComeFromTheFile) {
  TempDir dir;
  write_png(dir.file("gray.png"), torch::full({1, 4, 5}, 77, torch::kUInt8));
  auto rgb = torch::zeros({3, 4, 5}, torch::kUInt8);
  rgb[0].fill_(255);  // pure red
  write_png(dir.file("rgb.png"), rgb);
  EXPECT_EQ(read_image(dir.file("gray.png"), 0).sizes(), (std::vector<int64_t>{1, 4, 5}));
  EXPECT_EQ(read_image(dir.file("rgb.png"), 0).sizes(), (std::vector<int64_t>{3, 4, 5}));
  // Gray to RGB replicates; RGB to gray is ITU-R 601 luma as PIL rounds it:
  // (255·19595 + 2^15) >> 16 = 76 for pure red.
  EXPECT_TRUE(torch::equal(read_image(dir.file("gray.png"), 3), torch::full({3, 4, 5}, 77, torch::kUInt8)));
  EXPECT_TRUE(torch::equal(read_image(dir.file("rgb.png"), 1), torch::full({1, 4, 5}, 76, torch::kUInt8)));
  EXPECT_THROWS_WITH(read_image(dir.file("rgb.png"), 2), "2 channels requested; expected 0 (as stored), 1 (gray) or 3");
}

TEST(Images, TransparencyIsCompositedOnTheStatedBackgroundOrRefused) {
  TempDir dir;
  // RGBA: colour (200, 100, 0); alpha 255 in the first row, 0 in the second,
  // 51 (20%) in the third.
  auto rgba = torch::zeros({3, 2, 4}, torch::kUInt8);
  rgba.select(2, 0).fill_(200);
  rgba.select(2, 1).fill_(100);
  rgba[0].select(1, 3).fill_(255);
  rgba[2].select(1, 3).fill_(51);
  write_png_with(dir.file("rgba.png"), rgba, PNG_FORMAT_RGBA);
  const auto white = read_image(dir.file("rgba.png"), 0, "white");
  const auto black = read_image(dir.file("rgba.png"), 0, "black");
  ASSERT_EQ(white.sizes(), (std::vector<int64_t>{3, 3, 2}));
  EXPECT_EQ(white[0][0][0].item<int64_t>(), 200);  // opaque: unchanged
  EXPECT_EQ(white[0][1][0].item<int64_t>(), 255);  // transparent: the background
  EXPECT_EQ(black[0][1][0].item<int64_t>(), 0);
  // 20%: (200·51 + 255·204 + 127) / 255 = 244 on white, (200·51 + 127) / 255 = 40 on black.
  EXPECT_EQ(white[0][2][0].item<int64_t>(), 244);
  EXPECT_EQ(black[0][2][0].item<int64_t>(), 40);
  EXPECT_THROWS_WITH(read_image(dir.file("rgba.png"), 0, "error"),
                     "rgba.png: 4 of its 6 pixels are not opaque (alpha below 255); expected an opaque image");
  // An RGBA file whose pixels are all opaque is accepted as it is.
  rgba.select(2, 3).fill_(255);
  write_png_with(dir.file("opaque.png"), rgba, PNG_FORMAT_RGBA);
  EXPECT_EQ(read_image(dir.file("opaque.png"), 0, "error")[1][2][1].item<int64_t>(), 100);
  // Gray + alpha stays gray.
  auto ga = torch::zeros({2, 2, 2}, torch::kUInt8);
  ga.select(2, 0).fill_(10);
  write_png_with(dir.file("ga.png"), ga, PNG_FORMAT_GA);
  EXPECT_TRUE(torch::equal(read_image(dir.file("ga.png"), 0, "white"), torch::full({1, 2, 2}, 255, torch::kUInt8)));
}

TEST(Images, CropKeepsTheAspectRatioAndCutsTheCentre) {
  // 20×40: dark quarters left and right, bright middle. Cropped to 10×10 it
  // is the bright middle (scaled 1/2, columns 5..14 of 20); stretched, the
  // dark quarters stay at the sides.
  auto image = torch::zeros({1, 20, 40}, torch::kUInt8);
  image.narrow(2, 10, 20).fill_(255);
  const auto crop = resize_image(image, 10, 10, "crop");
  const auto stretch = resize_image(image, 10, 10, "stretch");
  ASSERT_EQ(crop.sizes(), (std::vector<int64_t>{1, 10, 10}));
  EXPECT_TRUE(torch::equal(crop.narrow(2, 1, 8), torch::full({1, 10, 8}, 255, torch::kUInt8)));
  EXPECT_LT(stretch[0][5][0].item<int64_t>(), 64);
  EXPECT_LT(stretch[0][5][9].item<int64_t>(), 64);
  // No scaling needed: the centre offset is round((W − 10) / 2), half to
  // even as torchvision's center_crop: 0 for width 11, 2 for width 13.
  const auto columns = torch::arange(13, torch::kLong).to(torch::kUInt8).view({1, 1, 13}).expand({1, 10, 13});
  EXPECT_EQ(resize_image(columns.narrow(2, 0, 11).contiguous(), 10, 10, "crop")[0][0][0].item<int64_t>(), 0);
  EXPECT_EQ(resize_image(columns.contiguous(), 10, 10, "crop")[0][0][0].item<int64_t>(), 2);
  // The right size already: returned as it is.
  EXPECT_TRUE(torch::equal(resize_image(image, 20, 40, "crop"), image));
}

TEST(Images, FolderDataKeepsGrayAndMakesMixedFoldersRgb) {
  TempDir dir;
  for (const std::string cls : {"a", "b"}) {
    std::filesystem::create_directories(dir.file(cls));
    for (int i = 0; i < 3; ++i) {
      write_png(dir.file(cls + "/" + std::to_string(i) + ".png"), torch::full({1, 12, 24}, 60 + i, torch::kUInt8));
    }
  }
  DataOptions options;
  options.data = "folder:" + dir.path();
  options.image_size = 8;
  const auto gray = load_data(options, 0);
  EXPECT_EQ(gray.train.images.sizes().slice(1), (std::vector<int64_t>{1, 8, 8}));
  write_png(dir.file("b/colour.png"), torch::full({3, 12, 24}, 90, torch::kUInt8));
  const auto mixed = load_data(options, 0);
  EXPECT_EQ(mixed.train.images.sizes().slice(1), (std::vector<int64_t>{3, 8, 8}));
  options.image_channels = 1;
  EXPECT_EQ(load_data(options, 0).train.images.sizes().slice(1), (std::vector<int64_t>{1, 8, 8}));
}

}  // namespace
}  // namespace daas::data
