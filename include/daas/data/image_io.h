#pragma once
// PNG (libpng) and JPEG (libjpeg-turbo) decoding and PNG encoding.
#include <torch/types.h>

#include <cstdint>
#include <string>

namespace daas::data {

/// Largest image read_image decodes: 16384 per side and 64 megapixels
/// (192 MiB as RGB); checked against the file's header before decoding.
constexpr uint64_t kMaxImageSide = 16384;
constexpr uint64_t kMaxImagePixels = uint64_t{1} << 26;

/// Decodes a PNG or JPEG file (by its signature) into uint8 [C, H, W].
/// `channels`: 0 = as stored (1 for a gray image, 3 for colour), 1 = gray
/// (ITU-R 601 luma, as PIL's convert("L")), 3 = RGB (gray replicated).
/// `background`: an image with an alpha channel or a transparent colour is
/// composited on "white" or "black" (PNG's stored colours are blended in
/// sRGB, as PIL's alpha_composite does), or with "error" refused unless
/// every pixel is opaque. Fails naming the file if it cannot decode it.
torch::Tensor read_image(const std::string& path, int64_t channels, const std::string& background = "white");

/// uint8 [C, H, W] with C = 1 or 3 converted to `channels` (1 or 3).
torch::Tensor convert_channels(const torch::Tensor& image, int64_t channels);

/// uint8 [C, H, W] brought to height×width. "crop": scaled (bilinear,
/// antialiased) until it covers height×width, then the centre cut out (for a
/// square: the shorter side to the size, torchvision's Resize(size) +
/// CenterCrop(size)); "stretch": each side scaled to its size. An image of
/// that size already is returned as it is.
torch::Tensor resize_image(const torch::Tensor& image, int64_t height, int64_t width, const std::string& mode);

/// The PNG file of uint8 [C, H, W] (C = 1 or 3), as bytes; `what` names the
/// image in messages.
std::string encode_png(const torch::Tensor& image, const std::string& what);

/// Writes uint8 [C, H, W] (C = 1 or 3) as PNG, atomically.
void write_png(const std::string& path, const torch::Tensor& image);

}  // namespace daas::data
