#include "daas/search/step.h"

#include <torch/torch.h>

#include "daas/augment/pipeline.h"
#include "daas/core/error.h"
#include "daas/search/search.h"
#include "daas/train/loss.h"

namespace daas::search {
namespace {

namespace F = torch::nn::functional;

std::vector<torch::Tensor> clone_all(const std::vector<torch::Tensor>& tensors) {
  std::vector<torch::Tensor> out;
  out.reserve(tensors.size());
  for (const auto& t : tensors) out.push_back(t.detach().clone());
  return out;
}

void copy_all(const std::vector<torch::Tensor>& from, std::vector<torch::Tensor>& to) {
  for (size_t i = 0; i < to.size(); ++i) to[i].detach().copy_(from[i]);
}

torch::Tensor per_image_loss(SearchModel& model, const torch::Tensor& x, const torch::Tensor& y) {
  return F::cross_entropy(model.forward(x, /*arch_graph=*/false), y,
                          F::CrossEntropyFuncOptions().reduction(torch::kNone));
}

/// Drops the gradients (PyTorch's zero_grad(set_to_none=True)): weights off
/// this step's path then get no weight decay or momentum update, and a resumed
/// run, whose gradients start undefined, continues exactly.
void clear_grads(const std::vector<torch::Tensor>& params) {
  for (auto param : params) param.mutable_grad() = torch::Tensor();
}

}  // namespace

void StepTotals::add(const StepStats& stats) {
  train_loss += stats.train_loss;
  val_loss += stats.val_loss;
  advantage_std += stats.policy_advantage_std;
  train_correct += stats.train_correct;
  val_correct += stats.val_correct;
  images += stats.images;
  steps += 1;
}

std::string StepTotals::summary() const {
  if (steps == 0) return {};
  return fmt::format("loss {:.3f} acc {:.1f}% | val loss {:.3f} acc {:.1f}%", train_loss / steps,
                     100.0 * train_correct / images, val_loss / steps, 100.0 * val_correct / images);
}

nlohmann::json StepTotals::to_json() const {
  const double n = std::max<int64_t>(steps, 1);
  const double m = std::max<int64_t>(images, 1);
  return {{"train_loss", train_loss / n},
          {"train_acc", train_correct / m},
          {"val_loss", val_loss / n},
          {"val_acc", val_correct / m},
          {"advantage_std", advantage_std / n}};
}

torch::Tensor directional_derivatives(SearchModel& model, const std::vector<torch::Tensor>& v, const torch::Tensor& x,
                                      const torch::Tensor& y, double epsilon) {
  auto weights = model.weight_parameters();
  std::vector<torch::Tensor> squares;
  for (const auto& g : v) {
    if (g.defined()) squares.push_back(g.pow(2).sum().to(torch::kFloat64));
  }
  if (squares.empty()) return {};
  const double norm = std::sqrt(torch::stack(squares).sum().item<double>());  // one device sync
  if (!(norm > 0) || !std::isfinite(norm)) return {};
  const double eps = epsilon / norm;
  torch::NoGradGuard no_grad;
  const auto saved_weights = clone_all(weights);
  auto buffers = model.module().buffers();
  const auto saved_buffers = clone_all(buffers);
  auto shift = [&](double scale) {
    copy_all(saved_weights, weights);
    for (size_t i = 0; i < weights.size(); ++i) {
      if (v[i].defined()) weights[i].detach().add_(v[i], scale);
    }
  };
  shift(eps);
  const auto plus = per_image_loss(model, x, y);
  shift(-eps);
  const auto minus = per_image_loss(model, x, y);
  copy_all(saved_weights, weights);
  copy_all(saved_buffers, buffers);
  return (plus - minus).div_(2.0 * eps);
}

torch::Tensor policy_surrogate(const torch::Tensor& d, const torch::Tensor& log_prob, double eta, bool normalize) {
  auto advantage = (d - d.mean()).detach().to(log_prob.device(), log_prob.scalar_type());
  if (normalize && advantage.numel() > 1) {
    // A positive scale per step: this step's direction is unchanged, but a
    // few early steps with huge gradient norms no longer fill Adam's second
    // moment and freeze the later, informative steps.
    advantage = advantage / advantage.std().clamp_min(1e-12);
  }
  return -eta * (advantage * log_prob).mean();
}

StepStats search_step(StepContext& context, Batch& train, Batch& val, double lr, int64_t epoch, int64_t step,
                      torch::optim::SGD& weight_optimizer, torch::optim::Adam* arch_optimizer,
                      torch::optim::Adam* policy_optimizer) {
  StepStats stats;
  const auto& options = context.options;
  auto& model = context.model;
  // 1. Augmentation draw for the train images, and the step's path.
  augment::PolicySample sample;
  torch::Tensor augmented;
  // The ops run on the model's device (DESIGN 2.3); their draws come from the CPU generator.
  const auto images = train.images.to(context.device);
  if (context.policy) {
    sample = context.policy->sample(images.size(0), context.rng);
    augmented = context.policy->apply(images, sample, context.rng);
  } else {
    augmented = context.fixed_policy->apply(images, context.rng);
  }
  const auto x = augment::normalize(augmented.to(context.device), context.mean, context.std);
  const auto y = train.labels.to(context.device);
  const auto x_val = augment::normalize(val.images.to(context.device), context.mean, context.std);
  const auto y_val = val.labels.to(context.device);
  model.begin_step(context.rng);
  auto weights = model.weight_parameters();
  auto alphas = model.arch_parameters();

  // 2. Architecture step: one backward gives ∇_α L_val and v = ∇_w L_val.
  clear_grads(weights);
  clear_grads(alphas);
  const auto val_logits = model.forward(x_val, /*arch_graph=*/arch_optimizer != nullptr);
  const auto val_loss = F::cross_entropy(val_logits, y_val);
  train::check_finite(val_loss, "validation loss", epoch + 1, step + 1);
  val_loss.backward();
  if (arch_optimizer != nullptr) arch_optimizer->step();
  stats.val_loss = val_loss.item<double>();
  stats.val_correct = train::correct_top_k(val_logits.detach(), y_val, 1);

  // 3. Policy step through the one-step unroll.
  if (context.policy) {
    std::vector<torch::Tensor> v;
    for (const auto& w : weights) v.push_back(w.grad().defined() ? w.grad().detach().clone() : torch::Tensor());
    const auto d = directional_derivatives(model, v, x, y, options.unroll_epsilon);
    if (d.defined()) {
      check(torch::isfinite(d).all().item<bool>(), "policy gradient is not finite at epoch {}, step {}", epoch + 1,
            step + 1);
      policy_optimizer->zero_grad();
      policy_surrogate(d, context.policy->log_prob(sample), lr, options.policy_advantage == "normalized").backward();
      policy_optimizer->step();
      stats.policy_advantage_std = d.std().item<double>();
    }
  }

  // 4. Weight step on the augmented batch, same path, no graph to α.
  clear_grads(weights);
  clear_grads(alphas);
  const auto logits = model.forward(x, /*arch_graph=*/false);
  const auto loss = F::cross_entropy(logits, y);
  train::check_finite(loss, "training loss", epoch + 1, step + 1);
  loss.backward();
  if (options.grad_clip > 0) torch::nn::utils::clip_grad_norm_(weights, options.grad_clip);
  weight_optimizer.step();
  stats.train_loss = loss.item<double>();
  stats.train_correct = train::correct_top_k(logits.detach(), y, 1);
  stats.images = y.size(0);
  return stats;
}

}  // namespace daas::search
