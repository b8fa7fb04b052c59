#pragma once
// PNG (libpng) and JPEG (libjpeg-turbo) decoding and PNG encoding.
#include <torch/types.h>

#include <cstdint>
#include <string>

namespace daas {

/// Largest image read_image decodes: 16384 per side and 64 megapixels
/// (192 MiB as RGB); checked against the file's header before decoding.
constexpr uint64_t kMaxImageSide = 16384;
constexpr uint64_t kMaxImagePixels = uint64_t{1} << 26;

/// Decodes a PNG or JPEG file (by its signature) into uint8 [C, H, W] with
/// `channels` = 1 (gray) or 3 (RGB). Fails naming the file if it cannot.
torch::Tensor read_image(const std::string& path, int64_t channels);

/// The PNG file of uint8 [C, H, W] (C = 1 or 3), as bytes; `what` names the
/// image in messages.
std::string encode_png(const torch::Tensor& image, const std::string& what);

/// Writes uint8 [C, H, W] (C = 1 or 3) as PNG, atomically.
void write_png(const std::string& path, const torch::Tensor& image);

}  // namespace daas
