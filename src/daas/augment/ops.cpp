#include "daas/augment/ops.h"

#include <torch/torch.h>

#include <fmt/ranges.h>

#include <algorithm>

#include "daas/core/error.h"
#include "kernels.h"

namespace daas::augment {
namespace {

namespace k = kernels;

// The DADA / Fast-AutoAugment ranges (docs/method.md §3): value at level l is
// (low + (high − low)·l) · extent.
constexpr std::array<OpInfo, kOpCount> kOps = {{
    {Op::ShearX, "ShearX", 0.0, 0.3, Extent::None, true, true, &k::shear_x},
    {Op::ShearY, "ShearY", 0.0, 0.3, Extent::None, true, true, &k::shear_y},
    {Op::TranslateX, "TranslateX", 0.0, 0.45, Extent::Width, true, true, &k::translate_x},
    {Op::TranslateY, "TranslateY", 0.0, 0.45, Extent::Height, true, true, &k::translate_y},
    {Op::Rotate, "Rotate", 0.0, 30.0, Extent::None, true, true, &k::rotate},
    {Op::AutoContrast, "AutoContrast", 0.0, 0.0, Extent::None, false, false, &k::auto_contrast},
    {Op::Invert, "Invert", 0.0, 0.0, Extent::None, false, false, &k::invert},
    {Op::Equalize, "Equalize", 0.0, 0.0, Extent::None, false, false, &k::equalize},
    // 256 (level 1) leaves the image unchanged, as PIL's solarize does.
    {Op::Solarize, "Solarize", 0.0, 256.0, Extent::None, false, true, &k::solarize},
    {Op::Posterize, "Posterize", 4.0, 8.0, Extent::None, false, true, &k::posterize},
    {Op::Contrast, "Contrast", 0.1, 1.9, Extent::None, false, true, &k::contrast},
    {Op::Color, "Color", 0.1, 1.9, Extent::None, false, true, &k::color},
    {Op::Brightness, "Brightness", 0.1, 1.9, Extent::None, false, true, &k::brightness},
    {Op::Sharpness, "Sharpness", 0.1, 1.9, Extent::None, false, true, &k::sharpness},
    {Op::Cutout, "Cutout", 0.0, 0.2, Extent::Side, false, true, &k::cutout},
    {Op::Identity, "Identity", 0.0, 0.0, Extent::None, false, false, &k::identity},
}};

constexpr bool rows_in_enum_order() {
  for (int i = 0; i < kOpCount; ++i) {
    if (static_cast<int>(kOps[static_cast<size_t>(i)].op) != i) return false;
  }
  return true;
}

}  // namespace

// A missing row leaves a zero-initialised one at the end, out of order.
static_assert(rows_in_enum_order(), "one row of kOps per Op, in enum order");

const std::array<OpInfo, kOpCount>& op_table() { return kOps; }

OpContext op_context(const torch::Tensor& images, std::vector<double> fill, at::Generator* generator) {
  if (!images.is_floating_point()) {
    for (auto& f : fill) f *= 255.0;
  }
  return OpContext{generator, std::move(fill)};
}

const OpInfo& op_info(Op op) {
  const int index = static_cast<int>(op);
  core::check(index >= 0 && index < kOpCount, "op index {}: expected 0..{}", index, kOpCount - 1);
  return kOps[static_cast<size_t>(index)];
}

const char* op_name(Op op) { return op_info(op).name; }

Op op_from_name(const std::string& name) {
  std::string known;
  for (const auto& row : kOps) {
    if (name == row.name) return row.op;
    known += (known.empty() ? "" : ", ") + std::string(row.name);
  }
  core::fail("unknown augmentation op '{}'; expected one of {}", name, known);
}

double level_to_value(Op op, double level, int64_t height, int64_t width) {
  const OpInfo& row = op_info(op);
  core::check(std::isfinite(level) && level >= 0 && level <= 1, "{}: level {} is out of range; expected [0, 1]",
              row.name, level);
  double extent = 1.0;
  if (row.extent == Extent::Width) extent = static_cast<double>(width);
  if (row.extent == Extent::Height) extent = static_cast<double>(height);
  if (row.extent == Extent::Side) extent = static_cast<double>(std::min(height, width));
  return (row.low + (row.high - row.low) * level) * extent;
}

namespace {

std::string shape_text(const torch::Tensor& t) {
  if (!t.defined()) return "undefined";
  return fmt::format("[{}]", fmt::join(t.sizes(), ", "));
}

}  // namespace

void check_images(const torch::Tensor& images, const char* what) {
  core::check(images.defined() && images.dim() == 4, "{}: images of shape {}; expected [N, C, H, W]", what,
              shape_text(images));
  core::check(images.size(1) == 1 || images.size(1) == 3, "{}: {} channels; expected 1 or 3", what, images.size(1));
  core::check(images.scalar_type() == torch::kByte || images.is_floating_point(),
              "{}: images of type {}; expected uint8 or float", what, c10::toString(images.scalar_type()));
}

namespace {

void check_per_image(const char* what, const char* name, const torch::Tensor& t, int64_t n) {
  core::check(t.defined() && t.dim() == 1 && t.size(0) == n, "{}: {} of shape {}; expected [{}]", what, name,
              shape_text(t), n);
  core::check(t.device().is_cpu(), "{}: {} on {}; expected the CPU", what, name, t.device().str());
}

}  // namespace

torch::Tensor apply_op(Op op, const torch::Tensor& images, const torch::Tensor& values, const torch::Tensor& mask,
                       const OpContext& context) {
  const OpInfo& row = op_info(op);
  check_images(images, row.name);
  const int64_t n = images.size(0);
  check_per_image(row.name, "values", values, n);
  const auto v = values.to(torch::kDouble);
  if (!mask.defined()) return row.apply(images, v, context);
  check_per_image(row.name, "mask", mask, n);
  const auto selected = mask.to(torch::kBool).nonzero().view(-1);
  if (selected.numel() == n) return row.apply(images, v, context);
  auto out = images.clone();
  if (selected.numel() == 0) return out;
  const auto rows = selected.to(images.device());
  out.index_copy_(0, rows, row.apply(images.index_select(0, rows), v.index_select(0, selected), context));
  return out;
}

torch::Tensor apply_slot(const torch::Tensor& images, const torch::Tensor& ops, const torch::Tensor& values,
                         const torch::Tensor& applied, const OpContext& context) {
  check_images(images, "policy slot");
  const int64_t n = images.size(0);
  check_per_image("policy slot", "ops", ops, n);
  check_per_image("policy slot", "values", values, n);
  check_per_image("policy slot", "applied", applied, n);
  const auto op_ids = ops.to(torch::kLong).contiguous();
  const auto on = applied.to(torch::kBool).contiguous();
  const int64_t* id = op_ids.data_ptr<int64_t>();
  const bool* flag = on.data_ptr<bool>();
  // Group the images by op so each op runs once, batched, on its subset.
  std::array<std::vector<int64_t>, kOpCount> groups;
  for (int64_t i = 0; i < n; ++i) {
    core::check(id[i] >= 0 && id[i] < kOpCount, "policy slot: op index {} for image {}; expected 0..{}", id[i], i,
                kOpCount - 1);
    if (flag[i] && id[i] != static_cast<int64_t>(Op::Identity)) groups[static_cast<size_t>(id[i])].push_back(i);
  }
  torch::Tensor out = images;
  bool copied = false;
  const auto v = values.to(torch::kDouble);
  for (int k = 0; k < kOpCount; ++k) {
    const auto& group = groups[static_cast<size_t>(k)];
    if (group.empty()) continue;
    if (!copied) {
      out = images.clone();
      copied = true;
    }
    const auto index = torch::tensor(group, torch::kLong);
    const auto rows = index.to(images.device());
    const auto result =
        kOps[static_cast<size_t>(k)].apply(out.index_select(0, rows), v.index_select(0, index), context);
    out.index_copy_(0, rows, result);
  }
  return out;
}

}  // namespace daas::augment
