#include "daas/nas/ops.h"

#include <torch/nn/functional/pooling.h>
#include <torch/torch.h>

#include <array>

#include "daas/core/error.h"
#include "daas/nas/depthwise.h"
#include "daas/nas/pointwise.h"
#include "daas/nas/pool.h"

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
/// Reads relu(x): every depthwise convolution of the DARTS ops follows a ReLU.
torch::Tensor counted_relu_depthwise(torch::nn::Conv2d& conv, const torch::Tensor& x) {
  const auto& options = conv->options;
  const auto& padding = c10::get<torch::ExpandingArray<2>>(options.padding());
  auto y = depthwise_conv2d(x, conv->weight, (*options.stride())[0], (*padding)[0], (*options.dilation())[0],
                            /*relu_input=*/true);
  count_conv(conv, y);
  return y;
}

/// FactorizedReduce's two inputs at once: relu(x) at the even pixels
/// (rows and columns 0, 2, 4, ...) and at the odd ones (1, 3, 5, ...), each
/// ceil(H/2) × ceil(W/2), the odd one zero-padded at the bottom and right for
/// odd sides. The ReLU runs on the quarter of the pixels the stride-2 1×1
/// convolutions read, and the backward writes the gradient into one zeroed
/// tensor: slicing and padding through autograd (DARTS's x[:, :, 1:, 1:]
/// then a padded stride-2 convolution) cost several full-size zeroed
/// tensors and copies per backward.
class ReluPixelPhases : public torch::autograd::Function<ReluPixelPhases> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    const int64_t H = x.size(2), W = x.size(3);
    const auto format = x.suggest_memory_format();
    auto even = torch::relu(phase(x, 0)).contiguous(format);
    auto odd = torch::relu(phase(x, 1));
    odd = F::pad(odd, F::PadFuncOptions({0, W % 2, 0, H % 2})).contiguous(format);
    ctx->save_for_backward({even, odd});
    ctx->saved_data["height"] = H;
    ctx->saved_data["width"] = W;
    ctx->saved_data["format"] = static_cast<int64_t>(format);
    return {even, odd};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const int64_t H = ctx->saved_data["height"].toInt(), W = ctx->saved_data["width"].toInt();
    const auto format = static_cast<torch::MemoryFormat>(ctx->saved_data["format"].toInt());
    const auto& even = saved[0];
    auto grad_x = torch::zeros({even.size(0), even.size(1), H, W}, even.options().memory_format(format));
    if (grads[0].defined()) phase(grad_x, 0).copy_(at::threshold_backward(grads[0], even, 0));
    if (grads[1].defined()) {
      using torch::indexing::Slice;
      const auto inside = [&](const torch::Tensor& t) {
        return t.index({Slice(), Slice(), Slice(0, H / 2), Slice(0, W / 2)});
      };
      phase(grad_x, 1).copy_(at::threshold_backward(inside(grads[1]), inside(saved[1]), 0));
    }
    return {grad_x};
  }

 private:
  /// The pixels of rows and columns first, first + 2, ... (a view).
  static torch::Tensor phase(const torch::Tensor& t, int64_t first) {
    return t.slice(2, first, t.size(2), 2).slice(3, first, t.size(3), 2);
  }
};

/// Whether `conv` is a 1×1 convolution (groups 1, no padding or dilation)
/// at stride 1, or at any stride with `unit_stride`: one pointwise_conv2d.
bool is_pointwise(const torch::nn::Conv2d& conv, bool unit_stride) {
  const auto& o = conv->options;
  const auto* padding = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  const auto& kernel = *o.kernel_size();
  const auto& stride = *o.stride();
  const auto& dilation = *o.dilation();
  return kernel[0] == 1 && kernel[1] == 1 && o.groups() == 1 && padding != nullptr && (**padding)[0] == 0 &&
         (**padding)[1] == 0 && dilation[0] == 1 && dilation[1] == 1 &&
         (unit_stride || (stride[0] == 1 && stride[1] == 1));
}

/// `conv` with `weight` and `bias` in place of its own, on relu(x) with
/// relu_input (fused into a pointwise convolution), at stride 1 whatever the
/// module's stride with `unit_stride`; counted.
torch::Tensor run_conv(const torch::nn::Conv2d& conv, const torch::Tensor& weight, const torch::Tensor& bias,
                       const torch::Tensor& x, bool relu_input, bool unit_stride) {
  torch::Tensor y;
  if (is_pointwise(conv, unit_stride)) {
    y = pointwise_conv2d(x, weight, bias, relu_input);
  } else {
    const auto& o = conv->options;
    const auto& padding = c10::get<torch::ExpandingArray<2>>(o.padding());
    const std::array<int64_t, 2> one = {1, 1};
    const torch::IntArrayRef stride = unit_stride ? torch::IntArrayRef(one) : torch::IntArrayRef(*o.stride());
    y = torch::conv2d(relu_input ? torch::relu(x) : x, weight, bias, stride, *padding, *o.dilation(), o.groups());
  }
  count_conv(conv, y);
  return y;
}

/// conv(x)·scale + shift per output channel, as one convolution with a bias;
/// `unit_stride` and `relu_input` as in run_conv.
torch::Tensor folded_conv(const torch::nn::Conv2d& conv, const torch::Tensor& scale, const torch::Tensor& shift,
                          const torch::Tensor& x, bool unit_stride = false, bool relu_input = false) {
  const auto weight = (conv->weight * scale.view({-1, 1, 1, 1})).contiguous(conv->weight.suggest_memory_format());
  return run_conv(conv, weight, shift, x, relu_input, unit_stride);
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

torch::Tensor ReLUConvBN::forward(const torch::Tensor& x) { return conv_bn(conv_, bn_, x, /*relu_input=*/true); }

torch::Tensor ReLUConvBN::forward_input(CellInput& input) {
  // A 1×1 convolution takes the ReLU inside its kernels; others share the
  // input's ReLU with the other ops that read it.
  if (is_pointwise(conv_, /*unit_stride=*/false)) return conv_bn(conv_, bn_, input.state(), /*relu_input=*/true);
  return conv_bn(conv_, bn_, input.relu());
}

SepConv::SepConv(int64_t C_in, int64_t C_out, int64_t kernel, int64_t stride, int64_t padding, bool affine) {
  dw1_ = register_module("dw1", conv(C_in, C_in, kernel, stride, padding, /*dilation=*/1, /*groups=*/C_in));
  pw1_ = register_module("pw1", conv(C_in, C_in, /*kernel=*/1));
  bn1_ = register_module("bn1", batch_norm(C_in, affine));
  dw2_ = register_module("dw2", conv(C_in, C_in, kernel, /*stride=*/1, padding, /*dilation=*/1, /*groups=*/C_in));
  pw2_ = register_module("pw2", conv(C_in, C_out, /*kernel=*/1));
  bn2_ = register_module("bn2", batch_norm(C_out, affine));
}

torch::Tensor SepConv::forward(const torch::Tensor& x) {
  auto y = conv_bn(pw1_, bn1_, counted_relu_depthwise(dw1_, x));
  return conv_bn(pw2_, bn2_, counted_relu_depthwise(dw2_, y));
}

DilConv::DilConv(int64_t C_in, int64_t C_out, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation,
                 bool affine) {
  dw_ = register_module("dw", conv(C_in, C_in, kernel, stride, padding, dilation, /*groups=*/C_in));
  pw_ = register_module("pw", conv(C_in, C_out, /*kernel=*/1));
  bn_ = register_module("bn", batch_norm(C_out, affine));
}

torch::Tensor DilConv::forward(const torch::Tensor& x) { return conv_bn(pw_, bn_, counted_relu_depthwise(dw_, x)); }

FactorizedReduce::FactorizedReduce(int64_t C_in, int64_t C_out, bool affine) {
  core::check(C_out % 2 == 0, "FactorizedReduce: C_out {} is odd; expected an even channel count", C_out);
  conv1_ = register_module("conv1", conv(C_in, C_out / 2, /*kernel=*/1, /*stride=*/2));
  conv2_ = register_module("conv2", conv(C_in, C_out / 2, /*kernel=*/1, /*stride=*/2));
  bn_ = register_module("bn", batch_norm(C_out, affine));
}

torch::Tensor FactorizedReduce::forward(const torch::Tensor& x) {
  // conv1 (stride 2) reads relu(x) at the even pixels; conv2 reads relu(x)
  // shifted by one pixel, x[:, :, 1:, 1:] zero-padded back to H × W, also at
  // stride 2: the odd pixels, and a zero row and column for odd sides. Both
  // run as stride-1 convolutions on those pixels (ReluPixelPhases), with
  // their weights and multiply-adds unchanged.
  const auto phases = ReluPixelPhases::apply(x);
  if (bn_->is_affine_map()) {  // evaluation: the BatchNorm folded into the convolutions, half each
    const auto [scale, shift] = bn_->affine_map();
    const auto half = [&](const torch::Tensor& t, int64_t i) { return t.chunk(2)[i]; };
    return torch::cat({folded_conv(conv1_, half(scale, 0), half(shift, 0), phases[0], /*unit_stride=*/true),
                       folded_conv(conv2_, half(scale, 1), half(shift, 1), phases[1], /*unit_stride=*/true)},
                      /*dim=*/1);
  }
  const auto even = run_conv(conv1_, conv1_->weight, {}, phases[0], /*relu_input=*/false, /*unit_stride=*/true);
  const auto odd = run_conv(conv2_, conv2_->weight, {}, phases[1], /*relu_input=*/false, /*unit_stride=*/true);
  return bn_(torch::cat({even, odd}, /*dim=*/1));
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
  const auto y = pool3x3(x, max_ ? PoolKind::kMax : PoolKind::kAverage, stride_);
  return bn_ ? bn_(y) : y;
}

torch::Tensor counted(torch::nn::Conv2d& conv, const torch::Tensor& x) {
  return run_conv(conv, conv->weight, conv->bias, x, /*relu_input=*/false, /*unit_stride=*/false);
}

torch::Tensor conv_bn(torch::nn::Conv2d& conv, BatchNorm& bn, const torch::Tensor& x, bool relu_input) {
  if (!bn->is_affine_map()) return bn(run_conv(conv, conv->weight, conv->bias, x, relu_input, /*unit_stride=*/false));
  const auto [scale, shift] = bn->affine_map();
  return folded_conv(conv, scale, shift, x, /*unit_stride=*/false, relu_input);
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
