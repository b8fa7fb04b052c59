#include "daas/nas/ops.h"

#include <torch/nn/functional/pooling.h>
#include <torch/torch.h>

#include "daas/core/error.h"
#include "daas/nas/depthwise.h"

namespace daas::nas {
namespace {

namespace F = torch::nn::functional;

torch::nn::Conv2d conv(int64_t C_in, int64_t C_out, int64_t kernel, int64_t stride = 1, int64_t padding = 0,
                       int64_t dilation = 1, int64_t groups = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(C_in, C_out, kernel)
                               .stride(stride)
                               .padding(padding)
                               .dilation(dilation)
                               .groups(groups)
                               .bias(false));
}

BatchNorm batch_norm(int64_t C, bool affine) { return BatchNorm(torch::nn::BatchNormOptions(C).affine(affine)); }

void check_same_channels(const char* op, const OpSettings& s) {
  core::check(s.C_in == s.C_out, "op {}: C_in {} and C_out {} differ; expected equal channels", op, s.C_in, s.C_out);
}

void check_stride(const char* op, const OpSettings& s) {
  core::check(s.stride == 1 || s.stride == 2, "op {}: stride {}; expected 1 or 2", op, s.stride);
}

// The factories: DARTS OPS[name](C, stride, affine), widened to C_in/C_out.
Op make_none(const OpSettings& s) { return std::make_shared<Zero>(s.stride); }
Op make_max_pool(const OpSettings& s) {
  check_same_channels("max_pool_3x3", s);
  return std::make_shared<Pool>(/*max=*/true, s.C_in, s.stride, /*with_bn=*/s.search);
}
Op make_avg_pool(const OpSettings& s) {
  check_same_channels("avg_pool_3x3", s);
  return std::make_shared<Pool>(/*max=*/false, s.C_in, s.stride, /*with_bn=*/s.search);
}
Op make_skip(const OpSettings& s) {
  if (s.stride == 1) {
    check_same_channels("skip_connect", s);
    return std::make_shared<Identity>();
  }
  return std::make_shared<FactorizedReduce>(s.C_in, s.C_out, s.affine);
}
Op make_sep3(const OpSettings& s) {
  return std::make_shared<SepConv>(s.C_in, s.C_out, /*kernel=*/3, s.stride, /*padding=*/1, s.affine);
}
Op make_sep5(const OpSettings& s) {
  return std::make_shared<SepConv>(s.C_in, s.C_out, /*kernel=*/5, s.stride, /*padding=*/2, s.affine);
}
Op make_dil3(const OpSettings& s) {
  return std::make_shared<DilConv>(s.C_in, s.C_out, /*kernel=*/3, s.stride, /*padding=*/2, /*dilation=*/2, s.affine);
}
Op make_dil5(const OpSettings& s) {
  return std::make_shared<DilConv>(s.C_in, s.C_out, /*kernel=*/5, s.stride, /*padding=*/4, /*dilation=*/2, s.affine);
}

thread_local MacCounter* active_counter = nullptr;

/// Adds the multiply-adds of `conv` producing `y` to the active MacCounter.
void count_conv(const torch::nn::Conv2d& conv, const torch::Tensor& y) {
  if (active_counter == nullptr) return;
  const auto& options = conv->options;
  const auto& kernel = *options.kernel_size();
  const int64_t per_output = (options.in_channels() / options.groups()) * kernel[0] * kernel[1];
  MacCounter::add(y.numel() / y.size(0) * per_output);
}

/// A depthwise `conv` (groups = channels, square kernel, no bias) run through
/// depthwise_conv2d: the module holds the weight (so parameter names and
/// checkpoints stay those of a Conv2d) and its stride, padding and dilation.
torch::Tensor counted_depthwise(torch::nn::Conv2d& conv, const torch::Tensor& x) {
  const auto& options = conv->options;
  const auto& padding = c10::get<torch::ExpandingArray<2>>(options.padding());
  auto y = depthwise_conv2d(x, conv->weight, (*options.stride())[0], (*padding)[0], (*options.dilation())[0]);
  count_conv(conv, y);
  return y;
}

}  // namespace

const char* primitive_name(Primitive op) {
  const auto index = static_cast<int64_t>(op);
  core::check(index >= 0 && index < kNumPrimitives, "primitive index {}; expected 0..{}", index, kNumPrimitives - 1);
  return kPrimitiveNames[static_cast<size_t>(index)];
}

Primitive parse_primitive(const std::string& name) {
  for (size_t i = 0; i < kPrimitiveNames.size(); ++i) {
    if (name == kPrimitiveNames[i]) return static_cast<Primitive>(i);
  }
  core::fail("unknown op '{}'; expected one of {}", name, fmt::join(kPrimitiveNames, ", "));
}

const std::array<OpEntry, kNumPrimitives>& op_table() {
  static const std::array<OpEntry, kNumPrimitives> table = {{
      {Primitive::kNone, &make_none},
      {Primitive::kMaxPool3x3, &make_max_pool},
      {Primitive::kAvgPool3x3, &make_avg_pool},
      {Primitive::kSkipConnect, &make_skip},
      {Primitive::kSepConv3x3, &make_sep3},
      {Primitive::kSepConv5x5, &make_sep5},
      {Primitive::kDilConv3x3, &make_dil3},
      {Primitive::kDilConv5x5, &make_dil5},
  }};
  return table;
}

Op make_op(Primitive op, const OpSettings& settings) {
  core::check(settings.C_in > 0 && settings.C_out > 0, "op {}: channels {} -> {}; expected positive",
              primitive_name(op), settings.C_in, settings.C_out);
  check_stride(primitive_name(op), settings);
  const auto& entry = op_table()[static_cast<size_t>(op)];
  return entry.make(settings);
}

ReLUConvBN::ReLUConvBN(int64_t C_in, int64_t C_out, int64_t kernel, int64_t stride, int64_t padding, bool affine) {
  conv_ = register_module("conv", conv(C_in, C_out, kernel, stride, padding));
  bn_ = register_module("bn", batch_norm(C_out, affine));
}

torch::Tensor ReLUConvBN::forward(const torch::Tensor& x) { return bn_(counted(conv_, torch::relu(x))); }

SepConv::SepConv(int64_t C_in, int64_t C_out, int64_t kernel, int64_t stride, int64_t padding, bool affine) {
  dw1_ = register_module("dw1", conv(C_in, C_in, kernel, stride, padding, /*dilation=*/1, /*groups=*/C_in));
  pw1_ = register_module("pw1", conv(C_in, C_in, /*kernel=*/1));
  bn1_ = register_module("bn1", batch_norm(C_in, affine));
  dw2_ = register_module("dw2", conv(C_in, C_in, kernel, /*stride=*/1, padding, /*dilation=*/1, /*groups=*/C_in));
  pw2_ = register_module("pw2", conv(C_in, C_out, /*kernel=*/1));
  bn2_ = register_module("bn2", batch_norm(C_out, affine));
}

torch::Tensor SepConv::forward(const torch::Tensor& x) {
  auto y = bn1_(counted(pw1_, counted_depthwise(dw1_, torch::relu(x))));
  return bn2_(counted(pw2_, counted_depthwise(dw2_, torch::relu(y))));
}

DilConv::DilConv(int64_t C_in, int64_t C_out, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation,
                 bool affine) {
  dw_ = register_module("dw", conv(C_in, C_in, kernel, stride, padding, dilation, /*groups=*/C_in));
  pw_ = register_module("pw", conv(C_in, C_out, /*kernel=*/1));
  bn_ = register_module("bn", batch_norm(C_out, affine));
}

torch::Tensor DilConv::forward(const torch::Tensor& x) {
  return bn_(counted(pw_, counted_depthwise(dw_, torch::relu(x))));
}

FactorizedReduce::FactorizedReduce(int64_t C_in, int64_t C_out, bool affine) {
  core::check(C_out % 2 == 0, "FactorizedReduce: C_out {} is odd; expected an even channel count", C_out);
  conv1_ = register_module("conv1", conv(C_in, C_out / 2, /*kernel=*/1, /*stride=*/2));
  conv2_ = register_module("conv2", conv(C_in, C_out / 2, /*kernel=*/1, /*stride=*/2));
  bn_ = register_module("bn", batch_norm(C_out, affine));
}

torch::Tensor FactorizedReduce::forward(const torch::Tensor& x) {
  const auto y = torch::relu(x);
  using torch::indexing::Slice;
  auto shifted = y.index({Slice(), Slice(), Slice(1, torch::indexing::None), Slice(1, torch::indexing::None)});
  // Pad back to the input size so both paths give ceil(H/2) rows; for even
  // sides the padded row is never sampled by the stride-2 conv.
  shifted = F::pad(shifted, F::PadFuncOptions({0, 1, 0, 1}));
  return bn_(torch::cat({counted(conv1_, y), counted(conv2_, shifted)}, /*dim=*/1));
}

torch::Tensor Zero::forward(const torch::Tensor& x) {
  const int64_t h = (x.size(2) + stride_ - 1) / stride_;
  const int64_t w = (x.size(3) + stride_ - 1) / stride_;
  return torch::zeros({x.size(0), x.size(1), h, w}, x.options());
}

Pool::Pool(bool max, int64_t C, int64_t stride, bool with_bn) : max_(max), stride_(stride) {
  if (with_bn) bn_ = register_module("bn", batch_norm(C, /*affine=*/false));
}

torch::Tensor Pool::forward(const torch::Tensor& x) {
  torch::Tensor y;
  if (max_) {
    y = F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(stride_).padding(1));
  } else {
    y = F::avg_pool2d(x, F::AvgPool2dFuncOptions(3).stride(stride_).padding(1).count_include_pad(false));
  }
  return bn_ ? bn_(y) : y;
}

torch::Tensor counted(torch::nn::Conv2d& conv, const torch::Tensor& x) {
  auto y = conv(x);
  count_conv(conv, y);
  return y;
}

torch::Tensor counted(torch::nn::Linear& linear, const torch::Tensor& x) {
  auto y = linear(x);
  if (active_counter != nullptr) MacCounter::add(linear->options.in_features() * linear->options.out_features());
  return y;
}

MacCounter::MacCounter() : previous_(active_counter) { active_counter = this; }
MacCounter::~MacCounter() { active_counter = previous_; }
void MacCounter::add(int64_t macs) {
  if (active_counter != nullptr) active_counter->total_ += macs;
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t total = 0;
  for (const auto& p : module.parameters()) total += p.numel();
  return total;
}

}  // namespace daas::nas
