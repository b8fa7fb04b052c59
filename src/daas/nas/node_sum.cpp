#include "daas/nas/node_sum.h"

#include <ATen/Parallel.h>
#include <torch/autograd.h>
#include <torch/torch.h>

#include <fmt/ranges.h>

#include <algorithm>

#include "daas/core/error.h"

namespace daas::nas {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// Elements per chunk of a pass: small enough that the running sum of a
/// chunk stays in the L1/L2 cache while each term is added, and the unit of
/// the dot products' partial sums, fixed so that results do not depend on
/// the number of threads.
constexpr int64_t kChunk = 4096;

int64_t chunk_count(int64_t n) { return (n + kChunk - 1) / kChunk; }

/// The one dense layout all terms share (same sizes, same element order in
/// memory), if any.
c10::optional<torch::MemoryFormat> shared_layout(const std::vector<torch::Tensor>& terms) {
  const auto& first = terms[0];
  for (const auto format : {torch::MemoryFormat::Contiguous, torch::MemoryFormat::ChannelsLast}) {
    if (format == torch::MemoryFormat::ChannelsLast && first.dim() != 4) continue;
    const bool all = std::all_of(terms.begin(), terms.end(), [&](const torch::Tensor& t) {
      return t.sizes() == first.sizes() && t.is_contiguous(format);
    });
    if (all) return format;
  }
  return c10::nullopt;
}

/// The weight of every term as T; 1 for each where `weights` is undefined.
template <typename T>
std::vector<T> term_weights(const torch::Tensor& weights, const std::vector<int64_t>& slots) {
  std::vector<T> w(slots.size(), T(1));
  if (!weights.defined()) return w;
  const auto flat = weights.detach().contiguous();
  const T* data = flat.data_ptr<T>();
  for (size_t i = 0; i < slots.size(); ++i) w[i] = data[slots[i]];
  return w;
}

/// The factor of every term on every row of the batch: term i's factor on
/// row r is data[i][r · stride[i]] (stride 0: one factor for all rows, a
/// node's path weight; stride 1: a [N] vector, drop-path's per-sample
/// scale).
template <typename T>
struct TermScales {
  std::vector<const T*> data;
  std::vector<int64_t> stride;
  T at(size_t i, int64_t row) const { return data[i][row * stride[i]]; }
};

/// Scalar factors, one per term, as TermScales.
template <typename T>
TermScales<T> scalar_scales(const std::vector<T>& w) {
  TermScales<T> s;
  for (const T& value : w) {
    s.data.push_back(&value);
    s.stride.push_back(0);
  }
  return s;
}

/// The elements of one row when a factor varies by row, else all n: scalar
/// factors need no split (and 0-dim terms have no rows).
template <typename T>
int64_t row_length(const TermScales<T>& scales, const torch::Tensor& t) {
  const bool by_row = std::any_of(scales.stride.begin(), scales.stride.end(), [](int64_t s) { return s != 0; });
  return by_row ? t.numel() / t.size(0) : std::max<int64_t>(t.numel(), 1);
}

/// Calls f(row, lo, hi) for the pieces of [lo, hi) that lie in one row of
/// `per_row` elements each.
template <typename F>
void for_each_row_piece(int64_t lo, int64_t hi, int64_t per_row, F&& f) {
  for (int64_t begin = lo; begin < hi;) {
    const int64_t row = begin / per_row;
    const int64_t end = std::min(hi, (row + 1) * per_row);
    f(row, begin, end);
    begin = end;
  }
}

/// Σ_i w_i·y_i in the ATen expression's order, ((w0·y0 + w1·y1) + w2·y2) +
/// ..., the first two terms in one pass. The factors are always applied: on
/// a Gumbel path every weight is 1 in value (one-hot − p + p), as is an
/// identity edge's drop-path scale, and 1·y is y in IEEE arithmetic, so the
/// bits are those of the plain sum, and the loop is bound by memory, not by
/// the multiplications.
template <typename T>
torch::Tensor run_forward(const std::vector<torch::Tensor>& terms, const TermScales<T>& scales) {
  auto out = at::empty_like(terms[0]);
  const int64_t n = out.numel(), per_row = row_length(scales, terms[0]);
  std::vector<const T*> in;
  for (const auto& t : terms) in.push_back(t.data_ptr<T>());
  T* o = out.data_ptr<T>();
  const auto sum_piece = [&](int64_t row, int64_t lo, int64_t hi) {
    const T* y0 = in[0];
    const T w0 = scales.at(0, row);
    if (in.size() == 1) {
      for (int64_t e = lo; e < hi; ++e) o[e] = w0 * y0[e];
      return;
    }
    const T* y1 = in[1];
    const T w1 = scales.at(1, row);
    for (int64_t e = lo; e < hi; ++e) o[e] = w0 * y0[e] + w1 * y1[e];
    for (size_t i = 2; i < in.size(); ++i) {
      const T* y = in[i];
      const T wi = scales.at(i, row);
      for (int64_t e = lo; e < hi; ++e) o[e] = o[e] + wi * y[e];
    }
  };
  at::parallel_for(0, chunk_count(n), 1, [&](int64_t begin, int64_t end) {
    for (int64_t chunk = begin; chunk < end; ++chunk) {
      for_each_row_piece(chunk * kChunk, std::min(n, (chunk + 1) * kChunk), per_row, sum_piece);
    }
  });
  return out;
}

/// One pass over the output gradient g: grad_y[i] = w[i]·g (row by row) for
/// the terms that need it (grad_y[i] defined on entry, to be filled), and
/// dots[i] = Σ g·y_i for the terms whose weight needs a gradient (y[i]
/// defined).
template <typename T>
void run_backward(const torch::Tensor& g, const TermScales<T>& w, std::vector<torch::Tensor>& grad_y,
                  const std::vector<torch::Tensor>& y, std::vector<double>& dots) {
  const int64_t n = g.numel(), chunks = chunk_count(n), per_row = row_length(w, g);
  const size_t terms = w.data.size();
  dots.assign(terms, 0.0);
  const auto defined = [](const torch::Tensor& t) { return t.defined(); };
  if (std::none_of(grad_y.begin(), grad_y.end(), defined) && std::none_of(y.begin(), y.end(), defined)) return;
  const T* gd = g.data_ptr<T>();
  std::vector<T*> out(terms, nullptr);
  std::vector<const T*> in(terms, nullptr);
  for (size_t i = 0; i < terms; ++i) {
    if (grad_y[i].defined()) out[i] = grad_y[i].data_ptr<T>();
    if (y[i].defined()) in[i] = y[i].data_ptr<T>();
  }
  std::vector<double> partials(static_cast<size_t>(chunks) * terms, 0.0);
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t chunk = begin; chunk < end; ++chunk) {
      const int64_t lo = chunk * kChunk, hi = std::min(n, lo + kChunk);
      for (size_t i = 0; i < terms; ++i) {
        if (out[i] != nullptr) {
          T* gi = out[i];
          for_each_row_piece(lo, hi, per_row, [&](int64_t row, int64_t piece_lo, int64_t piece_hi) {
            const T wi = w.at(i, row);
            for (int64_t e = piece_lo; e < piece_hi; ++e) gi[e] = wi * gd[e];
          });
        }
        if (in[i] != nullptr) {
          const T* yi = in[i];
          double sum = 0;
#pragma omp simd reduction(+ : sum)
          for (int64_t e = lo; e < hi; ++e) sum += static_cast<double>(gd[e]) * static_cast<double>(yi[e]);
          partials[static_cast<size_t>(chunk) * terms + i] = sum;
        }
      }
    }
  });
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    for (size_t i = 0; i < terms; ++i) dots[i] += partials[static_cast<size_t>(chunk) * terms + i];
  }
}

/// The kernels' backward: grads[i] for the terms that need one (g itself
/// where the term's weight is exactly 1, as on a Gumbel path, else w·g) and
/// the dots <g, y_i> for the terms in y (defined where the weights need a
/// gradient).
template <typename T>
std::vector<double> kernel_backward(const torch::Tensor& g, const torch::Tensor& w, const std::vector<int64_t>& slots,
                                    const std::vector<bool>& needs_grad, const std::vector<torch::Tensor>& y,
                                    variable_list& grads) {
  const auto weights = term_weights<T>(w, slots);
  std::vector<torch::Tensor> grad_y(weights.size());
  for (size_t i = 0; i < weights.size(); ++i) {
    if (!needs_grad[i]) continue;
    grads[i] = weights[i] == T(1) ? g : (grad_y[i] = at::empty_like(g));
  }
  std::vector<double> dots;
  run_backward<T>(g, scalar_scales(weights), grad_y, y, dots);
  return dots;
}

/// The node with ATen ops: what the kernels compute, and the fallback.
torch::Tensor aten_node_sum(const std::vector<torch::Tensor>& terms, const torch::Tensor& weights,
                            const std::vector<int64_t>& slots) {
  const auto flat = weights.defined() ? weights.reshape({-1}) : torch::Tensor();
  torch::Tensor sum;
  for (size_t i = 0; i < terms.size(); ++i) {
    const auto term = flat.defined() ? terms[i] * flat[slots[i]] : terms[i];
    sum = sum.defined() ? sum + term : term;
  }
  return sum;
}

class NodeSumFunction : public torch::autograd::Function<NodeSumFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, torch::TensorList term_list,
                               const c10::optional<torch::Tensor>& weights, const std::vector<int64_t>& slots) {
    const std::vector<torch::Tensor> terms(term_list.begin(), term_list.end());
    const auto w = weights.value_or(torch::Tensor());
    const auto layout = shared_layout(terms);
    ctx->saved_data["slots"] = slots;
    ctx->saved_data["terms"] = static_cast<int64_t>(terms.size());
    ctx->saved_data["channels_last"] = *layout == torch::MemoryFormat::ChannelsLast;
    // Nothing is saved without weights; the terms are needed for the
    // weights' gradient only.
    std::vector<torch::Tensor> saved;
    if (w.defined()) {
      saved.push_back(w);
      if (w.requires_grad()) saved.insert(saved.end(), terms.begin(), terms.end());
    }
    ctx->save_for_backward(saved);
    if (terms[0].scalar_type() == torch::kDouble) {
      const auto values = term_weights<double>(w, slots);
      return run_forward<double>(terms, scalar_scales(values));
    }
    const auto values = term_weights<float>(w, slots);
    return run_forward<float>(terms, scalar_scales(values));
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto slots = ctx->saved_data["slots"].toIntVector();
    const auto count = static_cast<size_t>(ctx->saved_data["terms"].toInt());
    const auto saved = ctx->get_saved_variables();
    const bool weighted = !saved.empty();
    const torch::Tensor w = weighted ? saved[0] : torch::Tensor();
    const bool terms_saved = saved.size() > 1;
    const bool weight_grad = weighted && ctx->needs_input_grad(count);
    const auto& g_in = grad_outputs[0];

    variable_list grads(count + 2);
    if (torch::GradMode::is_enabled()) {
      // create_graph: ATen ops, whose results carry their history.
      for (size_t i = 0; i < count; ++i) {
        if (ctx->needs_input_grad(i)) grads[i] = weighted ? g_in * w.reshape({-1})[slots[i]] : g_in;
      }
      if (weight_grad) {
        std::vector<torch::Tensor> dots;
        for (size_t i = 0; i < count; ++i) dots.push_back((g_in * saved[1 + i]).sum());
        const auto index = torch::tensor(slots, torch::kLong);
        grads[count] = torch::zeros({w.numel()}, w.options()).index_add(0, index, torch::stack(dots)).view_as(w);
      }
      return grads;
    }
    const auto format =
        ctx->saved_data["channels_last"].toBool() ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
    const auto g = g_in.contiguous(format);
    std::vector<bool> needs_grad(count);
    std::vector<torch::Tensor> y(count);
    for (size_t i = 0; i < count; ++i) {
      needs_grad[i] = ctx->needs_input_grad(i);
      if (weight_grad && terms_saved) y[i] = saved[1 + i];
    }
    const auto dots = g.scalar_type() == torch::kDouble ? kernel_backward<double>(g, w, slots, needs_grad, y, grads)
                                                        : kernel_backward<float>(g, w, slots, needs_grad, y, grads);
    if (weight_grad) {
      auto grad_w = torch::zeros({w.numel()}, w.options().dtype(torch::kDouble));
      auto* data = grad_w.data_ptr<double>();
      for (size_t i = 0; i < count; ++i) data[slots[i]] += dots[i];
      grads[count] = grad_w.to(w.scalar_type()).view_as(w);
    }
    return grads;
  }
};

/// The per-sample factors of every term, as TermScales over `scales`
/// ([terms, N], contiguous).
template <typename T>
TermScales<T> row_scales(const torch::Tensor& scales) {
  TermScales<T> s;
  const T* data = scales.data_ptr<T>();
  for (int64_t i = 0; i < scales.size(0); ++i) {
    s.data.push_back(data + i * scales.size(1));
    s.stride.push_back(1);
  }
  return s;
}

/// scales[i] shaped to broadcast over the rows of a term of `dim` dimensions.
torch::Tensor per_row(const torch::Tensor& scales, size_t i, int64_t dim) {
  std::vector<int64_t> shape(static_cast<size_t>(dim), 1);
  shape[0] = -1;
  return scales[static_cast<int64_t>(i)].view(shape);
}

/// The row-scaled sum with ATen ops: what the kernels compute, and the
/// fallback.
torch::Tensor aten_row_scaled_sum(const std::vector<torch::Tensor>& terms, const torch::Tensor& scales) {
  torch::Tensor sum;
  for (size_t i = 0; i < terms.size(); ++i) {
    const auto term = terms[i] * per_row(scales, i, terms[i].dim());
    sum = sum.defined() ? sum + term : term;
  }
  return sum;
}

class RowScaledSumFunction : public torch::autograd::Function<RowScaledSumFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, torch::TensorList term_list, const torch::Tensor& scales) {
    const std::vector<torch::Tensor> terms(term_list.begin(), term_list.end());
    ctx->saved_data["channels_last"] = *shared_layout(terms) == torch::MemoryFormat::ChannelsLast;
    ctx->saved_data["dim"] = terms[0].dim();
    ctx->save_for_backward({scales});
    if (terms[0].scalar_type() == torch::kDouble) return run_forward<double>(terms, row_scales<double>(scales));
    return run_forward<float>(terms, row_scales<float>(scales));
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto scales = ctx->get_saved_variables()[0];
    const auto count = static_cast<size_t>(scales.size(0));
    const auto& g_in = grad_outputs[0];
    variable_list grads(count + 1);
    if (torch::GradMode::is_enabled()) {
      // create_graph: ATen ops, whose results carry their history.
      const int64_t dim = ctx->saved_data["dim"].toInt();
      for (size_t i = 0; i < count; ++i) {
        if (ctx->needs_input_grad(i)) grads[i] = g_in * per_row(scales, i, dim);
      }
      return grads;
    }
    const auto format =
        ctx->saved_data["channels_last"].toBool() ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
    const auto g = g_in.contiguous(format);
    std::vector<torch::Tensor> grad_y(count);
    for (size_t i = 0; i < count; ++i) {
      if (ctx->needs_input_grad(i)) grads[i] = grad_y[i] = at::empty_like(g);
    }
    std::vector<double> unused;
    const std::vector<torch::Tensor> no_dots(count);
    if (g.scalar_type() == torch::kDouble) {
      run_backward<double>(g, row_scales<double>(scales), grad_y, no_dots, unused);
    } else {
      run_backward<float>(g, row_scales<float>(scales), grad_y, no_dots, unused);
    }
    return grads;
  }
};

}  // namespace

bool node_sum_uses_kernels(const std::vector<torch::Tensor>& terms, const torch::Tensor& weights) {
  if (terms.empty()) return false;
  for (const auto& t : terms) {
    if (!t.defined() || !t.device().is_cpu() || t.layout() != torch::kStrided || t.numel() == 0) return false;
    if (t.scalar_type() != terms[0].scalar_type()) return false;
  }
  const auto dtype = terms[0].scalar_type();
  if (dtype != torch::kFloat && dtype != torch::kDouble) return false;
  if (weights.defined() && (!weights.device().is_cpu() || weights.scalar_type() != dtype)) return false;
  return shared_layout(terms).has_value();
}

torch::Tensor node_sum(const std::vector<torch::Tensor>& terms, const torch::Tensor& weights,
                       const std::vector<int64_t>& slots) {
  core::check(!terms.empty() && terms.size() == slots.size(), "node_sum: {} terms and {} slots; expected as many, >= 1",
              terms.size(), slots.size());
  if (weights.defined()) {
    for (const auto slot : slots) {
      core::check(slot >= 0 && slot < weights.numel(), "node_sum: slot {}; expected 0..{} (the weights' entries)", slot,
                  weights.numel() - 1);
    }
  }
  if (!node_sum_uses_kernels(terms, weights)) return aten_node_sum(terms, weights, slots);
  return NodeSumFunction::apply(torch::TensorList(terms),
                                weights.defined() ? c10::optional<torch::Tensor>(weights) : c10::nullopt, slots);
}

}  // namespace daas::nas

namespace daas::nas {

torch::Tensor row_scaled_sum(const std::vector<torch::Tensor>& terms, const torch::Tensor& scales) {
  core::check(!terms.empty() && terms[0].dim() >= 1, "row_scaled_sum: {} terms; expected at least one with rows",
              terms.size());
  const int64_t rows = terms[0].size(0), count = static_cast<int64_t>(terms.size());
  core::check(scales.dim() == 2 && scales.size(0) == count && scales.size(1) == rows,
              "row_scaled_sum: scales of shape [{}]; expected [{}, {}] (a factor per term and row)",
              fmt::join(scales.sizes(), ", "), count, rows);
  core::check(!scales.requires_grad(), "row_scaled_sum: scales that require a gradient; expected constant factors");
  const bool kernels = node_sum_uses_kernels(terms, torch::Tensor()) && scales.device().is_cpu() &&
                       scales.scalar_type() == terms[0].scalar_type();
  if (!kernels) return aten_row_scaled_sum(terms, scales);
  return RowScaledSumFunction::apply(torch::TensorList(terms), scales.contiguous());
}

}  // namespace daas::nas
