#pragma once
// The DAAS joint search (docs/method.md §5, §6): one loop, three modes.
//   joint  — architecture α (Gumbel single path) and policy β together;
//   arch   — β frozen at a fixed policy (GDAS with augmentation);
//   policy — α frozen at a given genotype (DADA-like, REINFORCE).
// Each epoch writes metrics.jsonl, genotype.{json,txt}, policy.json (the
// Fast-AA / DADA list), policy_search.json (the full β, or the fixed policy)
// and an atomic checkpoint.pt to the run folder; a run resumes from its folder.
#include <torch/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "daas/augment/policy.h"
#include "daas/augment/searchable_policy.h"
#include "daas/core/config.h"
#include "daas/core/runtime.h"
#include "daas/data/dataset.h"
#include "daas/nas/genotype.h"
#include "daas/nas/supernet.h"
#include "daas/search/model.h"
#include "daas/train/loop.h"

namespace daas::search {

/// What a search searches (the `mode` setting).
enum class SearchMode { kJoint, kArch, kPolicy, kCount };

/// One row of the mode table.
struct SearchModeRow {
  SearchMode mode;
  const char* name;
  /// A supernet with α; otherwise the network of the fixed `genotype`.
  bool searches_architecture;
  /// A searchable policy β; otherwise `fixed_policy` is applied.
  bool searches_policy;
  const char* help;
};

/// The mode table, in SearchMode order.
const std::array<SearchModeRow, static_cast<size_t>(SearchMode::kCount)>& search_modes();
/// The one place a mode's name becomes its row; fails naming the known modes.
const SearchModeRow& search_mode(const std::string& name);

struct SearchOptions : core::RuntimeOptions, data::DataOptions, train::LoopOptions {
  std::string mode = "joint";
  std::string sampler = "gumbel";
  double arch_lr = 3e-4;
  double arch_beta1 = 0.5;
  double arch_beta2 = 0.999;
  double arch_weight_decay = 1e-3;
  double policy_lr = 1e-3;
  int64_t magnitude_levels = 11;
  int64_t top_k = 25;
  double tau_max = 10.0;
  double tau_min = 0.1;
  int64_t warmup_epochs = 0;
  double unroll_epsilon = 0.01;
  std::string policy_advantage = "normalized";
  std::string fixed_policy = "standard";
  std::string genotype = "DARTS_V2";
};

template <typename T>
void add_search_options(core::OptionTable<T>& table) {
  std::vector<std::string> modes;
  std::string mode_help;
  for (const auto& row : search_modes()) {
    modes.push_back(row.name);
    mode_help += fmt::format("{}{}: {}", mode_help.empty() ? "" : "; ", row.name, row.help);
  }
  table.add_choice("mode", &T::mode, mode_help, modes)
      .add_choice("sampler", &T::sampler, "architecture sampler", nas::sampler_names());
  train::add_loop_options(table);
  table.add("arch_lr", &T::arch_lr, "Adam learning rate of α", {0, 10})
      .add("arch_beta1", &T::arch_beta1, "Adam β1 of α", {0, 1})
      .add("arch_beta2", &T::arch_beta2, "Adam β2 of α", {0, 1})
      .add("arch_weight_decay", &T::arch_weight_decay, "Adam weight decay of α", {0, 1})
      .add("policy_lr", &T::policy_lr, "Adam learning rate of the policy β", {0, 10})
      .add("magnitude_levels", &T::magnitude_levels, "magnitude levels M in [0, 1] per policy slot",
           {2, static_cast<double>(augment::kMaxMagnitudeLevels)})
      .add("top_k", &T::top_k, "sub-policies exported in policy.json", {1, augment::kSubPolicyCount})
      .add("tau_max", &T::tau_max, "Gumbel temperature at the first epoch", {1e-3, 1e3})
      .add("tau_min", &T::tau_min, "Gumbel temperature at the last epoch", {1e-3, 1e3})
      .add("warmup_epochs", &T::warmup_epochs,
           "epochs at the start that train the weights alone, α and β held (paths still drawn); τ anneals over "
           "the epochs after them; below epochs",
           {0, 100000})
      .add("unroll_epsilon", &T::unroll_epsilon, "finite-difference step ε·‖v‖ of the policy gradient", {1e-8, 1})
      .add_choice("policy_advantage", &T::policy_advantage,
                  "raw: (d_i − b) as the estimator is derived; normalized: divided by its batch std (same direction "
                  "per step, far less noise across steps)",
                  {"raw", "normalized"})
      .add("fixed_policy", &T::fixed_policy,
           fmt::format("arch mode: the fixed augmentation policy ({})", fmt::join(augment::policy_names(), ", ")))
      .add("genotype", &T::genotype,
           fmt::format("policy mode: the fixed architecture (built-in name, {}, or file)",
                       fmt::join(nas::builtin_genotype_names(), ", ")));
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

/// Every setting of a search (runtime, data and search options): the table
/// `daas search` reads profiles and flags with, and a run's config.yaml.
core::OptionTable<SearchOptions> settings_table();

/// Fails with a clear message on settings that cannot work together, before
/// anything is written: schedules, device, the fixed policy or genotype.
void validate(const SearchOptions& options);

/// Runs (or, with `resume`, continues) a search into `run_dir`: reads the
/// data, cuts the training split into two stratified halves and searches.
SearchResult run_search(const SearchOptions& options, const std::string& run_dir, bool resume,
                        const EpochHook& after_epoch = {});

/// The search itself on given halves: `weights_half` trains w, `arch_half`
/// trains α and β. Normalisation uses weights_half's mean and std.
SearchResult search_halves(const SearchOptions& options, const data::Dataset& weights_half,
                           const data::Dataset& arch_half, const std::string& run_dir, bool resume,
                           const EpochHook& after_epoch = {});

}  // namespace daas::search
