#include "daas/data/image_io.h"

#include <jpeglib.h>
#include <png.h>
#include <torch/torch.h>

#include <csetjmp>
#include <cstring>

#include "daas/core/error.h"
#include "daas/core/files.h"

namespace daas {
namespace {

// Checked against the header before decoding: a few hundred bytes of PNG or
// JPEG can announce gigapixels.
void check_dimensions(const std::string& path, const char* format, uint64_t width, uint64_t height) {
  check(width >= 1 && height >= 1 && width <= kMaxImageSide && height <= kMaxImageSide &&
            width * height <= kMaxImagePixels,
        "{}: {} header says {}×{} pixels; expected at most {} per side and {} pixels in all", path, format, width,
        height, kMaxImageSide, kMaxImagePixels);
}

torch::Tensor decode_png(const std::string& bytes, const std::string& path, int64_t channels) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size())) {
    fail("{}: cannot decode PNG ({})", path, image.message);
  }
  if (image.width > kMaxImageSide || image.height > kMaxImageSide ||
      uint64_t{image.width} * image.height > kMaxImagePixels) {
    png_image_free(&image);
    check_dimensions(path, "PNG", image.width, image.height);
  }
  image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  auto out =
      torch::empty({static_cast<int64_t>(image.height), static_cast<int64_t>(image.width), channels}, torch::kUInt8);
  if (!png_image_finish_read(&image, nullptr, out.data_ptr<uint8_t>(), 0, nullptr)) {
    const std::string message = image.message;
    png_image_free(&image);
    fail("{}: cannot decode PNG ({})", path, message);
  }
  return out.permute({2, 0, 1}).contiguous();
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

torch::Tensor decode_jpeg(const std::string& bytes, const std::string& path, int64_t channels) {
  jpeg_decompress_struct info;
  JpegError error;
  info.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = on_jpeg_error;
  error.manager.emit_message = on_jpeg_message;
  torch::Tensor out;
  if (setjmp(error.jump)) {
    jpeg_destroy_decompress(&info);
    fail("{}: cannot decode JPEG ({})", path, error.message);
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
  info.out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&info);
  out = torch::empty({info.output_height, info.output_width, channels}, torch::kUInt8);
  const size_t stride = static_cast<size_t>(info.output_width) * static_cast<size_t>(channels);
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = out.data_ptr<uint8_t>() + info.output_scanline * stride;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return out.permute({2, 0, 1}).contiguous();
}

}  // namespace

torch::Tensor read_image(const std::string& path, int64_t channels) {
  check(channels == 1 || channels == 3, "{}: {} channels requested, expected 1 or 3", path, channels);
  const std::string bytes = read_file(path);
  static const unsigned char kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPngSignature, 8) == 0) return decode_png(bytes, path, channels);
  if (bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
      static_cast<unsigned char>(bytes[1]) == 0xD8 && static_cast<unsigned char>(bytes[2]) == 0xFF) {
    return decode_jpeg(bytes, path, channels);
  }
  fail("{}: not a PNG or JPEG image ({} bytes, unknown signature)", path, bytes.size());
}

std::string encode_png(const torch::Tensor& image, const std::string& what) {
  check(image.dim() == 3 && (image.size(0) == 1 || image.size(0) == 3) && image.scalar_type() == torch::kUInt8,
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
    fail("{}: cannot encode PNG ({})", what, info.message);
  }
  std::string bytes(size, '\0');
  if (!png_image_write_to_memory(&info, bytes.data(), &size, 0, pixels.data_ptr<uint8_t>(), 0, nullptr)) {
    fail("{}: cannot encode PNG ({})", what, info.message);
  }
  bytes.resize(size);
  return bytes;
}

void write_png(const std::string& path, const torch::Tensor& image) {
  write_file_atomic(path, encode_png(image, path));
}

}  // namespace daas
