// Geometric ops and Cutout. The affine ops follow torchvision 0.14's tensor
// path (functional.affine / functional.rotate -> _get_inverse_affine_matrix ->
// functional_tensor._gen_affine_grid -> grid_sample, nearest, zeros padding)
// step by step and in the same precision: the inverse matrix in double, the
// grid in float32 from the same linspace and the same batched product. That is
// what makes nearest sampling pick the same source pixel when a coordinate
// falls on a half-pixel; any other order of float operations differs there.
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "daas/core/error.h"
#include "kernels.h"

namespace daas::augment::kernels {
namespace {

constexpr double kPi = 3.14159265358979323846;
// Python's math.radians / math.degrees multiply by these constants.
constexpr double kDegToRad = kPi / 180.0;
constexpr double kRadToDeg = 180.0 / kPi;

using Matrix = std::array<double, 6>;

/// torchvision.transforms.functional._get_inverse_affine_matrix with scale 1:
/// the matrix that maps output pixel coordinates (origin at the image centre)
/// to input coordinates. Same expressions in the same order, so the same
/// doubles come out.
Matrix inverse_affine(double cx, double cy, double angle, double tx, double ty, double shear_x_deg,
                      double shear_y_deg) {
  const double rot = angle * kDegToRad;
  const double sx = shear_x_deg * kDegToRad;
  const double sy = shear_y_deg * kDegToRad;
  const double a = std::cos(rot - sy) / std::cos(sy);
  const double b = -std::cos(rot - sy) * std::tan(sx) / std::cos(sy) - std::sin(rot);
  const double c = std::sin(rot - sy) / std::cos(sy);
  const double d = -std::sin(rot - sy) * std::tan(sx) / std::cos(sy) + std::cos(rot);
  Matrix m = {d, -b, 0.0, -c, a, 0.0};
  m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
  m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
  m[2] += cx;
  m[5] += cy;
  return m;
}

/// Warps every image by its own inverse matrix through one batched grid.
torch::Tensor warp(const torch::Tensor& images, const std::vector<Matrix>& matrices) {
  const int64_t n = images.size(0);
  const int64_t h = images.size(2);
  const int64_t w = images.size(3);
  const auto dtype = images.is_floating_point() ? images.scalar_type() : torch::kFloat;
  const auto options = torch::TensorOptions().dtype(dtype).device(images.device());

  auto theta_cpu = torch::empty({n, 2, 3}, torch::kDouble);
  auto* t = theta_cpu.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 6; ++k) t[i * 6 + k] = matrices[static_cast<size_t>(i)][static_cast<size_t>(k)];
  }
  // torch.tensor(matrix, dtype=float32): each double rounded to float.
  const auto theta = theta_cpu.to(dtype).to(images.device());

  // functional_tensor._gen_affine_grid: pixel centres in a frame centred on
  // the image, times theta, normalised by half the input size.
  constexpr double d = 0.5;
  auto base = torch::empty({1, h, w, 3}, options);
  base.select(3, 0).copy_(torch::linspace(-w * 0.5 + d, w * 0.5 + d - 1, w, options));
  base.select(3, 1).copy_(torch::linspace(-h * 0.5 + d, h * 0.5 + d - 1, h, options).unsqueeze(-1));
  base.select(3, 2).fill_(1);
  const auto half_size = torch::tensor({0.5 * static_cast<double>(w), 0.5 * static_cast<double>(h)}, options);
  const auto rescaled = theta.transpose(1, 2) / half_size;
  const auto grid = base.view({1, h * w, 3}).expand({n, h * w, 3}).bmm(rescaled).view({n, h, w, 2});

  const auto input = images.is_floating_point() ? images : images.to(dtype);
  auto out = torch::grid_sampler(input, grid, /*interpolation_mode=nearest*/ 1, /*padding_mode=zeros*/ 0,
                                 /*align_corners=*/false);
  if (images.is_floating_point()) return out;
  return out.round().to(images.scalar_type());
}

std::vector<double> to_vector(const torch::Tensor& values) {
  const auto v = values.to(torch::kDouble).contiguous();
  return std::vector<double>(v.data_ptr<double>(), v.data_ptr<double>() + v.numel());
}

/// AutoAugment's shear: F.affine about the top-left corner (center=[0, 0]),
/// shear angle degrees(atan(value)) so that the pixel shift is value·row.
torch::Tensor shear(const torch::Tensor& images, const torch::Tensor& values, bool along_x) {
  check_values(along_x ? "ShearX" : "ShearY", values, -1e6, 1e6, "a finite shear factor");
  const double cx = -static_cast<double>(images.size(3)) * 0.5;
  const double cy = -static_cast<double>(images.size(2)) * 0.5;
  std::vector<Matrix> matrices;
  for (double v : to_vector(values)) {
    const double degrees = std::atan(v) * kRadToDeg;
    matrices.push_back(along_x ? inverse_affine(cx, cy, 0.0, 0.0, 0.0, degrees, 0.0)
                               : inverse_affine(cx, cy, 0.0, 0.0, 0.0, 0.0, degrees));
  }
  return warp(images, matrices);
}

/// AutoAugment's translate: F.affine(translate=[int(value), 0]), about the centre.
torch::Tensor translate(const torch::Tensor& images, const torch::Tensor& values, bool along_x) {
  check_values(along_x ? "TranslateX" : "TranslateY", values, -1e6, 1e6, "a finite shift in pixels");
  std::vector<Matrix> matrices;
  for (double v : to_vector(values)) {
    const double shift = std::trunc(v);  // Python int(): toward zero
    matrices.push_back(along_x ? inverse_affine(0.0, 0.0, 0.0, shift, 0.0, 0.0, 0.0)
                               : inverse_affine(0.0, 0.0, 0.0, 0.0, shift, 0.0, 0.0));
  }
  return warp(images, matrices);
}

}  // namespace

torch::Tensor shear_x(const torch::Tensor& images, const torch::Tensor& values, const OpContext&) {
  return shear(images, values, true);
}
torch::Tensor shear_y(const torch::Tensor& images, const torch::Tensor& values, const OpContext&) {
  return shear(images, values, false);
}
torch::Tensor translate_x(const torch::Tensor& images, const torch::Tensor& values, const OpContext&) {
  return translate(images, values, true);
}
torch::Tensor translate_y(const torch::Tensor& images, const torch::Tensor& values, const OpContext&) {
  return translate(images, values, false);
}

/// F.rotate(img, value): counter-clockwise about the centre; rotate() passes
/// -angle to the inverse-matrix helper.
torch::Tensor rotate(const torch::Tensor& images, const torch::Tensor& values, const OpContext&) {
  check_values("Rotate", values, -1e6, 1e6, "a finite angle in degrees");
  std::vector<Matrix> matrices;
  for (double v : to_vector(values)) matrices.push_back(inverse_affine(0.0, 0.0, -v, 0.0, 0.0, 0.0, 0.0));
  return warp(images, matrices);
}

/// Cutout (DeVries & Taylor 2017): a square of side trunc(value) centred on a
/// uniformly drawn pixel, clipped at the borders, set to the fill colour.
torch::Tensor cutout(const torch::Tensor& images, const torch::Tensor& values, const OpContext& context) {
  check_values("Cutout", values, 0, 1e6, "a side in pixels >= 0");
  const int64_t n = images.size(0);
  const int64_t c = images.size(1);
  const int64_t h = images.size(2);
  const int64_t w = images.size(3);
  core::check(context.fill.empty() || static_cast<int64_t>(context.fill.size()) == c,
              "Cutout: {} fill values for {}-channel images; expected one per channel", context.fill.size(), c);
  c10::optional<at::Generator> generator;
  if (context.generator != nullptr) generator = *context.generator;
  const auto cy = torch::randint(h, {n}, generator, torch::kLong);
  const auto cx = torch::randint(w, {n}, generator, torch::kLong);
  const auto side = values.to(torch::kDouble).trunc().to(torch::kLong);
  const auto y0 = (cy - torch::div(side, 2, "floor")).clamp(0, h);
  const auto y1 = (cy - torch::div(side, 2, "floor") + side).clamp(0, h);
  const auto x0 = (cx - torch::div(side, 2, "floor")).clamp(0, w);
  const auto x1 = (cx - torch::div(side, 2, "floor") + side).clamp(0, w);

  const auto dev = images.device();
  const auto rows = torch::arange(h, torch::TensorOptions().dtype(torch::kLong).device(dev)).view({1, 1, h, 1});
  const auto cols = torch::arange(w, torch::TensorOptions().dtype(torch::kLong).device(dev)).view({1, 1, 1, w});
  const auto box = (rows >= y0.to(dev).view({n, 1, 1, 1})) & (rows < y1.to(dev).view({n, 1, 1, 1})) &
                   (cols >= x0.to(dev).view({n, 1, 1, 1})) & (cols < x1.to(dev).view({n, 1, 1, 1}));
  std::vector<double> fill = context.fill.empty() ? std::vector<double>(static_cast<size_t>(c), 0.0) : context.fill;
  if (!images.is_floating_point()) {
    for (auto& f : fill) f = std::round(std::clamp(f, 0.0, 255.0));
  }
  // A black fill (the normalised mean) is one multiply by the kept area,
  // several times faster than torch::where.
  if (std::all_of(fill.begin(), fill.end(), [](double f) { return f == 0.0; })) return images * box.logical_not();
  const auto fill_tensor = torch::tensor(fill, torch::kDouble).to(images.scalar_type()).to(dev).view({1, c, 1, 1});
  return torch::where(box, fill_tensor, images);
}

}  // namespace daas::augment::kernels
