#include "daas/search/step.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>

#include "daas/augment/pipeline.h"
#include "daas/core/error.h"
#include "daas/core/json.h"
#include "daas/search/search.h"
#include "daas/train/loss.h"

namespace daas::search {
namespace {

namespace F = torch::nn::functional;

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

/// Rows of rank `rank`'s shard of a batch.
torch::Tensor shard_of(const torch::Tensor& batch, int64_t rank, int64_t size) {
  if (size == 1) return batch;
  const auto [begin, end] = core::shard_range(batch.size(0), rank, size);
  return batch.slice(0, begin, end);
}

/// Mean cross-entropy of the whole batch from one shard: Σ_shard / N, so the
/// ranks' losses and gradients add up to those of the whole batch.
torch::Tensor shard_loss(const torch::Tensor& logits, const torch::Tensor& y, int64_t batch_size) {
  return F::cross_entropy(logits, y, F::CrossEntropyFuncOptions().reduction(torch::kSum)) /
         static_cast<double>(batch_size);
}

/// Loss and top-1 count of a forward+backward over the ranks of this process
/// and over the processes of the run; `x` and `y` are this process's rows of
/// a global batch of `global_batch` rows. The master's gradients (weights,
/// and α through the path when `arch_graph`) end up those of the global batch.
/// Without `backward`, the forward alone (no graph, no gradients touched).
struct PhaseResult {
  double loss = 0;
  int64_t correct = 0;
};

PhaseResult forward_backward(StepRanks& ranks, SearchModel& master, const torch::Tensor& x, const torch::Tensor& y,
                             int64_t global_batch, bool arch_graph, bool backward = true) {
  const int64_t size = ranks.size();
  std::vector<double> losses(static_cast<size_t>(size));
  std::vector<int64_t> correct(static_cast<size_t>(size));
  ranks.team().run([&](int64_t rank) {
    auto& model = ranks.model(rank);
    const auto y_shard = shard_of(y, rank, size);
    if (!backward) {
      torch::NoGradGuard no_grad;
      const auto logits = model.forward(shard_of(x, rank, size), /*arch_graph=*/false);
      losses[static_cast<size_t>(rank)] = shard_loss(logits, y_shard, global_batch).item<double>();
      correct[static_cast<size_t>(rank)] = train::correct_top_k(logits, y_shard, 1);
      return;
    }
    clear_grads(model.weight_parameters());
    clear_grads(model.arch_parameters());
    for (const auto& leaf : model.path_leaves()) clear_grads({leaf});
    const auto logits = model.forward(shard_of(x, rank, size), arch_graph);
    const auto loss = shard_loss(logits, y_shard, global_batch);
    loss.backward();
    losses[static_cast<size_t>(rank)] = loss.item<double>();
    correct[static_cast<size_t>(rank)] = train::correct_top_k(logits.detach(), y_shard, 1);
  });
  PhaseResult result;
  for (int64_t r = 0; r < size; ++r) {
    result.loss += losses[static_cast<size_t>(r)];
    result.correct += correct[static_cast<size_t>(r)];
  }
  const auto weights = master.weight_parameters();
  if (backward && size > 1) {
    std::vector<std::vector<torch::Tensor>> weight_grads, leaf_grads;
    for (int64_t r = 0; r < size; ++r) {
      weight_grads.push_back(core::grads_of(ranks.model(r).weight_parameters()));
      leaf_grads.push_back(core::grads_of(ranks.model(r).path_leaves()));
    }
    const auto summed = core::sum_over_ranks(weight_grads);
    for (size_t i = 0; i < weights.size(); ++i) weights[i].mutable_grad() = summed[i];
    clear_grads(master.arch_parameters());
    if (arch_graph && !leaf_grads[0].empty()) master.backward_path(core::sum_over_ranks(leaf_grads));
  }
  if (core::process_count() > 1) {
    // Every process drew the same path, so the same gradients are defined
    // everywhere; one message carries the totals, w's and α's gradients
    // (the totals alone without a backward).
    std::vector<torch::Tensor> message;
    if (backward) {
      message = core::grads_of(weights);
      const auto alpha_grads = core::grads_of(master.arch_parameters());
      message.insert(message.end(), alpha_grads.begin(), alpha_grads.end());
    }
    message.push_back(torch::tensor({result.loss, static_cast<double>(result.correct)}, torch::kFloat64));
    core::all_reduce_over_processes(message);
    result.loss = message.back()[0].item<double>();
    result.correct = std::llround(message.back()[1].item<double>());
  }
  return result;
}

}  // namespace

StepRanks::StepRanks(SearchModel& master, int64_t ranks)
    : master_(master),
      replicas_(core::make_replicas<SearchModel>(ranks > 1 ? ranks : 0, [&] { return master.replica(); })),
      team_(ranks) {}

SearchModel& StepRanks::model(int64_t rank) {
  return replicas_.empty() ? master_ : *replicas_[static_cast<size_t>(rank)];
}

void StepTotals::add(const StepStats& stats) {
  train_loss += stats.train_loss;
  val_loss += stats.val_loss;
  advantage_std += stats.policy_advantage_std;
  train_correct += stats.train_correct;
  val_correct += stats.val_correct;
  images += stats.images;
  steps += 1;
  for (size_t i = 0; i < phase_seconds.size(); ++i) phase_seconds[i] += stats.phase_seconds[i];
}

std::string StepTotals::summary() const {
  if (steps == 0) return {};
  return fmt::format("loss {:.3f} acc {:.1f}% | val loss {:.3f} acc {:.1f}%", train_loss / steps,
                     100.0 * train_correct / images, val_loss / steps, 100.0 * val_correct / images);
}

nlohmann::json StepTotals::to_json() const {
  const double n = std::max<int64_t>(steps, 1);
  const double m = std::max<int64_t>(images, 1);
  nlohmann::json phases = nlohmann::json::object();
  for (size_t i = 0; i < phase_seconds.size(); ++i) phases[kStepPhaseNames[i]] = phase_seconds[i];
  return {{"train_loss", train_loss / n}, {"train_acc", train_correct / m},     {"val_loss", val_loss / n},
          {"val_acc", val_correct / m},   {"advantage_std", advantage_std / n}, {"phase_seconds", phases}};
}

nlohmann::json StepTotals::sums() const {
  return {{"train_loss", train_loss},
          {"val_loss", val_loss},
          {"advantage_std", advantage_std},
          {"train_correct", train_correct},
          {"val_correct", val_correct},
          {"images", images},
          {"steps", steps},
          {"phase_seconds", phase_seconds}};
}

StepTotals StepTotals::from_sums(const nlohmann::json& sums, const std::string& source) {
  StepTotals totals;
  totals.train_loss = core::number_field(sums, "train_loss", source);
  totals.val_loss = core::number_field(sums, "val_loss", source);
  totals.advantage_std = core::number_field(sums, "advantage_std", source);
  totals.train_correct = core::integer_field(sums, "train_correct", source, 0);
  totals.val_correct = core::integer_field(sums, "val_correct", source, 0);
  totals.images = core::integer_field(sums, "images", source, 0);
  totals.steps = core::integer_field(sums, "steps", source, 0);
  const auto& phases = core::child_field(sums, "phase_seconds", source, nlohmann::json::value_t::array);
  core::check(phases.size() == totals.phase_seconds.size() &&
                  std::all_of(phases.begin(), phases.end(), [](const auto& v) { return v.is_number(); }),
              "{} field \"phase_seconds\" = {}; expected {} numbers", source, core::json_excerpt(phases),
              totals.phase_seconds.size());
  for (size_t i = 0; i < phases.size(); ++i) totals.phase_seconds[i] = phases[i].get<double>();
  return totals;
}

torch::Tensor directional_derivatives(StepRanks& ranks, SearchModel& master, const std::vector<torch::Tensor>& v,
                                      const torch::Tensor& x, const torch::Tensor& y, double epsilon) {
  std::vector<torch::Tensor> squares;
  for (const auto& g : v) {
    if (g.defined()) squares.push_back(g.pow(2).sum().to(torch::kFloat64));
  }
  if (squares.empty()) return {};
  const double norm = std::sqrt(torch::stack(squares).sum().item<double>());  // one device sync
  if (!(norm > 0) || !std::isfinite(norm)) return {};
  const double eps = epsilon / norm;
  torch::NoGradGuard no_grad;
  const int64_t size = ranks.size();
  const auto master_weights = master.weight_parameters();
  // One rank computes on the master itself: its weights are kept aside and
  // put back bit for bit. Replicas get w ± εv written over their own copy.
  std::vector<torch::Tensor> saved;
  if (size == 1) {
    for (const auto& w : master_weights) saved.push_back(w.detach().clone());
  }
  const auto& base = size == 1 ? saved : master_weights;
  std::vector<torch::Tensor> differences(static_cast<size_t>(size));
  ranks.team().run([&](int64_t rank) {
    auto& model = ranks.model(rank);
    auto weights = model.weight_parameters();
    const auto x_shard = shard_of(x, rank, size), y_shard = shard_of(y, rank, size);
    // BatchNorm normalises with these batches' statistics but its running
    // statistics stay as they were (docs/method.md §4).
    core::FrozenRunningStats frozen;
    auto losses_at = [&](double scale) {
      // Weights off the path (v undefined) already equal the master's.
      for (size_t i = 0; i < weights.size(); ++i) {
        if (v[i].defined()) torch::add_out(weights[i], base[i], v[i], scale);
      }
      return per_image_loss(model, x_shard, y_shard);
    };
    const auto plus = losses_at(eps);
    const auto minus = losses_at(-eps);
    differences[static_cast<size_t>(rank)] = (plus - minus).div_(2.0 * eps);
  });
  if (size == 1) {
    for (size_t i = 0; i < master_weights.size(); ++i) master_weights[i].detach().copy_(saved[i]);
  }
  return size == 1 ? differences[0] : torch::cat(differences);
}

torch::Tensor directional_derivatives(SearchModel& model, const std::vector<torch::Tensor>& v, const torch::Tensor& x,
                                      const torch::Tensor& y, double epsilon) {
  StepRanks one(model, 1);
  return directional_derivatives(one, model, v, x, y, epsilon);
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

StepStats search_step(StepContext& context, data::Batch& train, data::Batch& val, double lr, int64_t epoch,
                      int64_t step, torch::optim::SGD& weight_optimizer, torch::optim::Adam* arch_optimizer,
                      torch::optim::Adam* policy_optimizer) {
  StepStats stats;
  auto phase_start = std::chrono::steady_clock::now();
  auto end_phase = [&](StepPhase phase) {
    const auto now = std::chrono::steady_clock::now();
    stats.phase_seconds[static_cast<size_t>(phase)] += std::chrono::duration<double>(now - phase_start).count();
    phase_start = now;
  };
  const auto& options = context.options;
  auto& model = context.model;
  std::unique_ptr<StepRanks> one_rank;
  if (context.ranks == nullptr) one_rank = std::make_unique<StepRanks>(model, 1);
  StepRanks& ranks = context.ranks != nullptr ? *context.ranks : *one_rank;
  // 1. Augmentation draw for the train images, and the step's path.
  augment::PolicySample sample;
  torch::Tensor augmented;
  // The ops run on the model's device (docs/method.md §3); their draws come from the CPU generator.
  const auto images = train.images.to(context.device);
  if (context.policy) {
    sample = context.policy->sample(images.size(0), context.rng);
    augmented = context.policy->apply(images, sample, context.rng);
  } else {
    augmented = context.fixed_policy->apply(images, context.rng);
  }
  // Over several processes every process draws and augments the whole
  // global batch from the shared stream (so a run is the same for any number
  // of processes) and computes its own rows.
  const int64_t batch = train.labels.size(0), val_batch = val.labels.size(0);
  const auto x = core::process_shard(augment::normalize(augmented.to(context.device), context.mean, context.std));
  const auto y = core::process_shard(train.labels.to(context.device));
  const auto x_val = core::process_shard(augment::normalize(val.images.to(context.device), context.mean, context.std));
  const auto y_val = core::process_shard(val.labels.to(context.device));
  model.begin_step(context.rng);
  if (ranks.size() > 1) {
    for (int64_t r = 0; r < ranks.size(); ++r) ranks.model(r).follow(model);
  }
  const auto weights = model.weight_parameters();
  end_phase(StepPhase::kAugment);

  // 2. Architecture step: one backward gives ∇_α L_val and v = ∇_w L_val.
  // A step that moves neither α nor β (a warm-up step) needs neither: the
  // validation forward alone, for the epoch's record.
  const bool policy_step = context.policy && policy_optimizer != nullptr;
  const auto validated = forward_backward(ranks, model, x_val, y_val, val_batch,
                                          /*arch_graph=*/arch_optimizer != nullptr,
                                          /*backward=*/arch_optimizer != nullptr || policy_step);
  train::check_finite(torch::tensor(validated.loss), "validation loss", epoch + 1, step + 1);
  if (arch_optimizer != nullptr) arch_optimizer->step();
  stats.val_loss = validated.loss;
  stats.val_correct = validated.correct;
  // The gradients are replaced (not zeroed) below, so v stays valid.
  const auto v = policy_step ? core::grads_of(weights) : std::vector<torch::Tensor>{};
  end_phase(StepPhase::kArchitecture);

  // 3. Training forward and backward on the augmented batch along the same
  // path, at the same w: the gradient of the weight step. Computed before
  // the policy step, which reads w, and applied after it.
  const auto trained = forward_backward(ranks, model, x, y, batch, /*arch_graph=*/false);
  train::check_finite(torch::tensor(trained.loss), "training loss", epoch + 1, step + 1);
  end_phase(StepPhase::kTraining);

  // 4. Policy step through the one-step unroll (none without an optimizer: a warm-up step).
  if (policy_step) {
    // d_i of this process's rows, then of the whole batch on every process:
    // the baseline, the advantage's spread and β's step are the global batch's.
    auto d = directional_derivatives(ranks, model, v, x, y, options.unroll_epsilon);
    if (d.defined()) d = core::gather_process_shards(d, batch);
    if (d.defined()) {
      core::check(torch::isfinite(d).all().item<bool>(), "policy gradient is not finite at epoch {}, step {}",
                  epoch + 1, step + 1);
      policy_optimizer->zero_grad();
      policy_surrogate(d, context.policy->log_prob(sample), lr, options.policy_advantage == "normalized").backward();
      policy_optimizer->step();
      stats.policy_advantage_std = d.std().item<double>();
    }
  }

  end_phase(StepPhase::kPolicy);

  // 5. Weight step.
  clear_grads(model.arch_parameters());
  if (options.grad_clip > 0) torch::nn::utils::clip_grad_norm_(weights, options.grad_clip);
  weight_optimizer.step();
  if (ranks.size() > 1) {
    // Every replica's running statistics are the whole batch's; keep rank 0's.
    core::copy_tensors(ranks.model(0).buffers(), model.buffers(), "buffers");
  }
  stats.train_loss = trained.loss;
  stats.train_correct = trained.correct;
  stats.images = batch;
  end_phase(StepPhase::kUpdate);
  return stats;
}

}  // namespace daas::search
