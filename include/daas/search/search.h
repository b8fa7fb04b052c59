#pragma once
// The DAAS joint search (docs/method.md §5, §6): one loop, three modes.
//   joint  — architecture α (Gumbel single path) and policy β together;
//   arch   — β frozen at a fixed policy (GDAS with augmentation);
//   policy — α frozen at a given genotype (DADA-like, REINFORCE).
// Each epoch writes metrics.jsonl, genotype.{json,txt}, policy.json (the
// Fast-AA / DADA list), policy_search.json (the full β, or the fixed policy)
// and an atomic checkpoint.pt to the run folder; a run resumes from its folder.
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "daas/core/config.h"
#include "daas/core/runtime.h"
#include "daas/data/dataset.h"
#include "daas/nas/genotype.h"
#include "daas/search/model.h"

namespace daas::search {

struct SearchOptions : RuntimeOptions, DataOptions {
  std::string mode = "joint";
  std::string sampler = "gumbel";
  int64_t epochs = 10;
  int64_t steps_per_epoch = 0;  // 0 = one pass over the smaller half
  int64_t batch_size = 64;
  int64_t channels = 16;
  int64_t layers = 8;
  double lr = 0.025;
  double lr_min = 0.001;
  double momentum = 0.9;
  double weight_decay = 3e-4;
  double grad_clip = 5.0;
  double arch_lr = 3e-4;
  double arch_beta1 = 0.5;
  double arch_beta2 = 0.999;
  double arch_weight_decay = 1e-3;
  double policy_lr = 1e-3;
  int64_t magnitude_levels = 11;
  int64_t top_k = 25;
  double tau_max = 10.0;
  double tau_min = 0.1;
  double unroll_epsilon = 0.01;
  std::string policy_advantage = "normalized";
  std::string fixed_policy = "standard";
  std::string genotype = "DARTS_V2";
  bool channels_last = true;
};

template <typename T>
void add_search_options(OptionTable<T>& table) {
  table
      .add_choice("mode", &T::mode, "joint: α and β; arch: β fixed to fixed_policy; policy: α fixed to genotype",
                  {"joint", "arch", "policy"})
      .add_choice("sampler", &T::sampler, "architecture sampler", {"gumbel", "softmax"})
      .add("epochs", &T::epochs, "search epochs", {1, 100000})
      .add("steps_per_epoch", &T::steps_per_epoch, "steps per epoch; 0 = one pass over the smaller half", {0, 1e9})
      .add("batch_size", &T::batch_size, "images per batch (train and validation halves alike)", {2, 65536})
      .add("channels", &T::channels, "supernet initial channels C", {1, 1024})
      .add("layers", &T::layers, "supernet cells", {3, 100})
      .add("lr", &T::lr, "weight learning rate at epoch 0 (SGD, cosine)", {0, 10})
      .add("lr_min", &T::lr_min, "weight learning rate at the end", {0, 10})
      .add("momentum", &T::momentum, "SGD momentum", {0, 1})
      .add("weight_decay", &T::weight_decay, "SGD weight decay", {0, 1})
      .add("grad_clip", &T::grad_clip, "gradient norm clip for the weights; 0 = none", {0, 1e6})
      .add("arch_lr", &T::arch_lr, "Adam learning rate of α", {0, 10})
      .add("arch_beta1", &T::arch_beta1, "Adam β1 of α", {0, 1})
      .add("arch_beta2", &T::arch_beta2, "Adam β2 of α", {0, 1})
      .add("arch_weight_decay", &T::arch_weight_decay, "Adam weight decay of α", {0, 1})
      .add("policy_lr", &T::policy_lr, "Adam learning rate of the policy β", {0, 10})
      .add("magnitude_levels", &T::magnitude_levels, "magnitude levels M in [0, 1] per policy slot", {2, 101})
      .add("top_k", &T::top_k, "sub-policies exported in policy.json", {1, 105})
      .add("tau_max", &T::tau_max, "Gumbel temperature at the first epoch", {1e-3, 1e3})
      .add("tau_min", &T::tau_min, "Gumbel temperature at the last epoch", {1e-3, 1e3})
      .add("unroll_epsilon", &T::unroll_epsilon, "finite-difference step ε·‖v‖ of the policy gradient", {1e-8, 1})
      .add_choice("policy_advantage", &T::policy_advantage,
                  "raw: (d_i − b) as the estimator is derived; normalized: divided by its batch std (same direction "
                  "per step, far less noise across steps)",
                  {"raw", "normalized"})
      .add("fixed_policy", &T::fixed_policy, "arch mode: the fixed augmentation policy (none, standard, ...)")
      .add("genotype", &T::genotype, "policy mode: the fixed architecture (built-in name or file)")
      .add("channels_last", &T::channels_last, "compute in channels-last memory format (faster on CPU)");
}

/// What a search ends with.
struct SearchResult {
  nlohmann::json last_record;          // the last epoch's metrics
  std::vector<torch::Tensor> alphas;   // α_normal, α_reduce (empty in policy mode)
  std::vector<torch::Tensor> weights;  // w
  std::vector<torch::Tensor> beta;     // φ, θ, μ (empty in arch mode)
  std::optional<nas::Genotype> genotype;
};

/// Called after each epoch's checkpoint is written with the epoch number and
/// the network (tests use it to stop a run, or to break its weights).
using EpochHook = std::function<void(int64_t epoch, torch::nn::Module& model)>;

/// Fails with a clear message on settings that cannot work together, before
/// anything is written: schedules, device, the fixed policy or genotype.
void validate(const SearchOptions& options);

/// Runs (or, with `resume`, continues) a search into `run_dir`: reads the
/// data, cuts the training split into two stratified halves and searches.
SearchResult run_search(const SearchOptions& options, const std::string& run_dir, bool resume,
                        const EpochHook& after_epoch = {});

/// The search itself on given halves: `weights_half` trains w, `arch_half`
/// trains α and β. Normalisation uses weights_half's mean and std.
SearchResult search_halves(const SearchOptions& options, const Dataset& weights_half, const Dataset& arch_half,
                           const std::string& run_dir, bool resume, const EpochHook& after_epoch = {});

}  // namespace daas::search
