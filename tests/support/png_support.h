#pragma once
// Writing test images in the PNG layouts a user's files come in (gray with
// alpha, RGBA, ...), which daas's own write_png does not produce.
#include <gtest/gtest.h>
#include <png.h>
#include <torch/torch.h>

#include <cstring>
#include <string>

namespace daas::testing {

/// Writes uint8 [H, W, K] pixels as a PNG of libpng's `format`.
inline void write_png_with(const std::string& path, const torch::Tensor& pixels, png_uint_32 format) {
  png_image info;
  std::memset(&info, 0, sizeof info);
  info.version = PNG_IMAGE_VERSION;
  info.width = static_cast<png_uint_32>(pixels.size(1));
  info.height = static_cast<png_uint_32>(pixels.size(0));
  info.format = format;
  const auto data = pixels.contiguous();
  ASSERT_TRUE(png_image_write_to_file(&info, path.c_str(), 0, data.data_ptr<uint8_t>(), 0, nullptr)) << info.message;
}

}  // namespace daas::testing
