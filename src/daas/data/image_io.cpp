#include "daas/data/image_io.h"

#include <jpeglib.h>
#include <png.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstring>

#include "daas/core/error.h"
#include "daas/core/files.h"

namespace daas::data {
namespace {

// Checked against the header before decoding: a few hundred bytes of PNG or
// JPEG can announce gigapixels.
void check_dimensions(const std::string& path, const char* format, uint64_t width, uint64_t height) {
  core::check(width >= 1 && height >= 1 && width <= kMaxImageSide && height <= kMaxImageSide &&
                  width * height <= kMaxImagePixels,
              "{}: {} header says {}×{} pixels; expected at most {} per side and {} pixels in all", path, format, width,
              height, kMaxImageSide, kMaxImagePixels);
}

// The image as stored, 8 bits per sample: uint8 [H, W, K] with K = 1 (gray),
// 2 (gray + alpha), 3 (RGB) or 4 (RGBA); a palette or a tRNS colour becomes
// colour or alpha, 16-bit samples become 8-bit sRGB.
torch::Tensor decode_png(const std::string& bytes, const std::string& path) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size())) {
    core::fail("{}: cannot decode PNG ({})", path, image.message);
  }
  if (image.width > kMaxImageSide || image.height > kMaxImageSide ||
      uint64_t{image.width} * image.height > kMaxImagePixels) {
    png_image_free(&image);
    check_dimensions(path, "PNG", image.width, image.height);
  }
  image.format &= PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA;
  const auto samples = static_cast<int64_t>(PNG_IMAGE_SAMPLE_CHANNELS(image.format));
  auto out =
      torch::empty({static_cast<int64_t>(image.height), static_cast<int64_t>(image.width), samples}, torch::kUInt8);
  if (!png_image_finish_read(&image, nullptr, out.data_ptr<uint8_t>(), 0, nullptr)) {
    const std::string message = image.message;
    png_image_free(&image);
    core::fail("{}: cannot decode PNG ({})", path, message);
  }
  return out;
}

struct JpegError {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_jpeg_error(j_common_ptr info) {
  auto* error = reinterpret_cast<JpegError*>(info->err);
  (*info->err->format_message)(info, error->message);
  std::longjmp(error->jump, 1);
}

// libjpeg reports a truncated or corrupt stream as a warning (level -1) and
// fills the missing rows with grey; a data set must not train on those.
void on_jpeg_message(j_common_ptr info, int level) {
  if (level < 0) on_jpeg_error(info);
}

// uint8 [H, W, C]: C = `channels`, or for 0 the stored one (1 for a gray
// JPEG, else 3).
torch::Tensor decode_jpeg(const std::string& bytes, const std::string& path, int64_t channels) {
  jpeg_decompress_struct info;
  JpegError error;
  info.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = on_jpeg_error;
  error.manager.emit_message = on_jpeg_message;
  torch::Tensor out;
  if (setjmp(error.jump)) {
    jpeg_destroy_decompress(&info);
    core::fail("{}: cannot decode JPEG ({})", path, error.message);
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  jpeg_read_header(&info, TRUE);
  if (info.image_width > kMaxImageSide || info.image_height > kMaxImageSide ||
      uint64_t{info.image_width} * info.image_height > kMaxImagePixels) {
    const uint64_t width = info.image_width, height = info.image_height;
    jpeg_destroy_decompress(&info);
    check_dimensions(path, "JPEG", width, height);
  }
  const int64_t samples = channels != 0 ? channels : (info.jpeg_color_space == JCS_GRAYSCALE ? 1 : 3);
  info.out_color_space = samples == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&info);
  out = torch::empty({info.output_height, info.output_width, samples}, torch::kUInt8);
  const size_t stride = static_cast<size_t>(info.output_width) * static_cast<size_t>(samples);
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = out.data_ptr<uint8_t>() + info.output_scanline * stride;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return out;
}

// [H, W, K] with an alpha channel last (K = 2 or 4) -> [H, W, K - 1], each
// pixel blended with the background by its alpha.
torch::Tensor remove_alpha(const torch::Tensor& pixels, const std::string& path, const std::string& background) {
  const int64_t colours = pixels.size(2) - 1;
  const auto colour = pixels.narrow(2, 0, colours).to(torch::kInt32);
  const auto alpha = pixels.narrow(2, colours, 1).to(torch::kInt32);
  if (background == "error") {
    const int64_t transparent = (alpha < 255).sum().item<int64_t>();
    core::check(
        transparent == 0,
        "{}: {} of its {} pixels are not opaque (alpha below 255); expected an opaque image (image_background white "
        "or black composites it on that colour)",
        path, transparent, alpha.numel());
    return colour.to(torch::kUInt8);
  }
  const int32_t fill = background == "black" ? 0 : 255;
  // Rounded (c·a + fill·(255 − a)) / 255.
  return (colour * alpha + fill * (255 - alpha) + 127).div(255, "floor").to(torch::kUInt8);
}

}  // namespace

torch::Tensor convert_channels(const torch::Tensor& image, int64_t channels) {
  core::check(image.dim() == 3 && (image.size(0) == 1 || image.size(0) == 3) && (channels == 1 || channels == 3),
              "convert_channels: an image of {} channels to {}; expected 1 or 3 channels", image.size(0), channels);
  if (image.size(0) == channels) return image;
  if (channels == 3) return image.expand({3, image.size(1), image.size(2)}).contiguous();
  // PIL's convert("L"): L = (19595 R + 38470 G + 7471 B + 2^15) >> 16.
  const auto rgb = image.to(torch::kInt32);
  const auto luma = (rgb[0] * 19595 + rgb[1] * 38470 + rgb[2] * 7471 + 32768).div(65536, "floor");
  return luma.unsqueeze(0).to(torch::kUInt8);
}

torch::Tensor read_image(const std::string& path, int64_t channels, const std::string& background) {
  core::check(channels == 0 || channels == 1 || channels == 3,
              "{}: {} channels requested; expected 0 (as stored), 1 (gray) or 3 (RGB)", path, channels);
  core::check(background == "white" || background == "black" || background == "error",
              "{}: image background '{}'; expected white, black or error", path, background);
  const std::string bytes = core::read_file(path);
  static const unsigned char kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  torch::Tensor pixels;  // [H, W, K]
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPngSignature, 8) == 0) {
    pixels = decode_png(bytes, path);
    if (pixels.size(2) == 2 || pixels.size(2) == 4) pixels = remove_alpha(pixels, path, background);
  } else if (bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
             static_cast<unsigned char>(bytes[1]) == 0xD8 && static_cast<unsigned char>(bytes[2]) == 0xFF) {
    pixels = decode_jpeg(bytes, path, channels);
  } else {
    core::fail("{}: not a PNG or JPEG image ({} bytes, unknown signature)", path, bytes.size());
  }
  auto image = pixels.permute({2, 0, 1}).contiguous();
  return channels == 0 ? image : convert_channels(image, channels);
}

torch::Tensor resize_image(const torch::Tensor& image, int64_t height, int64_t width, const std::string& mode) {
  core::check(mode == "crop" || mode == "stretch", "image resize '{}'; expected crop or stretch", mode);
  core::check(height >= 1 && width >= 1, "resize_image: target {}×{}; expected at least 1×1", height, width);
  const int64_t h = image.size(1), w = image.size(2);
  if (h == height && w == width) return image;
  int64_t scaled_h = height, scaled_w = width;
  if (mode == "crop") {
    // The side that needs the larger scale meets its target; the other is
    // scaled alike and truncated, as torchvision computes Resize(size).
    if (static_cast<double>(height) * w >= static_cast<double>(width) * h) {
      scaled_w = std::max(width, static_cast<int64_t>(static_cast<double>(height) * w / h));
    } else {
      scaled_h = std::max(height, static_cast<int64_t>(static_cast<double>(width) * h / w));
    }
  }
  auto out = image;
  if (scaled_h != h || scaled_w != w) {
    // Bilinear with antialiasing, as PIL's resize does for photos.
    out = torch::nn::functional::interpolate(image.unsqueeze(0).to(torch::kFloat32),
                                             torch::nn::functional::InterpolateFuncOptions()
                                                 .size(std::vector<int64_t>{scaled_h, scaled_w})
                                                 .mode(torch::kBilinear)
                                                 .align_corners(false)
                                                 .antialias(true))
              .squeeze(0)
              .round_()
              .clamp_(0, 255)
              .to(torch::kUInt8);
  }
  // torchvision's center_crop: offsets round((size − crop) / 2), half to even.
  const auto top = static_cast<int64_t>(std::nearbyint(static_cast<double>(scaled_h - height) / 2.0));
  const auto left = static_cast<int64_t>(std::nearbyint(static_cast<double>(scaled_w - width) / 2.0));
  return out.narrow(1, top, height).narrow(2, left, width).contiguous();
}

std::string encode_png(const torch::Tensor& image, const std::string& what) {
  core::check(image.dim() == 3 && (image.size(0) == 1 || image.size(0) == 3) && image.scalar_type() == torch::kUInt8,
              "{}: PNG encoding expects uint8 [C, H, W] with C = 1 or 3, got {}", what, fmt::join(image.sizes(), "×"));
  const auto pixels = image.to(torch::kCPU).permute({1, 2, 0}).contiguous();
  png_image info;
  std::memset(&info, 0, sizeof info);
  info.version = PNG_IMAGE_VERSION;
  info.width = static_cast<png_uint_32>(image.size(2));
  info.height = static_cast<png_uint_32>(image.size(1));
  info.format = image.size(0) == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  // First call sizes the buffer, the second fills it.
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&info, nullptr, &size, 0, pixels.data_ptr<uint8_t>(), 0, nullptr)) {
    core::fail("{}: cannot encode PNG ({})", what, info.message);
  }
  std::string bytes(size, '\0');
  if (!png_image_write_to_memory(&info, bytes.data(), &size, 0, pixels.data_ptr<uint8_t>(), 0, nullptr)) {
    core::fail("{}: cannot encode PNG ({})", what, info.message);
  }
  bytes.resize(size);
  return bytes;
}

void write_png(const std::string& path, const torch::Tensor& image) {
  core::write_file_atomic(path, encode_png(image, path));
}

}  // namespace daas::data
