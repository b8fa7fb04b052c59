#include "daas/nas/pool.h"

#include <ATen/Parallel.h>
#include <torch/autograd.h>
#include <torch/torch.h>

#include <algorithm>

#include "kernel_support.h"

namespace daas::nas {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

namespace F = torch::nn::functional;

/// LibTorch's pool: the fallback, and the create_graph backward.
torch::Tensor aten_pool(const torch::Tensor& x, PoolKind kind, int64_t stride) {
  if (kind == PoolKind::kMax) return F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(stride).padding(1));
  return F::avg_pool2d(x, F::AvgPool2dFuncOptions(3).stride(stride).padding(1).count_include_pad(false));
}

detail::PoolShape shape_of(const torch::Tensor& x) { return {x.size(0), x.size(2), x.size(3), x.size(1)}; }

/// Runs kernel(begin, end) over `rows` image rows of `row_floats` floats
/// each, about 64 KiB of them a task, so that small images still split over
/// threads and large ones do not pay a task per row.
template <typename Kernel>
void over_rows(int64_t rows, int64_t row_floats, Kernel&& kernel) {
  const int64_t grain = std::max<int64_t>(1, (int64_t{16} << 10) / row_floats);
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) { kernel(begin, end); });
}

/// Runs kernel(begin, end) over the N·H image rows of a stride-1 pool.
template <typename Kernel>
void over_rows(const detail::PoolShape& s, Kernel&& kernel) {
  over_rows(s.N * s.H, s.W * s.C, kernel);
}

/// Whether autograd will differentiate a function of x.
bool backward_will_run(const torch::Tensor& x) { return torch::GradMode::is_enabled() && x.requires_grad(); }

class Pool3x3Function : public torch::autograd::Function<Pool3x3Function> {
 public:
  /// keep_positions: a backward will run (the max pool's window positions
  /// are kept only then; inside forward() gradient mode is always off).
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, int64_t kind_code, bool keep_positions) {
    const auto kind = static_cast<PoolKind>(kind_code);
    const auto s = shape_of(x);
    const auto& kernels = detail::chosen_pool_kernels();
    // x's own strides: where a tensor is dense in both layouts (C 1, or a
    // one-pixel image) the element order is the same, and LibTorch keeps x's.
    auto y = torch::empty_like(x);
    const float* in = x.data_ptr<float>();
    float* out = y.data_ptr<float>();
    ctx->saved_data["kind"] = kind_code;
    if (kind == PoolKind::kMax) {
      torch::Tensor pos;
      if (keep_positions) {
        pos = torch::empty(x.sizes(), x.options().dtype(torch::kUInt8), torch::MemoryFormat::ChannelsLast);
      }
      uint8_t* where = keep_positions ? pos.data_ptr<uint8_t>() : nullptr;
      over_rows(s, [&](int64_t begin, int64_t end) { kernels.max_forward(s, in, out, where, begin, end); });
      ctx->save_for_backward({x, pos});
    } else {
      over_rows(s, [&](int64_t begin, int64_t end) { kernels.avg_forward(s, in, out, begin, end); });
      ctx->save_for_backward({x});
    }
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto kind = static_cast<PoolKind>(ctx->saved_data["kind"].toInt());
    const auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& g_in = grad_outputs[0];
    if (torch::GradMode::is_enabled()) {
      // create_graph: LibTorch's backward, which is differentiable again,
      // with respect to the incoming gradient and to x alike.
      const auto input = x.requires_grad() ? x : x.detach().requires_grad_(true);
      const auto y = aten_pool(input, kind, 1);
      return {torch::autograd::grad({y}, {input}, {g_in}, /*retain_graph=*/true, /*create_graph=*/true)[0],
              torch::Tensor(), torch::Tensor()};
    }
    const auto g = g_in.contiguous(torch::MemoryFormat::ChannelsLast);
    const auto s = shape_of(x);
    const auto& kernels = detail::chosen_pool_kernels();
    auto grad_x = torch::empty_like(x);
    float* gx = grad_x.data_ptr<float>();
    const float* gy = g.data_ptr<float>();
    if (kind == PoolKind::kMax) {
      const uint8_t* pos = saved[1].data_ptr<uint8_t>();
      over_rows(s, [&](int64_t begin, int64_t end) { kernels.max_backward(s, gy, pos, gx, begin, end); });
    } else {
      auto share = torch::empty_like(g);
      float* q = share.data_ptr<float>();
      over_rows(s, [&](int64_t begin, int64_t end) { kernels.avg_share(s, gy, q, begin, end); });
      over_rows(s, [&](int64_t begin, int64_t end) { kernels.avg_backward(s, q, gx, begin, end); });
    }
    return {grad_x, torch::Tensor(), torch::Tensor()};
  }
};

/// The pool at stride 2 where no backward will run.
torch::Tensor stride2_forward(const torch::Tensor& x, PoolKind kind) {
  const auto s = shape_of(x);
  const int64_t Ho = detail::stride2_size(s.H), Wo = detail::stride2_size(s.W);
  // x's layout, as LibTorch's: where x is dense in both (one channel, or a
  // one-pixel image) the element order is the same either way.
  auto y = torch::empty({s.N, s.C, Ho, Wo}, x.options().memory_format(x.suggest_memory_format()));
  const float* in = x.data_ptr<float>();
  float* out = y.data_ptr<float>();
  const auto& kernels = detail::chosen_pool_kernels();
  const auto forward = kind == PoolKind::kMax ? kernels.max_forward_stride2 : kernels.avg_forward_stride2;
  over_rows(s.N * Ho, Wo * s.C, [&](int64_t begin, int64_t end) { forward(s, in, out, begin, end); });
  return y;
}

}  // namespace

bool pool3x3_uses_kernels(const torch::Tensor& x, int64_t stride) {
  return x.defined() && (stride == 1 || (stride == 2 && !backward_will_run(x))) && x.dim() == 4 &&
         x.device().is_cpu() && x.layout() == torch::kStrided && x.scalar_type() == torch::kFloat && x.numel() > 0 &&
         x.is_contiguous(torch::MemoryFormat::ChannelsLast);
}

torch::Tensor pool3x3(const torch::Tensor& x, PoolKind kind, int64_t stride) {
  if (!pool3x3_uses_kernels(x, stride)) return aten_pool(x, kind, stride);
  if (stride == 2) return stride2_forward(x, kind);
  const bool backward = backward_will_run(x);
  if (kind == PoolKind::kMax && backward && !detail::chosen_pool_kernels().max_backward_pays) {
    return aten_pool(x, kind, stride);
  }
  return Pool3x3Function::apply(x, static_cast<int64_t>(kind), backward);
}

}  // namespace daas::nas
