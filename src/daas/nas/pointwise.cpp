#include "daas/nas/pointwise.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <tuple>

#include "kernel_support.h"

namespace daas::nas {
namespace {

using detail::kGrainMultiplyAdds;
using detail::kWeightGradChunks;

/// The fewest pixels a chunk of the weight gradient sums.
constexpr int64_t kMinChunkPixels = 512;

template <typename T>
const detail::PointwiseKernels<T>& kernels();
template <>
const detail::PointwiseKernels<float>& kernels<float>() {
  return detail::chosen_pointwise_kernels().f32;
}
template <>
const detail::PointwiseKernels<double>& kernels<double>() {
  return detail::chosen_pointwise_kernels().f64;
}

torch::Tensor channels_last(const torch::Tensor& t) { return t.contiguous(torch::MemoryFormat::ChannelsLast); }

int64_t pixels(const torch::Tensor& t) { return t.size(0) * t.size(2) * t.size(3); }

/// Pixel rows whose K·O multiply-adds make up kGrainMultiplyAdds.
int64_t grain_pixels(int64_t K, int64_t O) {
  return std::max<int64_t>(1, kGrainMultiplyAdds / std::max<int64_t>(1, K * O));
}

/// out [N, O, H, W] (channels-last) = in [N, K, H, W] · weight [K, O] + bias,
/// zeroed where `gate` (shaped like out, or undefined) is ≤ 0.
template <typename T>
torch::Tensor run_product(const torch::Tensor& in, const torch::Tensor& weight, const torch::Tensor& bias, bool relu_in,
                          const torch::Tensor& gate) {
  const int64_t K = weight.size(0), O = weight.size(1);
  auto out = torch::empty({in.size(0), O, in.size(2), in.size(3)},
                          in.options().memory_format(torch::MemoryFormat::ChannelsLast));
  const T* in_data = in.data_ptr<T>();
  const T* w_data = weight.data_ptr<T>();
  const T* b_data = bias.defined() ? bias.data_ptr<T>() : nullptr;
  const T* g_data = gate.defined() ? gate.data_ptr<T>() : nullptr;
  T* out_data = out.data_ptr<T>();
  at::parallel_for(0, pixels(in), grain_pixels(K, O), [&](int64_t begin, int64_t end) {
    kernels<T>().product(in_data, K, w_data, b_data, O, relu_in, g_data, out_data, begin, end);
  });
  return out;
}

/// Σ_p grad[p, o] · in[p, k] as [O, K], in fixed pixel chunks added in order.
template <typename T>
torch::Tensor run_outer(const torch::Tensor& grad, const torch::Tensor& in, bool relu_in) {
  const int64_t P = pixels(in), O = grad.size(1), K = in.size(1);
  // Chunks of at least kMinChunkPixels: the partial sums are O·K each, as
  // large as a few hundred pixels' worth of work at 64 channels.
  const int64_t chunk_pixels =
      std::max({(P + kWeightGradChunks - 1) / kWeightGradChunks, grain_pixels(K, O), kMinChunkPixels});
  const int64_t chunks = (P + chunk_pixels - 1) / chunk_pixels;
  auto partials = torch::empty({chunks, O, K}, in.options());
  const T* g_data = grad.data_ptr<T>();
  const T* in_data = in.data_ptr<T>();
  T* p_data = partials.data_ptr<T>();
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t chunk = begin; chunk < end; ++chunk) {
      kernels<T>().outer(g_data, O, in_data, K, relu_in, p_data + chunk * O * K, chunk * chunk_pixels,
                         std::min(P, (chunk + 1) * chunk_pixels));
    }
  });
  return detail::sum_in_order<T>(partials);
}

bool is_double(const torch::Tensor& t) { return t.scalar_type() == torch::kDouble; }

/// The forward through the kernels.
torch::Tensor kernel_forward(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                             bool relu_input) {
  const auto w = weight.reshape({weight.size(0), weight.size(1)}).t().contiguous();  // [K, O]
  const auto b = bias.defined() ? bias.contiguous() : bias;
  return is_double(x) ? run_product<double>(x, w, b, relu_input, {}) : run_product<float>(x, w, b, relu_input, {});
}

using Gradients = std::tuple<torch::Tensor, torch::Tensor, torch::Tensor>;

/// The gradients through the kernels; undefined where not `needed`.
Gradients kernel_backward(const torch::Tensor& grad_output, const torch::Tensor& x, const torch::Tensor& weight,
                          bool relu_input, std::array<bool, 3> needed) {
  const auto grad_y = channels_last(grad_output);
  torch::Tensor grad_x, grad_weight, grad_bias;
  if (needed[0]) {
    const auto w = weight.reshape({weight.size(0), weight.size(1)}).contiguous();  // [O, K]: grad_y's "weight"
    const auto gate = relu_input ? x : torch::Tensor();
    grad_x =
        is_double(x) ? run_product<double>(grad_y, w, {}, false, gate) : run_product<float>(grad_y, w, {}, false, gate);
  }
  if (needed[1]) {
    grad_weight = is_double(x) ? run_outer<double>(grad_y, x, relu_input) : run_outer<float>(grad_y, x, relu_input);
    grad_weight = grad_weight.view(weight.sizes());
  }
  if (needed[2]) grad_bias = grad_y.sum({0, 2, 3});
  return {grad_x, grad_weight, grad_bias};
}

/// The gradients through ATen's convolution_backward and ReLU backward, which
/// are themselves differentiable (for a backward with create_graph).
Gradients differentiable_backward(const torch::Tensor& grad_output, const torch::Tensor& x, const torch::Tensor& weight,
                                  bool relu_input, std::array<bool, 3> needed) {
  const auto input = relu_input ? torch::relu(x) : x;
  auto [grad_x, grad_weight, grad_bias] =
      at::convolution_backward(grad_output, input, weight, c10::IntArrayRef{weight.size(0)}, {1, 1}, {0, 0}, {1, 1},
                               /*transposed=*/false, {0, 0}, /*groups=*/1, needed);
  if (relu_input && grad_x.defined()) grad_x = at::threshold_backward(grad_x, input, 0);
  return {grad_x, grad_weight, grad_bias};
}

class PointwiseConv2dFunction : public torch::autograd::Function<PointwiseConv2dFunction> {
 public:
  // The bias is optional: an undefined tensor cannot be an autograd input.
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const c10::optional<torch::Tensor>& bias, bool relu_input) {
    ctx->save_for_backward({x, weight});
    ctx->saved_data["relu_input"] = relu_input;
    ctx->saved_data["bias"] = bias.has_value();
    return kernel_forward(x, weight, bias.value_or(torch::Tensor()), relu_input);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const bool relu_input = ctx->saved_data["relu_input"].toBool();
    const bool bias = ctx->saved_data["bias"].toBool();
    const std::array<bool, 3> needed{ctx->needs_input_grad(0), ctx->needs_input_grad(1),
                                     bias && ctx->needs_input_grad(2)};
    auto [grad_x, grad_weight, grad_bias] =
        torch::GradMode::is_enabled() ? differentiable_backward(grad_outputs[0], saved[0], saved[1], relu_input, needed)
                                      : kernel_backward(grad_outputs[0], saved[0], saved[1], relu_input, needed);
    return {grad_x, grad_weight, grad_bias, torch::Tensor()};
  }
};

}  // namespace

bool pointwise_uses_kernels(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  if (!detail::kernel_ready(x, weight)) return false;
  if (weight.size(1) != x.size(1) || weight.size(2) != 1 || weight.size(3) != 1 || weight.size(0) < 1) return false;
  if (!bias.defined()) return true;
  return bias.device().is_cpu() && bias.layout() == torch::kStrided && bias.scalar_type() == x.scalar_type() &&
         bias.dim() == 1 && bias.size(0) == weight.size(0);
}

torch::Tensor pointwise_conv2d(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                               bool relu_input) {
  if (!pointwise_uses_kernels(x, weight, bias)) {
    return torch::conv2d(relu_input ? torch::relu(x) : x, weight, bias);
  }
  const auto optional_bias = bias.defined() ? c10::optional<torch::Tensor>(bias) : c10::nullopt;
  return PointwiseConv2dFunction::apply(x, weight, optional_bias, relu_input);
}

}  // namespace daas::nas
