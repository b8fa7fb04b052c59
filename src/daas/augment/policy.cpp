// The fixed policies. Each draws its per-image choices from the generator on
// the CPU and hands them to apply_slot, which runs every op once per slot on
// the images that drew it.
#include "daas/augment/policy.h"

#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <mutex>

#include "daas/core/error.h"
#include "daas/data/dataset.h"

namespace daas::augment {
namespace {

/// Runs one slot of a sub-policy policy over the batch. Per image it draws a
/// uniform number (for the application probability) and a coin (for
/// mirroring), in that order for the whole batch, and asks
/// `choose(i, uniform, mirror)` what image i does.
template <typename Choose>
torch::Tensor apply_drawn_slot(const torch::Tensor& images, at::Generator& generator, const OpContext& context,
                               Choose choose) {
  const int64_t n = images.size(0);
  const auto draw = torch::rand({n}, generator, torch::kDouble);
  const auto coin = torch::randint(2, {n}, generator, torch::kLong);
  const auto* d = draw.data_ptr<double>();
  const auto* s = coin.data_ptr<int64_t>();
  return apply_chosen_slot(images, context, [&](int64_t i) { return choose(i, d[i], s[i] == 0); });
}

// ---------------------------------------------------------------- none

class NonePolicy : public Policy {
 public:
  torch::Tensor apply(const torch::Tensor& images, at::Generator&) const override { return images; }
  std::string name() const override { return "none"; }
};

// ---------------------------------------------------------------- standard

/// The CIFAR baseline (He et al. 2016; DARTS's train transform): zero-pad,
/// crop back to size at a random offset, flip horizontally with p = 0.5.
class StandardPolicy : public Policy {
 public:
  StandardPolicy(int64_t padding, bool flip) : padding_(padding), flip_(flip) {
    core::check(padding_ >= 0, "standard policy: crop padding {}; expected >= 0", padding_);
  }
  std::string name() const override { return "standard"; }

  torch::Tensor apply(const torch::Tensor& images, at::Generator& generator) const override {
    check_images(images, "standard policy");
    const int64_t n = images.size(0), h = images.size(2), w = images.size(3);
    const auto dev = images.device();
    // One gather does crop and flip: output pixel (y, x) of image i reads
    // padded pixel (dy_i + y, dx_i + x), or (dy_i + y, dx_i + W − 1 − x) when
    // flipped (5× faster than advanced indexing plus torch::where).
    const int64_t pad = padding_;
    const auto long_options = torch::TensorOptions().dtype(torch::kLong);
    const auto dy = pad > 0 ? torch::randint(2 * pad + 1, {n, 1, 1}, generator, long_options)
                            : torch::zeros({n, 1, 1}, long_options);
    const auto dx = pad > 0 ? torch::randint(2 * pad + 1, {n, 1, 1}, generator, long_options)
                            : torch::zeros({n, 1, 1}, long_options);
    const auto flip =
        flip_ ? torch::rand({n, 1, 1}, generator, torch::kDouble) < 0.5 : torch::zeros({n, 1, 1}, torch::kBool);
    const auto y = torch::arange(h, long_options).view({1, h, 1});
    const auto x = torch::arange(w, long_options).view({1, 1, w});
    const auto cols = dx + torch::where(flip, (w - 1) - x, x);
    const int64_t pw = w + 2 * pad;
    const auto index = ((dy + y) * pw + cols).view({n, 1, h * w}).to(dev);
    const auto padded = pad > 0 ? torch::constant_pad_nd(images, {pad, pad, pad, pad}, 0) : images.contiguous();
    const int64_t c = images.size(1);
    torch::Tensor out = padded.view({n, c, -1}).gather(2, index.expand({n, c, h * w})).view({n, c, h, w});
    return out;
  }

 private:
  int64_t padding_;
  bool flip_;
};

// ---------------------------------------------------------------- sub-policy lists

/// Fast-AutoAugment / DADA application of a list of sub-policies: one drawn
/// uniformly per image, each of its ops applied with its probability at its
/// level, signed ops mirrored with p = 0.5.
class SubPolicyListPolicy : public Policy {
 public:
  SubPolicyListPolicy(std::vector<SubPolicy> subs, std::vector<double> fill, std::string name)
      : subs_(std::move(subs)), fill_(std::move(fill)), name_(std::move(name)) {
    core::check(!subs_.empty(), "policy {}: no sub-policies", name_);
    for (const auto& sub : subs_) slots_ = std::max(slots_, sub.size());
  }
  std::string name() const override { return name_; }

  torch::Tensor apply(const torch::Tensor& images, at::Generator& generator) const override {
    check_images(images, name_.c_str());
    const int64_t n = images.size(0), h = images.size(2), w = images.size(3);
    const auto chosen = torch::randint(static_cast<int64_t>(subs_.size()), {n}, generator, torch::kLong);
    const auto context = op_context(images, fill_, &generator);
    torch::Tensor out = images;
    const auto* c = chosen.data_ptr<int64_t>();
    for (size_t j = 0; j < slots_; ++j) {
      out = apply_drawn_slot(out, generator, context, [&](int64_t i, double uniform, bool mirror) {
        const auto& sub = subs_[static_cast<size_t>(c[i])];
        const PolicyOp slot = j < sub.size() ? sub[j] : PolicyOp{};
        const double value = level_to_value(slot.op, slot.level, h, w);
        return SlotChoice{slot.op, uniform <= slot.probability, op_info(slot.op).is_signed && mirror ? -value : value};
      });
    }
    return out;
  }

 private:
  std::vector<SubPolicy> subs_;
  std::vector<double> fill_;
  std::string name_;
  size_t slots_ = 0;
};

// ---------------------------------------------------------------- torchvision's policies

/// torchvision's magnitude spaces (autoaugment.py `_augmentation_space`):
/// AutoAugment and RandAugment share one, TrivialAugmentWide has a wider one.
/// Computed with the same float32 linspace so the bins are the same numbers.
struct MagnitudeSpace {
  double shear, translate_fraction, translate_pixels, rotate, enhance, posterize_span;
};
constexpr MagnitudeSpace kStandardSpace{0.3, 150.0 / 331.0, 0.0, 30.0, 0.9, 4.0};
constexpr MagnitudeSpace kWideSpace{0.99, 0.0, 32.0, 135.0, 0.99, 6.0};

bool is_enhancement(Op op) {
  return op == Op::Contrast || op == Op::Color || op == Op::Brightness || op == Op::Sharpness;
}

/// The unsigned torchvision magnitude of `op` at `bin` of `bins`.
double torchvision_magnitude(Op op, int64_t bin, int64_t bins, int64_t h, int64_t w, const MagnitudeSpace& space) {
  auto linspace_at = [&](double high) { return torch::linspace(0.0, high, bins)[bin].item<float>(); };
  if (op == Op::ShearX || op == Op::ShearY) return linspace_at(space.shear);
  if (op == Op::TranslateX || op == Op::TranslateY) {
    const double size = static_cast<double>(op == Op::TranslateX ? w : h);
    return linspace_at(space.translate_pixels > 0 ? space.translate_pixels : space.translate_fraction * size);
  }
  if (op == Op::Rotate) return linspace_at(space.rotate);
  if (is_enhancement(op)) return linspace_at(space.enhance);
  if (op == Op::Posterize) {
    const auto steps = torch::arange(bins, torch::kLong) / ((static_cast<double>(bins) - 1) / space.posterize_span);
    return (8 - steps.round().to(torch::kInt))[bin].item<int>();
  }
  if (op == Op::Solarize) return torch::linspace(255.0, 0.0, bins)[bin].item<float>();
  return 0.0;
}

/// torchvision's _apply_op argument for magnitude m with a sign: geometric
/// ops take ±m, enhancement ops the factor 1 ± m, the others m.
double torchvision_value(Op op, double magnitude, bool negate) {
  const double m = negate ? -magnitude : magnitude;
  if (is_enhancement(op)) return 1.0 + m;
  return op_info(op).is_signed ? m : magnitude;
}

struct BinnedOp {
  Op op;
  double probability;
  int64_t bin;  // -1: no magnitude
};

/// AutoAugment (Cubuk et al. 2019), CIFAR-10 policy as torchvision lists it.
const std::vector<std::array<BinnedOp, 2>> kAutoAugmentCifar10 = {
    {{{Op::Invert, 0.1, -1}, {Op::Contrast, 0.2, 6}}},         {{{Op::Rotate, 0.7, 2}, {Op::TranslateX, 0.3, 9}}},
    {{{Op::Sharpness, 0.8, 1}, {Op::Sharpness, 0.9, 3}}},      {{{Op::ShearY, 0.5, 8}, {Op::TranslateY, 0.7, 9}}},
    {{{Op::AutoContrast, 0.5, -1}, {Op::Equalize, 0.9, -1}}},  {{{Op::ShearY, 0.2, 7}, {Op::Posterize, 0.3, 7}}},
    {{{Op::Color, 0.4, 3}, {Op::Brightness, 0.6, 7}}},         {{{Op::Sharpness, 0.3, 9}, {Op::Brightness, 0.7, 9}}},
    {{{Op::Equalize, 0.6, -1}, {Op::Equalize, 0.5, -1}}},      {{{Op::Contrast, 0.6, 7}, {Op::Sharpness, 0.6, 5}}},
    {{{Op::Color, 0.7, 7}, {Op::TranslateX, 0.5, 8}}},         {{{Op::Equalize, 0.3, -1}, {Op::AutoContrast, 0.4, -1}}},
    {{{Op::TranslateY, 0.4, 3}, {Op::Sharpness, 0.2, 6}}},     {{{Op::Brightness, 0.9, 6}, {Op::Color, 0.2, 8}}},
    {{{Op::Solarize, 0.5, 2}, {Op::Invert, 0.0, -1}}},         {{{Op::Equalize, 0.2, -1}, {Op::AutoContrast, 0.6, -1}}},
    {{{Op::Equalize, 0.2, -1}, {Op::Equalize, 0.6, -1}}},      {{{Op::Color, 0.9, 9}, {Op::Equalize, 0.6, -1}}},
    {{{Op::AutoContrast, 0.8, -1}, {Op::Solarize, 0.2, 8}}},   {{{Op::Brightness, 0.1, 3}, {Op::Color, 0.7, 0}}},
    {{{Op::Solarize, 0.4, 5}, {Op::AutoContrast, 0.9, -1}}},   {{{Op::TranslateY, 0.9, 9}, {Op::TranslateY, 0.7, 9}}},
    {{{Op::AutoContrast, 0.9, -1}, {Op::Solarize, 0.8, 3}}},   {{{Op::Equalize, 0.8, -1}, {Op::Invert, 0.1, -1}}},
    {{{Op::TranslateY, 0.7, 9}, {Op::AutoContrast, 0.9, -1}}},
};
constexpr int64_t kAutoAugmentBins = 10;

/// The ops of RandAugment and TrivialAugmentWide, in torchvision's order.
const std::vector<Op> kRandOps = {Op::Identity,  Op::ShearX,     Op::ShearY,       Op::TranslateX, Op::TranslateY,
                                  Op::Rotate,    Op::Brightness, Op::Color,        Op::Contrast,   Op::Sharpness,
                                  Op::Posterize, Op::Solarize,   Op::AutoContrast, Op::Equalize};

/// Per (op, bin) magnitude table for one image size, so per-image lookups are cheap.
std::vector<std::vector<double>> magnitude_table(int64_t bins, int64_t h, int64_t w, const MagnitudeSpace& space) {
  std::vector<std::vector<double>> table(kOpCount);
  for (int k = 0; k < kOpCount; ++k) {
    const Op op = static_cast<Op>(k);
    if (!op_info(op).has_magnitude || op == Op::Cutout) continue;
    for (int64_t b = 0; b < bins; ++b) {
      table[static_cast<size_t>(k)].push_back(torchvision_magnitude(op, b, bins, h, w, space));
    }
  }
  return table;
}

using MagnitudeTable = std::vector<std::vector<double>>;

/// magnitude_table per image size, computed once (each costs a few hundred
/// small tensor ops); shared by the prefetch thread and others, so locked.
class MagnitudeCache {
 public:
  MagnitudeCache(int64_t bins, const MagnitudeSpace& space) : bins_(bins), space_(space) {}
  const MagnitudeTable& get(int64_t h, int64_t w) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = tables_.find({h, w});
    if (found == tables_.end())
      found = tables_.emplace(std::make_pair(h, w), magnitude_table(bins_, h, w, space_)).first;
    return found->second;
  }

 private:
  int64_t bins_;
  MagnitudeSpace space_;
  mutable std::mutex mutex_;
  mutable std::map<std::pair<int64_t, int64_t>, MagnitudeTable> tables_;
};

class AutoAugmentPolicy : public Policy {
 public:
  std::string name() const override { return "autoaugment-cifar10"; }
  torch::Tensor apply(const torch::Tensor& images, at::Generator& generator) const override {
    check_images(images, "autoaugment-cifar10");
    const int64_t n = images.size(0);
    const auto& table = cache_.get(images.size(2), images.size(3));
    const auto chosen = torch::randint(static_cast<int64_t>(kAutoAugmentCifar10.size()), {n}, generator, torch::kLong);
    const auto* c = chosen.data_ptr<int64_t>();
    torch::Tensor out = images;
    for (size_t j = 0; j < 2; ++j) {
      out = apply_drawn_slot(out, generator, OpContext{}, [&](int64_t i, double uniform, bool mirror) {
        const BinnedOp& slot = kAutoAugmentCifar10[static_cast<size_t>(c[i])][j];
        SlotChoice choice{slot.op, uniform <= slot.probability};  // torchvision: probs[i] <= p
        if (slot.bin >= 0) {
          const double m = table[static_cast<size_t>(slot.op)][static_cast<size_t>(slot.bin)];
          choice.value = torchvision_value(slot.op, m, mirror);
        }
        return choice;
      });
    }
    return out;
  }

 private:
  MagnitudeCache cache_{kAutoAugmentBins, kStandardSpace};
};

/// RandAugment (Cubuk et al. 2020) and TrivialAugmentWide (Müller & Hutter
/// 2021): per image and slot one op of kRandOps uniformly, at a fixed bin
/// (RandAugment) or a uniformly drawn one (TrivialAugment, magnitude < 0).
class RandOpsPolicy : public Policy {
 public:
  RandOpsPolicy(std::string name, int64_t slots, int64_t bins, int64_t magnitude, const MagnitudeSpace& space)
      : name_(std::move(name)), slots_(slots), bins_(bins), magnitude_(magnitude), cache_(bins, space) {
    core::check(slots_ >= 1 && slots_ <= 16, "{}: {} ops per image; expected 1..16", name_, slots_);
    core::check(bins_ >= 2, "{}: {} magnitude bins; expected at least 2", name_, bins_);
    core::check(magnitude_ < bins_, "{}: magnitude {}; expected a bin in [0, {}]", name_, magnitude_, bins_ - 1);
  }
  std::string name() const override { return name_; }
  torch::Tensor apply(const torch::Tensor& images, at::Generator& generator) const override {
    check_images(images, name_.c_str());
    const int64_t n = images.size(0);
    const auto& table = cache_.get(images.size(2), images.size(3));
    torch::Tensor out = images;
    for (int64_t j = 0; j < slots_; ++j) {
      const auto pick = torch::randint(static_cast<int64_t>(kRandOps.size()), {n}, generator, torch::kLong);
      const auto bin = magnitude_ >= 0 ? torch::full({n}, magnitude_, torch::kLong)
                                       : torch::randint(bins_, {n}, generator, torch::kLong);
      const auto coin = torch::randint(2, {n}, generator, torch::kLong);
      const auto* p = pick.data_ptr<int64_t>();
      const auto* b = bin.data_ptr<int64_t>();
      const auto* s = coin.data_ptr<int64_t>();
      out = apply_chosen_slot(out, OpContext{}, [&](int64_t i) {
        SlotChoice choice{kRandOps[static_cast<size_t>(p[i])], /*applied=*/true};
        const auto& row = table[static_cast<size_t>(choice.op)];
        if (!row.empty()) choice.value = torchvision_value(choice.op, row[static_cast<size_t>(b[i])], s[i] == 1);
        return choice;
      });
    }
    return out;
  }

 private:
  std::string name_;
  int64_t slots_, bins_, magnitude_;
  MagnitudeCache cache_;
};

}  // namespace

PolicyOptions default_policy_options(const data::Dataset& data) {
  PolicyOptions options;
  options.fill = data.mean;
  const std::string& name = data.name;
  const bool symbols = name.rfind("mnist", 0) == 0 || name.rfind("kmnist", 0) == 0;
  options.flip = !symbols;
  return options;
}

std::shared_ptr<const Policy> make_sub_policy_policy(std::vector<SubPolicy> sub_policies, std::vector<double> fill,
                                                     std::string name) {
  return std::make_shared<SubPolicyListPolicy>(std::move(sub_policies), std::move(fill), std::move(name));
}

namespace {

/// One fixed policy: its name and how it is made from the options.
struct PolicyRow {
  const char* name;
  std::shared_ptr<const Policy> (*make)(const PolicyOptions& options);
};

/// The fixed policies, in the order help texts list them.
const std::vector<PolicyRow>& policy_table() {
  static const std::vector<PolicyRow> table = {
      {"none", [](const PolicyOptions&) -> std::shared_ptr<const Policy> { return std::make_shared<NonePolicy>(); }},
      {"standard",
       [](const PolicyOptions& options) -> std::shared_ptr<const Policy> {
         return std::make_shared<StandardPolicy>(options.crop_padding, options.flip);
       }},
      {"autoaugment-cifar10",
       [](const PolicyOptions&) -> std::shared_ptr<const Policy> { return std::make_shared<AutoAugmentPolicy>(); }},
      {"randaugment",
       [](const PolicyOptions& options) -> std::shared_ptr<const Policy> {
         core::check(options.randaugment_magnitude >= 0, "randaugment: magnitude {}; expected >= 0",
                     options.randaugment_magnitude);
         return std::make_shared<RandOpsPolicy>("randaugment", options.randaugment_ops, options.magnitude_bins,
                                                options.randaugment_magnitude, kStandardSpace);
       }},
      {"trivialaugment",
       [](const PolicyOptions& options) -> std::shared_ptr<const Policy> {
         return std::make_shared<RandOpsPolicy>("trivialaugment", 1, options.magnitude_bins, -1, kWideSpace);
       }},
  };
  return table;
}

constexpr const char* kFilePrefix = "file:";

}  // namespace

std::vector<std::string> policy_names() {
  std::vector<std::string> names;
  for (const auto& row : policy_table()) names.push_back(row.name);
  names.push_back(std::string(kFilePrefix) + "PATH");
  return names;
}

std::shared_ptr<const Policy> make_policy(const std::string& name, const PolicyOptions& options) {
  for (const auto& row : policy_table()) {
    if (name == row.name) return row.make(options);
  }
  if (name.rfind(kFilePrefix, 0) == 0) {
    const std::string path = name.substr(std::string(kFilePrefix).size());
    core::check(!path.empty(), "policy '{}': expected file:PATH", name);
    return make_sub_policy_policy(read_policy_file(path), options.fill, name);
  }
  core::fail("unknown augmentation policy '{}'; expected one of {}", name, fmt::join(policy_names(), ", "));
}

}  // namespace daas::augment
