#include "daas/nas/batch_norm.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "daas/core/error.h"
#include "daas/core/parallel.h"
#include "kernel_support.h"

namespace daas::nas {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// x as [rows, C] with C contiguous: a view for channels-last tensors.
torch::Tensor rows_by_channel(const torch::Tensor& x) { return x.permute({0, 2, 3, 1}).reshape({-1, x.size(1)}); }

/// Float, on the CPU, channels-last: the layout the loops below read directly
/// (one pass each, where ATen would need several ops and temporaries).
bool plain_rows(const torch::Tensor& x) {
  return x.device().is_cpu() && x.scalar_type() == torch::kFloat && x.is_contiguous(torch::MemoryFormat::ChannelsLast);
}

/// Per-channel Σ(a − a_shift) into `first` and Σ(a − a_shift)·(b − b_shift)
/// into `second`, over rows. The shifts bring the values near zero first, so
/// that a large mean against a small spread (a constant image background)
/// does not cancel away the digits of the spread.
void channel_sums(const float* a, const float* a_shift, const float* b, const float* b_shift, int64_t rows, int64_t C,
                  double* first, double* second) {
  detail::chosen_batch_norm_kernels().moments(a, a_shift, b, b_shift, rows, C, first, second);
}

/// [Σx, M2 + (Σx)²/n] per channel and then n, double [2C + 1], where M2 =
/// Σ(x − x̄)² over this rank's n rows: all add up over the ranks, and the
/// whole batch's variance is then ΣQ/N − (Σx/N)², whose cancellation double
/// absorbs.
torch::Tensor local_moments(const torch::Tensor& x) {
  const int64_t C = x.size(1);
  const int64_t n = x.numel() / C;
  const auto count = torch::full({1}, static_cast<double>(n), torch::kFloat64);
  if (n == 0) return torch::cat({torch::zeros({2 * C}, torch::kFloat64), count});
  if (!plain_rows(x)) {
    const auto rows = rows_by_channel(x).to(torch::kFloat64);
    const auto sum = rows.sum(0);
    const auto m2 = (rows - sum / static_cast<double>(n)).square().sum(0);
    return torch::cat({sum, m2 + sum.square() / static_cast<double>(n), count});
  }
  // Shifted by the first row: near the mean wherever most pixels share a value.
  const float* data = x.data_ptr<float>();
  std::vector<float> shift(data, data + C);
  std::vector<double> shifted(static_cast<size_t>(C)), squares(static_cast<size_t>(C));
  channel_sums(data, shift.data(), data, shift.data(), n, C, shifted.data(), squares.data());
  auto out = torch::empty({2 * C + 1}, torch::kFloat64);
  auto* o = out.data_ptr<double>();
  const double rows = static_cast<double>(n);
  o[2 * C] = rows;
  for (int64_t c = 0; c < C; ++c) {
    const double s1 = shifted[static_cast<size_t>(c)];
    const double sum = rows * shift[static_cast<size_t>(c)] + s1;
    const double m2 = std::max(0.0, squares[static_cast<size_t>(c)] - s1 * s1 / rows);
    o[c] = sum;
    o[C + c] = m2 + sum * sum / rows;
  }
  return out;
}

/// [Σdy, Σdy·(x − mean)] per channel, double [2C]; dy in x's layout, mean [C]
/// in x's dtype.
torch::Tensor local_grad_moments(const torch::Tensor& dy, const torch::Tensor& x, const torch::Tensor& mean) {
  const int64_t C = x.size(1);
  if (!plain_rows(x) || !plain_rows(dy)) {
    const auto dy_rows = rows_by_channel(dy).to(torch::kFloat64);
    const auto centred = rows_by_channel(x).to(torch::kFloat64) - mean.to(torch::kFloat64);
    return torch::cat({dy_rows.sum(0), (dy_rows * centred).sum(0)});
  }
  auto out = torch::zeros({2 * C}, torch::kFloat64);
  auto* o = out.data_ptr<double>();
  const std::vector<float> zero(static_cast<size_t>(C), 0.0f);
  const auto mean_f = mean.contiguous();
  channel_sums(dy.data_ptr<float>(), zero.data(), x.data_ptr<float>(), mean_f.data_ptr<float>(), x.numel() / C, C, o,
               o + C);
  return out;
}

/// per_channel_affine on plain rows, the per-channel values as [C] arrays
/// (gain null when a is undefined).
torch::Tensor plain_affine(const torch::Tensor& a, const torch::Tensor& x, const float* centre, const float* scale,
                           const float* shift, const float* gain) {
  const int64_t C = x.size(1);
  auto out = torch::empty_like(x, torch::MemoryFormat::ChannelsLast);
  const int64_t rows = x.numel() / C;
  const auto& kernels = detail::chosen_batch_norm_kernels();
  if (!a.defined()) {
    kernels.affine(x.data_ptr<float>(), centre, scale, shift, rows, C, out.data_ptr<float>());
  } else {
    kernels.affine_from(a.data_ptr<float>(), x.data_ptr<float>(), centre, scale, shift, gain, rows, C,
                        out.data_ptr<float>());
  }
  return out;
}

/// (a − (x − centre)·scale − shift)·gain per channel (a undefined:
/// (x − centre)·scale + shift), in x's layout; centre, scale, shift, gain:
/// [C] in x's dtype. Centring first keeps the digits of the spread.
torch::Tensor per_channel_affine(const torch::Tensor& a, const torch::Tensor& x, const torch::Tensor& centre,
                                 const torch::Tensor& scale, const torch::Tensor& shift, const torch::Tensor& gain) {
  const int64_t C = x.size(1);
  if (!plain_rows(x) || (a.defined() && !plain_rows(a))) {
    const auto view = [&](const torch::Tensor& t) { return t.view({1, C, 1, 1}); };
    const auto centred = x - view(centre);
    if (!a.defined()) return centred * view(scale) + view(shift);
    return (a - centred * view(scale) - view(shift)) * view(gain);
  }
  return plain_affine(a, x, centre.data_ptr<float>(), scale.data_ptr<float>(), shift.data_ptr<float>(),
                      a.defined() ? gain.data_ptr<float>() : nullptr);
}

/// Sums over the calling rank's team and over the processes of the run
/// (daas/core/parallel.h). BatchNorm's backward runs on the thread that
/// called backward(), which is the rank's own thread inside WorkerTeam::run.
void all_reduce_over_team(torch::Tensor& sums) { core::all_reduce_over_ranks(sums); }

/// Float [C] on the CPU, contiguous (or absent): per-channel values the
/// plain path reads and writes directly.
bool plain_vector(const torch::Tensor* t, int64_t C) {
  return t == nullptr ||
         (t->device().is_cpu() && t->scalar_type() == torch::kFloat && t->is_contiguous() && t->numel() == C);
}

// The per-channel arithmetic of the plain path in loops over C: as a chain
// of ATen ops on [C] tensors it was about twenty dispatches a forward and
// fifteen a backward, which at C 8 to 64 cost more than the arithmetic
// (measured: 10% of a search step in BatchNorm, much of it in such ops).
// The same double operations in the same order as the ATen chain.

/// y of the forward; saves what the backward needs; updates the running
/// statistics. `sums` [2C + 1]: the all-reduced [Σx, Q] and row count.
torch::Tensor plain_forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                            const torch::Tensor& bias, torch::Tensor* running_mean, torch::Tensor* running_var,
                            double momentum, double eps, const torch::Tensor& sums) {
  const int64_t C = x.size(1);
  const double* s = sums.data_ptr<double>();
  const double count = s[2 * C];
  auto mean_f = torch::empty({C}, x.options()), var_f = torch::empty({C}, x.options());
  std::vector<float> scale(static_cast<size_t>(C));
  float* mf = mean_f.data_ptr<float>();
  float* vf = var_f.data_ptr<float>();
  const float* gamma = weight.data_ptr<float>();
  std::vector<double> var(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    const double mean = s[c] / count;
    const double v = s[C + c] / count - mean * mean;
    var[c] = v < 0 ? 0.0 : v;  // clamp_min(0), NaN kept
    mf[c] = static_cast<float>(mean);
    vf[c] = static_cast<float>(var[c]);
    scale[c] = static_cast<float>(1.0 / std::sqrt(var[c] + eps) * static_cast<double>(gamma[c]));
  }
  // running = running·(1 − momentum) + momentum·batch in float, as ATen's
  // mul_ and add_ (up to the last bit: ATen's vectorised add_ fuses the
  // multiply-add). Written in place, so the version counter is bumped as an
  // in-place op would.
  const auto keep = static_cast<float>(1 - momentum), rate = static_cast<float>(momentum);
  if (running_mean != nullptr) {
    float* r = running_mean->data_ptr<float>();
    for (int64_t c = 0; c < C; ++c) r[c] = r[c] * keep + rate * mf[c];
    torch::autograd::impl::bump_version(*running_mean);
  }
  if (running_var != nullptr && count > 1) {
    float* r = running_var->data_ptr<float>();
    for (int64_t c = 0; c < C; ++c) r[c] = r[c] * keep + rate * static_cast<float>(var[c] * (count / (count - 1)));
    torch::autograd::impl::bump_version(*running_var);
  }
  ctx->save_for_backward({x, weight, mean_f, var_f});
  ctx->saved_data["eps"] = eps;
  ctx->saved_data["count"] = count;
  return plain_affine({}, x, mf, scale.data(), bias.data_ptr<float>(), nullptr);
}

/// The backward's gradients (x, γ, β) on plain rows.
variable_list plain_backward(const torch::Tensor& dy, const torch::Tensor& x, const torch::Tensor& weight,
                             const torch::Tensor& mean, const torch::Tensor& var, double eps, double count) {
  const int64_t C = x.size(1);
  const float* vf = var.data_ptr<float>();
  const float* gamma = weight.data_ptr<float>();
  std::vector<double> invstd(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) invstd[c] = 1.0 / std::sqrt(static_cast<double>(vf[c]) + eps);
  auto totals = local_grad_moments(dy, x, mean);
  auto grad_weight = torch::empty({C}, weight.options()), grad_bias = torch::empty({C}, weight.options());
  {
    const double* local = totals.data_ptr<double>();
    float* gw = grad_weight.data_ptr<float>();
    float* gb = grad_bias.data_ptr<float>();
    for (int64_t c = 0; c < C; ++c) {
      gw[c] = static_cast<float>(local[C + c] * invstd[c]);
      gb[c] = static_cast<float>(local[c]);
    }
  }
  all_reduce_over_team(totals);
  const double* t = totals.data_ptr<double>();
  std::vector<float> mean_dy(static_cast<size_t>(C)), b(static_cast<size_t>(C)), gain(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    mean_dy[c] = static_cast<float>(t[c] / count);
    b[c] = static_cast<float>(t[C + c] * (invstd[c] * invstd[c]) / count);
    gain[c] = static_cast<float>(invstd[c] * static_cast<double>(gamma[c]));
  }
  const auto grad_x = plain_affine(dy, x, mean.data_ptr<float>(), b.data(), mean_dy.data(), gain.data());
  return {grad_x, grad_weight, grad_bias, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
}

struct SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, torch::Tensor* running_mean, torch::Tensor* running_var,
                               double momentum, double eps) {
    const int64_t C = x.size(1);
    // Per-rank sums in double (local_moments), so that the variance, taken
    // as E[x²] − E[x]² over the ranks, keeps the digits of the spread.
    auto sums = local_moments(x);
    all_reduce_over_team(sums);
    if (plain_rows(x) && plain_vector(&weight, C) && plain_vector(&bias, C) && plain_vector(running_mean, C) &&
        plain_vector(running_var, C)) {
      torch::NoGradGuard no_grad;
      return plain_forward(ctx, x, weight, bias, running_mean, running_var, momentum, eps, sums);
    }
    const double count = sums[2 * C].item<double>();
    const auto mean = sums.slice(0, 0, C) / count;
    const auto var = (sums.slice(0, C, 2 * C) / count - mean.square()).clamp_min(0);
    const auto mean_f = mean.to(x.scalar_type()), var_f = var.to(x.scalar_type());
    {
      torch::NoGradGuard no_grad;
      if (running_mean != nullptr) running_mean->mul_(1 - momentum).add_(mean_f, momentum);
      if (running_var != nullptr && count > 1) {
        running_var->mul_(1 - momentum).add_((var * (count / (count - 1))).to(x.scalar_type()), momentum);
      }
    }
    ctx->save_for_backward({x, weight, mean_f, var_f});
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["count"] = count;
    // y = (x − mean)·invstd·γ + β.
    const auto scale = (var + eps).rsqrt() * weight.to(torch::kFloat64);
    const auto dtype = x.scalar_type();
    return per_channel_affine({}, x, mean_f, scale.to(dtype), bias.to(dtype), {});
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &weight = saved[1], &mean = saved[2], &var = saved[3];
    const double eps = ctx->saved_data["eps"].toDouble();
    const double count = ctx->saved_data["count"].toDouble();
    const int64_t C = x.size(1);
    const auto dy = grad_outputs[0].contiguous(x.suggest_memory_format());
    if (plain_rows(x) && plain_rows(dy) && plain_vector(&weight, C) && plain_vector(&mean, C) &&
        plain_vector(&var, C)) {
      return plain_backward(dy, x, weight, mean, var, eps, count);
    }
    const auto invstd = (var.to(torch::kFloat64) + eps).rsqrt();
    // Local Σdy and Σdy·(x − mean): this rank's share of γ's and β's
    // gradients; their all-reduced sums give the input gradient.
    const auto local = local_grad_moments(dy, x, mean);
    const auto sum_dy = local.slice(0, 0, C);
    const auto sum_dy_xmu = local.slice(0, C, 2 * C);
    const auto grad_weight = (sum_dy_xmu * invstd).to(weight.scalar_type());
    const auto grad_bias = sum_dy.to(weight.scalar_type());
    auto totals = torch::cat({sum_dy, sum_dy_xmu});
    all_reduce_over_team(totals);
    // dx = γ·invstd·(dy − mean(dy) − x̂·mean(dy·x̂)), x̂ = (x − mean)·invstd
    //    = (dy − (x − mean)·b − mean(dy))·γ·invstd, b = invstd·mean(dy·x̂).
    const auto mean_dy = totals.slice(0, 0, C) / count;
    const auto b = totals.slice(0, C, 2 * C) * invstd.square() / count;
    const auto dtype = x.scalar_type();
    const auto grad_x = per_channel_affine(dy, x, mean, b.to(dtype), mean_dy.to(dtype),
                                           (invstd * weight.to(torch::kFloat64)).to(dtype));
    return {grad_x, grad_weight, grad_bias, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sync_batch_norm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                              torch::Tensor running_mean, torch::Tensor running_var, double momentum, double eps) {
  core::check(x.dim() == 4, "sync_batch_norm input: {} dimensions; expected [N, C, H, W]", x.dim());
  for (const auto& [name, t] : {std::pair<const char*, const torch::Tensor&>{"weight", weight},
                                {"bias", bias},
                                {"running_mean", running_mean},
                                {"running_var", running_var}}) {
    core::check(!t.defined() || t.numel() == x.size(1), "sync_batch_norm {}: {} values; expected one per channel ({})",
                name, t.defined() ? t.numel() : 0, x.size(1));
  }
  // A custom autograd function takes defined tensors only: a non-affine
  // BatchNorm is the affine one with γ = 1, β = 0 (whose gradients are dropped).
  const auto options = x.options().requires_grad(false);
  const auto gamma = weight.defined() ? weight : torch::ones({x.size(1)}, options);
  const auto beta = bias.defined() ? bias : torch::zeros({x.size(1)}, options);
  return SyncBatchNormFunction::apply(x, gamma, beta, running_mean.defined() ? &running_mean : nullptr,
                                      running_var.defined() ? &running_var : nullptr, momentum, eps);
}

BatchNormImpl::BatchNormImpl(torch::nn::BatchNormOptions options) : options(std::move(options)) { reset(); }

void BatchNormImpl::reset() {
  const int64_t C = options.num_features();
  core::check(C > 0, "BatchNorm: {} channels; expected at least 1", C);
  core::check(options.momentum().has_value(), "BatchNorm: cumulative moving average (momentum none) is not supported");
  if (options.affine()) {
    weight = register_parameter("weight", torch::ones({C}));
    bias = register_parameter("bias", torch::zeros({C}));
  }
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", torch::zeros({C}));
    running_var = register_buffer("running_var", torch::ones({C}));
    num_batches_tracked = register_buffer("num_batches_tracked", torch::tensor(0, torch::kLong));
  }
}

torch::Tensor BatchNormImpl::forward(const torch::Tensor& x) {
  core::check(x.dim() == 4 && x.size(1) == options.num_features(),
              "BatchNorm input: shape [{}]; expected [N, {}, H, W]", fmt::join(x.sizes(), ", "),
              options.num_features());
  const double momentum = options.momentum().value();
  const auto& shard = core::current_shard();
  const bool track = is_training() && options.track_running_stats();
  const bool update_running = track && !shard.freeze_running_stats;
  if (!is_training() || (shard.size == 1 && core::process_count() == 1 && !plain_rows(x))) {
    // LibTorch's fused kernel: evaluation, and one rank off the CPU's
    // channels-last float path. In training, LibTorch's channels-last CPU
    // kernel sums in float and is off by up to 1e-4 per layer, which the
    // backward pass through a deep cell stack grew to percents; the loops
    // below sum in double.
    if (update_running) {
      torch::NoGradGuard no_grad;
      num_batches_tracked += 1;
    }
    const bool stats = !is_training() || update_running;
    return torch::batch_norm(x, weight, bias, stats ? running_mean : torch::Tensor(),
                             stats ? running_var : torch::Tensor(), is_training() || !options.track_running_stats(),
                             momentum, options.eps(), /*cudnn_enabled=*/true);
  }
  torch::Tensor mean, var;
  if (update_running) {
    mean = running_mean;
    var = running_var;
    torch::NoGradGuard no_grad;
    num_batches_tracked += 1;
  }
  return sync_batch_norm(x, weight, bias, mean, var, momentum, options.eps());
}

bool BatchNormImpl::is_affine_map() const {
  return !is_training() && options.track_running_stats() && running_mean.defined() && running_var.defined();
}

std::pair<torch::Tensor, torch::Tensor> BatchNormImpl::affine_map() const {
  core::check(is_affine_map(), "BatchNorm: affine_map() outside evaluation with running statistics");
  auto scale = torch::rsqrt(running_var + options.eps());
  if (weight.defined()) scale = scale * weight;
  auto shift = -running_mean * scale;
  if (bias.defined()) shift = shift + bias;
  return {scale, shift};
}

void BatchNormImpl::pretty_print(std::ostream& stream) const {
  stream << "daas::nas::BatchNorm(" << options.num_features() << ", eps=" << options.eps()
         << ", momentum=" << options.momentum().value_or(0.1) << ", affine=" << options.affine() << ")";
}

}  // namespace daas::nas
