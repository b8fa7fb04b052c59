// The op table against torchvision 0.14 (tests/augment/torchvision_oracle.py,
// run with Debian's /usr/bin/python3), plus the properties torchvision has no
// counterpart for (Cutout, per-image masks, float images, errors).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "daas/augment/ops.h"
#include "test_support.h"

namespace daas::augment {
namespace {

using daas::testing::TempDir;

/// Test images with structure the ops react to: noise, gradients, a narrow
/// value range (AutoContrast, Equalize) and a flat image (degenerate cases).
torch::Tensor test_images(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto images = torch::randint(0, 256, {n, c, h, w}, generator, torch::kLong);
  const auto ramp = torch::arange(h * w, torch::kLong).view({1, 1, h, w}) * 255 / (h * w - 1);
  for (int64_t i = 0; i < n; ++i) {
    auto image = images[i];
    switch (i % 4) {
      case 1:  // gradient plus a little noise
        image.copy_((ramp[0] + image / 32).clamp(0, 255));
        break;
      case 2:  // narrow range 90..120
        image.copy_(90 + image % 31);
        break;
      case 3:  // half flat, half noise
        image.narrow(1, 0, h / 2).fill_(i * 37 % 256);
        break;
      default:
        break;
    }
  }
  return images.to(torch::kByte);
}

void write_raw(const std::string& path, const torch::Tensor& t) {
  const auto c = t.contiguous();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), static_cast<std::streamsize>(c.numel()));
}

torch::Tensor read_raw(const std::string& path, torch::IntArrayRef shape) {
  auto t = torch::empty(shape, torch::kByte);
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(t.data_ptr<uint8_t>()), static_cast<std::streamsize>(t.numel()));
  EXPECT_EQ(in.gcount(), t.numel()) << path;
  return t;
}

/// Values each op is checked at: both signs for signed ops, the ends of the
/// docs/method.md §3 ranges, and values that put sample points on half pixels (shear 0.2).
std::vector<double> parity_values(Op op) {
  switch (op) {
    case Op::ShearX:
    case Op::ShearY:
      return {0.3, -0.3, 0.2, -0.1, 0.05, 0.123};
    case Op::TranslateX:
    case Op::TranslateY:
      return {14.4, -14.4, 3.0, -7.9, 0.0, 20.0};
    case Op::Rotate:
      return {30.0, -30.0, 12.5, -3.0, 90.0, 45.0};
    case Op::Solarize:
      return {0.0, 128.0, 255.0, 77.7, 200.0, 30.0};
    case Op::Posterize:
      return {4.0, 8.0, 5.9, 1.0, 0.0, 6.0};
    case Op::Contrast:
    case Op::Color:
    case Op::Brightness:
    case Op::Sharpness:
      return {0.1, 1.9, 1.0, 0.55, 1.37, 0.0};
    default:
      return {0.0};
  }
}

struct Case {
  Op op;
  torch::Tensor images;
  torch::Tensor values;
  std::string output;
};

TEST(OpParity, EveryOpMatchesTorchvisionPixelForPixel) {
  TempDir dir;
  std::vector<Case> cases;
  nlohmann::json manifest = nlohmann::json::array();
  const std::vector<std::array<int64_t, 4>> shapes = {{1, 3, 32, 32}, {6, 3, 32, 32}, {1, 1, 28, 28},
                                                      {6, 1, 28, 28}, {6, 3, 19, 26}, {6, 1, 26, 19}};
  uint64_t seed = 1;
  for (const auto& row : op_table()) {
    if (row.op == Op::Cutout) continue;  // random; no torchvision counterpart (checked below)
    const auto values = parity_values(row.op);
    for (const auto& s : shapes) {
      const int64_t n = s[0];
      // A batch of one is run at every value; a batch of many mixes the values.
      const size_t runs = n == 1 ? values.size() : 1;
      for (size_t r = 0; r < runs; ++r) {
        std::vector<double> per_image;
        for (int64_t i = 0; i < n; ++i) per_image.push_back(values[(r + static_cast<size_t>(i)) % values.size()]);
        Case c{row.op, test_images(n, s[1], s[2], s[3], seed++), torch::tensor(per_image, torch::kDouble),
               dir.file("out" + std::to_string(cases.size()))};
        const std::string input = dir.file("in" + std::to_string(cases.size()));
        write_raw(input, c.images);
        manifest.push_back({{"op", row.name},
                            {"values", per_image},
                            {"shape", c.images.sizes().vec()},
                            {"input", input},
                            {"output", c.output}});
        cases.push_back(std::move(c));
      }
    }
  }
  const std::string manifest_path = dir.file("cases.json");
  std::ofstream(manifest_path) << manifest.dump();
  const std::string command =
      "/usr/bin/python3 " + daas::testing::source_dir() + "/tests/augment/torchvision_oracle.py " + manifest_path;
  ASSERT_EQ(std::system(command.c_str()), 0) << command;

  int failures = 0;
  for (const auto& c : cases) {
    const auto expected = read_raw(c.output, c.images.sizes());
    const auto got = apply_op(c.op, c.images, c.values);
    ASSERT_EQ(got.scalar_type(), torch::kByte);
    const auto differ = (got.to(torch::kInt) - expected.to(torch::kInt)).abs();
    if (differ.max().item<int>() != 0) {
      ++failures;
      ADD_FAILURE() << op_name(c.op) << " shape " << c.images.sizes() << " values " << c.values << ": "
                    << differ.gt(0).sum().item<int64_t>() << " pixels differ, max " << differ.max().item<int>();
    }
  }
  EXPECT_EQ(failures, 0) << "of " << cases.size() << " cases";
}

TEST(Ops, TableHasOneRowPerOpInEnumOrder) {
  for (int i = 0; i < kOpCount; ++i) {
    const auto& row = op_table()[static_cast<size_t>(i)];
    EXPECT_EQ(static_cast<int>(row.op), i);
    EXPECT_EQ(op_from_name(row.name), row.op);
  }
  EXPECT_THROWS_WITH(op_from_name("Shear"), "unknown augmentation op 'Shear'; expected one of ShearX, ShearY");
}

TEST(Ops, LevelsMapToTheDesignRanges) {
  EXPECT_DOUBLE_EQ(level_to_value(Op::ShearX, 1.0, 32, 32), 0.3);
  EXPECT_DOUBLE_EQ(level_to_value(Op::TranslateX, 1.0, 20, 40), 18.0);
  EXPECT_DOUBLE_EQ(level_to_value(Op::TranslateY, 1.0, 20, 40), 9.0);
  EXPECT_DOUBLE_EQ(level_to_value(Op::Rotate, 0.5, 32, 32), 15.0);
  EXPECT_DOUBLE_EQ(level_to_value(Op::Solarize, 1.0, 32, 32), 256.0);
  EXPECT_DOUBLE_EQ(level_to_value(Op::Posterize, 0.0, 32, 32), 4.0);
  EXPECT_DOUBLE_EQ(level_to_value(Op::Posterize, 1.0, 32, 32), 8.0);
  EXPECT_DOUBLE_EQ(level_to_value(Op::Contrast, 0.0, 32, 32), 0.1);
  EXPECT_DOUBLE_EQ(level_to_value(Op::Sharpness, 1.0, 32, 32), 1.9);
  EXPECT_DOUBLE_EQ(level_to_value(Op::Cutout, 1.0, 32, 40), 6.4);
  EXPECT_THROWS_WITH(level_to_value(Op::Rotate, 1.5, 32, 32), "Rotate: level 1.5 is out of range; expected [0, 1]");
}

TEST(Ops, SolarizeAt256LeavesTheImageUnchanged) {
  const auto images = test_images(4, 3, 16, 16, 7);
  EXPECT_TRUE(torch::equal(apply_op(Op::Solarize, images, torch::full({4}, 256.0, torch::kDouble)), images));
}

TEST(Ops, MaskAppliesToSelectedImagesOnly) {
  const auto images = test_images(5, 3, 16, 16, 3);
  const auto values = torch::tensor({10.0, 20.0, 30.0, 40.0, 50.0}, torch::kDouble);
  const auto mask = torch::tensor({true, false, true, false, false});
  const auto out = apply_op(Op::Rotate, images, values, mask);
  const auto full = apply_op(Op::Rotate, images, values);
  for (int64_t i = 0; i < 5; ++i) {
    EXPECT_TRUE(torch::equal(out[i], mask[i].item<bool>() ? full[i] : images[i])) << "image " << i;
  }
}

TEST(Ops, FloatImagesAgreeWithUint8WithinTwoLevels) {
  // Float images skip torchvision's uint8 truncations: of the result (< 1
  // level) and, for Contrast, Color and Sharpness, of the grayscale or
  // smoothed image blended in (< 1 level times |1 − factor| <= 0.9). So the
  // two paths differ by less than 2 grey levels.
  const auto images = test_images(4, 3, 20, 20, 11);
  for (const auto& row : op_table()) {
    if (row.op == Op::Cutout) continue;
    const auto values = torch::full({4}, parity_values(row.op).front(), torch::kDouble);
    const auto u8 = apply_op(row.op, images, values).to(torch::kFloat);
    const auto f = apply_op(row.op, images.to(torch::kFloat) / 255.0, values) * 255.0;
    EXPECT_LE((u8 - f).abs().max().item<float>(), 2.0f) << row.name;
  }
}

TEST(Ops, CutoutFillsAClippedSquareWithTheFill) {
  const int64_t n = 64;
  const auto images = torch::full({n, 3, 32, 32}, 200, torch::kByte);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
  OpContext context{&generator, {10.0, 20.0, 30.0}};
  const auto out = apply_op(Op::Cutout, images, torch::full({n}, 16.0, torch::kDouble), {}, context);
  bool some_clipped = false;
  for (int64_t i = 0; i < n; ++i) {
    const auto changed = out[i][0].ne(200);
    const auto rows = changed.any(1).nonzero().view(-1);
    const auto cols = changed.any(0).nonzero().view(-1);
    ASSERT_GT(rows.numel(), 0);
    // A full rectangle: every pixel inside the bounding box changed.
    EXPECT_EQ(changed.sum().item<int64_t>(), rows.numel() * cols.numel());
    EXPECT_LE(rows.numel(), 16);
    EXPECT_LE(cols.numel(), 16);
    some_clipped = some_clipped || rows.numel() < 16 || cols.numel() < 16;
    EXPECT_TRUE(out[i][1].masked_select(changed).eq(20).all().item<bool>());
    EXPECT_TRUE(out[i][2].masked_select(changed).eq(30).all().item<bool>());
  }
  EXPECT_TRUE(some_clipped);
  auto again = at::make_generator<at::CPUGeneratorImpl>(5);
  OpContext same{&again, {10.0, 20.0, 30.0}};
  EXPECT_TRUE(torch::equal(apply_op(Op::Cutout, images, torch::full({n}, 16.0, torch::kDouble), {}, same), out));
}

TEST(Ops, BadInputsFailWithTheValue) {
  const auto images = test_images(2, 3, 8, 8, 1);
  EXPECT_THROWS_WITH(apply_op(Op::Posterize, images, torch::tensor({4.0, 9.0}, torch::kDouble)),
                     "Posterize: value 9 for image 1 is out of range; expected bits in [0, 8]");
  EXPECT_THROWS_WITH(apply_op(Op::Contrast, images, torch::tensor({-1.0, 1.0}, torch::kDouble)),
                     "Contrast: value -1 for image 0 is out of range; expected a factor >= 0");
  EXPECT_THROWS_WITH(apply_op(Op::Rotate, images, torch::tensor({1.0}, torch::kDouble)),
                     "Rotate: values of shape [1]; expected [2]");
  EXPECT_THROWS_WITH(apply_op(Op::Invert, torch::zeros({2, 4, 8, 8}, torch::kByte), torch::zeros({2}, torch::kDouble)),
                     "Invert: 4 channels; expected 1 or 3");
}

TEST(Ops, SlotRunsEachImagesOwnOp) {
  const auto images = test_images(4, 3, 16, 16, 9);
  const auto ops = torch::tensor({static_cast<int64_t>(Op::Invert), static_cast<int64_t>(Op::Rotate),
                                  static_cast<int64_t>(Op::Invert), static_cast<int64_t>(Op::Identity)});
  const auto values = torch::tensor({0.0, 20.0, 0.0, 0.0}, torch::kDouble);
  const auto applied = torch::tensor({true, true, false, true});
  const auto out = apply_slot(images, ops, values, applied);
  EXPECT_TRUE(torch::equal(out[0], 255 - images[0]));
  EXPECT_TRUE(torch::equal(out[1], apply_op(Op::Rotate, images.narrow(0, 1, 1), values.narrow(0, 1, 1))[0]));
  EXPECT_TRUE(torch::equal(out[2], images[2]));
  EXPECT_TRUE(torch::equal(out[3], images[3]));
}

}  // namespace
}  // namespace daas::augment
