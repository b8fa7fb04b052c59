// Pixel-value ops. Each follows torchvision 0.14's functional_tensor kernel of
// the same name with the same float32 operations in the same order (e.g.
// _blend truncates, autocontrast multiplies by a reciprocal), so uint8 results
// agree pixel for pixel; only the per-image factor is a tensor instead of a
// Python float.
#include <torch/torch.h>

#include <cmath>

#include "daas/core/error.h"
#include "kernels.h"

namespace daas::augment::kernels {
namespace {

double bound_of(const torch::Tensor& images) { return images.is_floating_point() ? 1.0 : 255.0; }

/// bound − images in the images' dtype (an integer scalar keeps uint8 uint8).
torch::Tensor inverted(const torch::Tensor& images) {
  return images.is_floating_point() ? torch::rsub(images, 1.0) : torch::rsub(images, 255);
}

torch::ScalarType work_type(const torch::Tensor& images) {
  return images.is_floating_point() ? images.scalar_type() : torch::kFloat;
}

/// Per-image values as [N, 1, 1, 1] in the working float type on the images' device.
torch::Tensor per_image(const torch::Tensor& values, const torch::Tensor& images) {
  return values.to(work_type(images)).to(images.device()).view({-1, 1, 1, 1});
}

/// functional_tensor._blend: ratio·img1 + (1 − ratio)·img2, clamped, cast
/// back (truncating for uint8). `other` is already in the working float type.
/// (1 − ratio) is formed in double, as Python does, then rounded to float.
torch::Tensor blend(const torch::Tensor& images, const torch::Tensor& other, const torch::Tensor& values) {
  const auto ratio = per_image(values, images);
  const auto rest = per_image(1.0 - values.to(torch::kDouble), images);
  const auto mixed = ratio * images.to(work_type(images)) + rest * other;
  return mixed.clamp(0, bound_of(images)).to(images.scalar_type());
}

/// functional_tensor.rgb_to_grayscale (ITU-R 601-2 luma, truncated for uint8),
/// [N, 1, H, W] in the images' dtype.
torch::Tensor grayscale(const torch::Tensor& images) {
  if (images.size(1) == 1) return images;
  const auto f = images.to(work_type(images));
  const auto gray = f.select(1, 0) * 0.2989 + f.select(1, 1) * 0.587 + f.select(1, 2) * 0.114;
  return gray.to(images.scalar_type()).unsqueeze(1);
}

/// Runs a uint8-only kernel on float images in [0, 1] by quantising to 8 bits.
template <typename Fn>
torch::Tensor via_uint8(const torch::Tensor& images, Fn fn) {
  if (!images.is_floating_point()) return fn(images);
  const auto quantised = (images * 255.0).round().clamp(0, 255).to(torch::kByte);
  return fn(quantised).to(images.scalar_type()) / 255.0;
}

}  // namespace

void check_values(const char* op, const torch::Tensor& values, double low, double high, const char* expected) {
  const auto v = values.to(torch::kDouble).contiguous();
  const double* data = v.data_ptr<double>();
  for (int64_t i = 0; i < v.numel(); ++i) {
    if (!std::isfinite(data[i]) || data[i] < low || data[i] > high) {
      core::fail("{}: value {} for image {} is out of range; expected {}", op, data[i], i, expected);
    }
  }
}

torch::Tensor identity(const torch::Tensor& images, const torch::Tensor&, const OpContext&) { return images; }

/// functional_tensor.invert: bound − img.
torch::Tensor invert(const torch::Tensor& images, const torch::Tensor&, const OpContext&) { return inverted(images); }

/// functional_tensor.autocontrast: per image and channel, stretch [min, max]
/// to [0, bound]; flat channels are left as they are.
torch::Tensor auto_contrast(const torch::Tensor& images, const torch::Tensor&, const OpContext&) {
  const auto type = work_type(images);
  auto minimum = images.amin({2, 3}, /*keepdim=*/true).to(type);
  const auto maximum = images.amax({2, 3}, /*keepdim=*/true).to(type);
  // `bound / (max − min)` on a tensor is Tensor.__rdiv__: reciprocal() * bound.
  auto scale = (maximum - minimum).reciprocal() * bound_of(images);
  const auto flat = torch::isfinite(scale).logical_not();
  minimum = minimum.masked_fill(flat, 0);
  scale = scale.masked_fill(flat, 1);
  return ((images.to(type) - minimum) * scale).clamp(0, bound_of(images)).to(images.scalar_type());
}

/// functional_tensor.equalize / _scale_channel, per image and channel: the
/// PIL ImageOps.equalize lookup table built from the 256-bin histogram.
torch::Tensor equalize(const torch::Tensor& images, const torch::Tensor&, const OpContext&) {
  return via_uint8(images, [](const torch::Tensor& u8) {
    const int64_t n = u8.size(0), c = u8.size(1), h = u8.size(2), w = u8.size(3);
    const auto pixels = u8.reshape({n * c, h * w}).to(torch::kLong);
    auto hist = torch::zeros({n * c, 256}, pixels.options());
    hist.scatter_add_(1, pixels, torch::ones_like(pixels));
    // Sum of the histogram without its last non-zero bin (the brightest value).
    const auto brightest = pixels.amax(1, /*keepdim=*/true);
    const auto step = torch::div(h * w - hist.gather(1, brightest), 255, "floor");
    auto lut = torch::div(hist.cumsum(1) + torch::div(step, 2, "floor"), step.clamp_min(1), "floor");
    lut = torch::cat({torch::zeros({n * c, 1}, lut.options()), lut.narrow(1, 0, 255)}, 1).clamp(0, 255);
    // A channel with step 0 is left as it is: give it the identity table
    // (choosing per table is much cheaper than per pixel).
    const auto identity = torch::arange(256, lut.options()).view({1, 256});
    lut = torch::where(step == 0, identity, lut);
    const auto mapped = lut.gather(1, pixels);
    return mapped.to(torch::kByte).view({n, c, h, w});
  });
}

/// functional_tensor.solarize: invert pixels at or above the threshold (given
/// on the 0..255 scale; 256 leaves the image unchanged, as PIL does).
torch::Tensor solarize(const torch::Tensor& images, const torch::Tensor& values, const OpContext&) {
  check_values("Solarize", values, -1e6, 1e6, "a finite threshold on the 0..255 scale");
  if (images.is_floating_point()) {
    const auto threshold = per_image(values, images) / 255.0;
    return torch::where(images >= threshold, inverted(images), images);
  }
  // torchvision compares the pixel with the threshold in float32; for an
  // integer pixel p, p >= t exactly when p >= ceil(t). Then 255 − p = p XOR
  // 255, four cheap uint8 passes instead of torch::where's one slow one.
  const auto first = values.to(torch::kFloat).ceil().clamp(0, 256).to(torch::kLong);
  const auto dev = images.device();
  const auto bar = first.clamp_max(255).to(torch::kByte).to(dev).view({-1, 1, 1, 1});
  const auto allow = (first <= 255).to(torch::kByte).mul(255).to(dev).view({-1, 1, 1, 1});
  return images.bitwise_xor(images.ge(bar).to(torch::kByte).neg_().bitwise_and_(allow));
}

/// functional_tensor.posterize: keep the top trunc(value) bits.
torch::Tensor posterize(const torch::Tensor& images, const torch::Tensor& values, const OpContext&) {
  check_values("Posterize", values, 0, 8.999999, "bits in [0, 8]");
  const auto bits = values.to(torch::kDouble).trunc().to(torch::kLong);
  const auto masks = (torch::bitwise_left_shift(torch::full_like(bits, 0xFF), 8 - bits) & 0xFF).to(torch::kByte);
  return via_uint8(images, [&](const torch::Tensor& u8) {
    return torch::bitwise_and(u8, masks.to(u8.device()).view({-1, 1, 1, 1}));
  });
}

/// functional_tensor.adjust_contrast: blend with the mean of the grayscale image.
torch::Tensor contrast(const torch::Tensor& images, const torch::Tensor& values, const OpContext&) {
  check_values("Contrast", values, 0, 1e6, "a factor >= 0");
  const auto mean = grayscale(images).to(work_type(images)).mean({1, 2, 3}, /*keepdim=*/true);
  return blend(images, mean, values);
}

/// functional_tensor.adjust_saturation (AutoAugment's Color): blend with the
/// grayscale image; grayscale inputs are returned unchanged, as PIL does.
torch::Tensor color(const torch::Tensor& images, const torch::Tensor& values, const OpContext&) {
  check_values("Color", values, 0, 1e6, "a factor >= 0");
  if (images.size(1) == 1) return images;
  return blend(images, grayscale(images).to(work_type(images)), values);
}

/// functional_tensor.adjust_brightness: blend with black.
torch::Tensor brightness(const torch::Tensor& images, const torch::Tensor& values, const OpContext&) {
  check_values("Brightness", values, 0, 1e6, "a factor >= 0");
  // The black image contributes (1 − ratio)·0 = ±0, which changes no sum.
  const auto ratio = per_image(values, images);
  return (ratio * images.to(work_type(images))).clamp(0, bound_of(images)).to(images.scalar_type());
}

/// functional_tensor.adjust_sharpness: blend with the image smoothed by PIL's
/// SMOOTH kernel [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13, border pixels kept.
torch::Tensor sharpness(const torch::Tensor& images, const torch::Tensor& values, const OpContext&) {
  check_values("Sharpness", values, 0, 1e6, "a factor >= 0");
  const int64_t h = images.size(2), w = images.size(3);
  if (h <= 2 || w <= 2) return images;
  const auto type = work_type(images);
  // S = 3×3 box sum + 4·centre, by separable shifted sums (exact integers in
  // float32 for uint8 input; several times faster than a depthwise conv2d).
  // S / 13 is never within 1/26 of a half-integer, so rounding it equals
  // torchvision's rounding of its float convolution with kernel / 13.
  const auto f = images.to(type);
  const auto rows = f.narrow(3, 0, w - 2) + f.narrow(3, 1, w - 2) + f.narrow(3, 2, w - 2);
  const auto centre = f.narrow(2, 1, h - 2).narrow(3, 1, w - 2);
  auto smooth = (rows.narrow(2, 0, h - 2) + rows.narrow(2, 1, h - 2) + rows.narrow(2, 2, h - 2) + centre * 4) / 13.0;
  if (!images.is_floating_point()) smooth = smooth.round();
  auto degenerate = f.clone();
  degenerate.narrow(2, 1, h - 2).narrow(3, 1, w - 2).copy_(smooth);
  return blend(images, degenerate, values);
}

}  // namespace daas::augment::kernels
