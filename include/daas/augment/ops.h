#pragma once
// The augmentation op table (docs/method.md §3): every op as one row of data, name,
// level -> value range, signedness and a batched apply function, shared by the
// fixed policies, the searchable policy and the command line.
//
// Values are the arguments of torchvision.transforms.functional (0.14) as its
// AutoAugment `_apply_op` passes them: shear factor (ShearX/Y), pixels
// (TranslateX/Y, truncated toward zero), degrees counter-clockwise (Rotate),
// threshold on the 0..255 scale (Solarize), bits (Posterize, truncated),
// enhancement factor (Contrast, Color, Brightness, Sharpness; 1 = unchanged),
// square side in pixels (Cutout, truncated). The same value gives the same
// pixels as torchvision on uint8 images.
#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace daas::augment {

/// The ops. The first kSearchOpCount are the DADA / Fast-AutoAugment search
/// space in the order of docs/method.md §3; Identity is used by RandAugment and
/// TrivialAugment only.
enum class Op : int {
  ShearX,
  ShearY,
  TranslateX,
  TranslateY,
  Rotate,
  AutoContrast,
  Invert,
  Equalize,
  Solarize,
  Posterize,
  Contrast,
  Color,
  Brightness,
  Sharpness,
  Cutout,
  Identity,
  kCount
};

constexpr int kOpCount = static_cast<int>(Op::kCount);
/// The search ops come first, up to Identity.
constexpr int kSearchOpCount = static_cast<int>(Op::Identity);

/// What the level -> value map scales with.
enum class Extent { None, Width, Height, Side };

/// Settings every op receives: one signature for every row, so no caller branches on an op.
struct OpContext {
  /// Cutout's random centres; a CPU generator. Null: LibTorch's default.
  at::Generator* generator = nullptr;
  /// Cutout fill per channel in image units (0..255 for uint8 images, the
  /// normalised value for float ones); empty = 0.
  std::vector<double> fill;
};

/// The context for `images`: `fill` (per channel, in [0, 1]) in the images'
/// units (times 255 for uint8 images), and `generator` for Cutout.
OpContext op_context(const torch::Tensor& images, std::vector<double> fill, at::Generator* generator);

/// Applies one op to every image of a batch. `images`: uint8 or float
/// [N, C, H, W], C = 1 or 3, any device (float images are in [0, 1] except
/// after normalisation, where only geometric ops and Cutout make sense);
/// `values`: float64 [N] on the CPU, one value per image. Returns a new tensor.
using OpFn = torch::Tensor (*)(const torch::Tensor& images, const torch::Tensor& values, const OpContext& context);

struct OpInfo {
  Op op;
  const char* name;
  double low;      // value at level 0 (times the extent)
  double high;     // value at level 1 (times the extent)
  Extent extent;   // value = (low + (high - low) * level) * extent size
  bool is_signed;  // policies mirror the value (negate it) with probability 0.5
  bool has_magnitude;
  OpFn apply;
};

/// The table, indexed by Op.
const std::array<OpInfo, kOpCount>& op_table();
const OpInfo& op_info(Op op);
const char* op_name(Op op);

/// The op called `name` (as in op_table); fails naming the known ops.
Op op_from_name(const std::string& name);

/// The map of a level in [0, 1] to an unsigned op value (docs/method.md §3) for an image
/// of height × width: Shear 0.3·l, Translate 0.45·l·size, Rotate 30·l,
/// Solarize 256·l, Posterize 4 + 4·l, Contrast/Color/Brightness/Sharpness
/// 0.1 + 1.8·l, Cutout 0.2·l·min(height, width).
double level_to_value(Op op, double level, int64_t height, int64_t width);

/// Applies `op` to the images selected by `mask` (bool [N] on the CPU;
/// undefined = all), each with its value from `values` (float64 [N]).
torch::Tensor apply_op(Op op, const torch::Tensor& images, const torch::Tensor& values, const torch::Tensor& mask = {},
                       const OpContext& context = {});

/// One slot of a policy: image i gets op ops[i] with value values[i] when
/// applied[i]. ops int64 [N], values float64 [N], applied bool [N], all on
/// the CPU. Each op runs once on the subset of images that drew it.
torch::Tensor apply_slot(const torch::Tensor& images, const torch::Tensor& ops, const torch::Tensor& values,
                         const torch::Tensor& applied, const OpContext& context = {});

/// What one image does in one slot of a policy.
struct SlotChoice {
  Op op = Op::Identity;
  bool applied = false;
  double value = 0;
};

/// apply_slot with each image's choice given by `choose(i)` (a SlotChoice):
/// the one loop that turns per-image choices into apply_slot's tensors.
template <typename Choose>
torch::Tensor apply_chosen_slot(const torch::Tensor& images, const OpContext& context, Choose choose) {
  const int64_t n = images.size(0);
  auto ops = torch::empty({n}, torch::kLong);
  auto values = torch::empty({n}, torch::kDouble);
  auto applied = torch::empty({n}, torch::kBool);
  auto* o = ops.data_ptr<int64_t>();
  auto* v = values.data_ptr<double>();
  auto* a = applied.data_ptr<bool>();
  for (int64_t i = 0; i < n; ++i) {
    const SlotChoice choice = choose(i);
    o[i] = static_cast<int64_t>(choice.op);
    a[i] = choice.applied;
    v[i] = choice.value;
  }
  return apply_slot(images, ops, values, applied, context);
}

/// Checks an image batch: 4-d, 1 or 3 channels, uint8 or floating point.
void check_images(const torch::Tensor& images, const char* what);

}  // namespace daas::augment
