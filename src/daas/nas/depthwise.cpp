#include "daas/nas/depthwise.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <utility>

#include "daas/core/error.h"
#include "isa/depthwise_kernels.h"
#include "isa/pointwise_kernels.h"
#include "kernel_support.h"

namespace daas::nas {
namespace {

using detail::DepthwiseKernels;
using detail::DepthwiseKernelSet;
using detail::DepthwiseShape;
using detail::kGrainMultiplyAdds;
using detail::kWeightGradChunks;

// ---------------------------------------------------------------------------
// Instruction set: the best the CPU runs, unless a test or benchmark chose one.

/// One instruction set's depthwise, pointwise, BatchNorm and pooling kernels.
struct KernelSets {
  const DepthwiseKernelSet* depthwise;
  const detail::PointwiseKernelSet* pointwise;
  const detail::BatchNormKernelSet* batch_norm;
  const detail::PoolKernelSet* pool;
};

std::vector<KernelSets> available_kernel_sets() {
  std::vector<KernelSets> sets;
#if defined(DAAS_DEPTHWISE_X86)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    sets.push_back({&detail::depthwise_kernels_avx512(), &detail::pointwise_kernels_avx512(),
                    &detail::batch_norm_kernels_avx512(), &detail::pool_kernels_avx512()});
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    sets.push_back({&detail::depthwise_kernels_avx2(), &detail::pointwise_kernels_avx2(),
                    &detail::batch_norm_kernels_avx2(), &detail::pool_kernels_avx2()});
  }
#endif
  sets.push_back({&detail::depthwise_kernels_baseline(), &detail::pointwise_kernels_baseline(),
                  &detail::batch_norm_kernels_baseline(), &detail::pool_kernels_baseline()});
  return sets;
}

/// The chosen sets' index in available_kernel_sets().
std::atomic<size_t>& chosen_kernel_set() {
  static std::atomic<size_t> chosen{0};
  return chosen;
}

const KernelSets& chosen_sets() {
  static const std::vector<KernelSets> sets = available_kernel_sets();
  return sets[chosen_kernel_set().load()];
}

template <typename T>
const DepthwiseKernels<T>& kernels();
template <>
const DepthwiseKernels<float>& kernels<float>() {
  return chosen_sets().depthwise->f32;
}
template <>
const DepthwiseKernels<double>& kernels<double>() {
  return chosen_sets().depthwise->f64;
}

// ---------------------------------------------------------------------------
// Shapes and the kernel calls.

int64_t output_side(int64_t side, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation) {
  return (side + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1;
}

DepthwiseShape shape_of(const torch::Tensor& x, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation,
                        bool relu_input) {
  const int64_t H = x.size(2), W = x.size(3);
  return {x.size(0),
          x.size(1),
          H,
          W,
          output_side(H, kernel, stride, padding, dilation),
          output_side(W, kernel, stride, padding, dilation),
          kernel,
          stride,
          padding,
          dilation,
          relu_input};
}

/// Rows of `side` pixels whose k·k taps make up kGrainMultiplyAdds.
int64_t grain_rows(const DepthwiseShape& s, int64_t side) {
  return std::max<int64_t>(1, kGrainMultiplyAdds / std::max<int64_t>(1, side * s.C * s.kernel * s.kernel));
}

/// weight [C, 1, k, k] -> taps [k·k, C], the layout the kernels read.
torch::Tensor weight_taps(const torch::Tensor& weight) { return weight.reshape({weight.size(0), -1}).t().contiguous(); }

torch::Tensor channels_last(const torch::Tensor& t) { return t.contiguous(torch::MemoryFormat::ChannelsLast); }

template <typename T>
torch::Tensor run_forward(const DepthwiseShape& s, const torch::Tensor& x, const torch::Tensor& taps) {
  auto y = torch::empty({s.N, s.C, s.Ho, s.Wo}, x.options().memory_format(torch::MemoryFormat::ChannelsLast));
  const T* x_data = x.data_ptr<T>();
  const T* w_data = taps.data_ptr<T>();
  T* y_data = y.data_ptr<T>();
  at::parallel_for(0, s.N * s.Ho, grain_rows(s, s.Wo),
                   [&](int64_t begin, int64_t end) { kernels<T>().forward(s, x_data, w_data, y_data, begin, end); });
  return y;
}

template <typename T>
torch::Tensor run_grad_input(const DepthwiseShape& s, const torch::Tensor& grad_y, const torch::Tensor& taps,
                             const torch::Tensor& x) {
  auto grad_x = torch::empty({s.N, s.C, s.H, s.W}, x.options().memory_format(torch::MemoryFormat::ChannelsLast));
  const T* g_data = grad_y.data_ptr<T>();
  const T* w_data = taps.data_ptr<T>();
  const T* relu_x = s.relu_input ? x.data_ptr<T>() : nullptr;
  T* out = grad_x.data_ptr<T>();
  at::parallel_for(0, s.N * s.H, grain_rows(s, s.W), [&](int64_t begin, int64_t end) {
    kernels<T>().grad_input(s, g_data, w_data, relu_x, out, begin, end);
  });
  return grad_x;
}

template <typename T>
torch::Tensor run_grad_weight(const DepthwiseShape& s, const torch::Tensor& x, const torch::Tensor& grad_y,
                              const torch::Tensor& weight) {
  const int64_t rows = s.N * s.Ho;
  const int64_t chunk_rows = std::max((rows + kWeightGradChunks - 1) / kWeightGradChunks, grain_rows(s, s.Wo));
  const int64_t chunks = (rows + chunk_rows - 1) / chunk_rows;
  auto partials = torch::empty({chunks, s.kernel * s.kernel, s.C}, x.options());
  const T* x_data = x.data_ptr<T>();
  const T* g_data = grad_y.data_ptr<T>();
  T* p_data = partials.data_ptr<T>();
  const int64_t partial_size = s.kernel * s.kernel * s.C;
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t chunk = begin; chunk < end; ++chunk) {
      kernels<T>().grad_weight(s, x_data, g_data, p_data + chunk * partial_size, chunk * chunk_rows,
                               std::min(rows, (chunk + 1) * chunk_rows));
    }
  });
  return detail::sum_in_order<T>(partials).t().reshape(weight.sizes()).contiguous();
}

// ---------------------------------------------------------------------------
// The autograd function.

struct Geometry {
  int64_t stride, padding, dilation;
  bool relu_input;
};

/// The gradients through the kernels; undefined where not `needed`.
std::pair<torch::Tensor, torch::Tensor> kernel_backward(const torch::Tensor& grad_output, const torch::Tensor& x,
                                                        const torch::Tensor& weight, const Geometry& g,
                                                        std::array<bool, 2> needed) {
  const auto s = shape_of(x, weight.size(2), g.stride, g.padding, g.dilation, g.relu_input);
  const auto grad_y = channels_last(grad_output);
  const bool is_double = x.scalar_type() == torch::kDouble;
  torch::Tensor grad_x, grad_weight;
  if (needed[0]) {
    const auto taps = weight_taps(weight);
    grad_x = is_double ? run_grad_input<double>(s, grad_y, taps, x) : run_grad_input<float>(s, grad_y, taps, x);
  }
  if (needed[1]) {
    grad_weight =
        is_double ? run_grad_weight<double>(s, x, grad_y, weight) : run_grad_weight<float>(s, x, grad_y, weight);
  }
  return {grad_x, grad_weight};
}

/// The gradients through ATen's convolution_backward and ReLU backward, which
/// are themselves differentiable: the kernels' results would carry no
/// history for a backward with create_graph.
std::pair<torch::Tensor, torch::Tensor> differentiable_backward(const torch::Tensor& grad_output,
                                                                const torch::Tensor& x, const torch::Tensor& weight,
                                                                const Geometry& g, std::array<bool, 2> needed) {
  const auto input = g.relu_input ? torch::relu(x) : x;
  auto grads = at::convolution_backward(grad_output, input, weight, c10::nullopt, {g.stride, g.stride},
                                        {g.padding, g.padding}, {g.dilation, g.dilation}, /*transposed=*/false, {0, 0},
                                        /*groups=*/x.size(1), {needed[0], needed[1], false});
  auto grad_x = std::get<0>(grads);
  if (g.relu_input && grad_x.defined()) grad_x = at::threshold_backward(grad_x, input, 0);
  return {grad_x, std::get<1>(grads)};
}

class DepthwiseConv2dFunction : public torch::autograd::Function<DepthwiseConv2dFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, int64_t stride, int64_t padding, int64_t dilation,
                               bool relu_input) {
    ctx->save_for_backward({x, weight});
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["dilation"] = dilation;
    ctx->saved_data["relu_input"] = relu_input;
    const auto s = shape_of(x, weight.size(2), stride, padding, dilation, relu_input);
    const auto taps = weight_taps(weight);
    return x.scalar_type() == torch::kDouble ? run_forward<double>(s, x, taps) : run_forward<float>(s, x, taps);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const Geometry g{ctx->saved_data["stride"].toInt(), ctx->saved_data["padding"].toInt(),
                     ctx->saved_data["dilation"].toInt(), ctx->saved_data["relu_input"].toBool()};
    const std::array<bool, 2> needed{ctx->needs_input_grad(0), ctx->needs_input_grad(1)};
    const auto [grad_x, grad_weight] = torch::GradMode::is_enabled()
                                           ? differentiable_backward(grad_outputs[0], saved[0], saved[1], g, needed)
                                           : kernel_backward(grad_outputs[0], saved[0], saved[1], g, needed);
    return {grad_x, grad_weight, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

bool depthwise_uses_kernels(const torch::Tensor& x, const torch::Tensor& weight, int64_t stride, int64_t padding,
                            int64_t dilation) {
  if (!detail::kernel_ready(x, weight)) return false;
  const int64_t k = weight.size(2);
  if (weight.size(0) != x.size(1) || weight.size(1) != 1 || weight.size(3) != k || (k != 3 && k != 5)) return false;
  if ((stride != 1 && stride != 2) || dilation < 1 || padding < 0) return false;
  return output_side(x.size(2), k, stride, padding, dilation) >= 1 &&
         output_side(x.size(3), k, stride, padding, dilation) >= 1;
}

torch::Tensor depthwise_conv2d(const torch::Tensor& x, const torch::Tensor& weight, int64_t stride, int64_t padding,
                               int64_t dilation, bool relu_input) {
  if (!depthwise_uses_kernels(x, weight, stride, padding, dilation)) {
    return torch::conv2d(relu_input ? torch::relu(x) : x, weight, {}, stride, padding, dilation,
                         /*groups=*/weight.size(0));
  }
  return DepthwiseConv2dFunction::apply(x, weight, stride, padding, dilation, relu_input);
}

std::vector<std::string> depthwise_isas() {
  std::vector<std::string> names;
  for (const auto& sets : available_kernel_sets()) names.emplace_back(sets.depthwise->isa);
  return names;
}

std::string depthwise_isa() { return chosen_sets().depthwise->isa; }

void set_depthwise_isa(const std::string& isa) {
  const auto names = depthwise_isas();
  for (size_t i = 0; i < names.size(); ++i) {
    if (isa == names[i]) {
      chosen_kernel_set().store(i);
      return;
    }
  }
  core::fail("depthwise kernels: instruction set '{}' not available here; expected one of {}", isa,
             fmt::join(names, ", "));
}

namespace detail {

const PointwiseKernelSet& chosen_pointwise_kernels() { return *chosen_sets().pointwise; }

const BatchNormKernelSet& chosen_batch_norm_kernels() { return *chosen_sets().batch_norm; }

const PoolKernelSet& chosen_pool_kernels() { return *chosen_sets().pool; }

bool kernel_ready(const torch::Tensor& x, const torch::Tensor& weight) {
  if (!x.defined() || !weight.defined() || x.dim() != 4 || weight.dim() != 4) return false;
  if (!x.device().is_cpu() || !weight.device().is_cpu()) return false;
  if (x.layout() != torch::kStrided || weight.layout() != torch::kStrided) return false;
  const auto dtype = x.scalar_type();
  if ((dtype != torch::kFloat && dtype != torch::kDouble) || weight.scalar_type() != dtype) return false;
  return x.is_contiguous(torch::MemoryFormat::ChannelsLast) && x.numel() > 0;
}

template <typename T>
torch::Tensor sum_in_order(const torch::Tensor& partials) {
  const int64_t chunks = partials.size(0), M = partials[0].numel();
  auto sum = partials[0].clone();
  T* out = sum.data_ptr<T>();
  const T* in = partials.data_ptr<T>();
  for (int64_t chunk = 1; chunk < chunks; ++chunk) {
    for (int64_t i = 0; i < M; ++i) out[i] += in[chunk * M + i];
  }
  return sum;
}
template torch::Tensor sum_in_order<float>(const torch::Tensor& partials);
template torch::Tensor sum_in_order<double>(const torch::Tensor& partials);

}  // namespace detail

}  // namespace daas::nas
