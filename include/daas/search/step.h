#pragma once
// One joint search step and the policy-gradient estimator (docs/method.md §4, §5).
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>

#include <array>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daas/augment/policy.h"
#include "daas/augment/searchable_policy.h"
#include "daas/core/parallel.h"
#include "daas/data/loader.h"
#include "daas/search/model.h"

namespace daas::search {

struct SearchOptions;

/// The ranks a step's batches are split over: rank r computes rows
/// shard_range(N, r, size) of every batch on its own replica, on its own
/// thread (WorkerTeam), with BatchNorm statistics of the whole batch. With
/// one rank the master model computes everything itself.
class StepRanks {
 public:
  StepRanks(SearchModel& master, int64_t ranks);
  int64_t size() const { return team_.size(); }
  /// The model rank `rank` computes with (the master itself for one rank).
  SearchModel& model(int64_t rank);
  core::WorkerTeam& team() { return team_; }

 private:
  SearchModel& master_;
  std::vector<std::unique_ptr<SearchModel>> replicas_;
  core::WorkerTeam team_;
};

/// What a step reads besides its batches.
struct StepContext {
  const SearchOptions& options;
  SearchModel& model;
  augment::SearchablePolicy policy;                     // joint and policy modes
  std::shared_ptr<const augment::Policy> fixed_policy;  // arch mode
  at::Generator& rng;
  std::vector<double> mean;
  std::vector<double> std;
  c10::Device device;
  /// The ranks to split batches over; null = one rank (the model itself).
  StepRanks* ranks = nullptr;
};

/// The phases of a step, for the time breakdown in metrics.jsonl.
enum class StepPhase : size_t { kAugment = 0, kArchitecture, kTraining, kPolicy, kUpdate, kCount };
constexpr std::array<const char*, 5> kStepPhaseNames = {"augment", "architecture", "training", "policy", "update"};
static_assert(kStepPhaseNames.size() == static_cast<size_t>(StepPhase::kCount), "one name per phase");

struct StepStats {
  double train_loss = 0;
  int64_t train_correct = 0;
  double val_loss = 0;
  int64_t val_correct = 0;
  int64_t images = 0;
  double policy_advantage_std = 0;  // spread of d_i − b; 0 when no policy step
  /// Wall seconds per StepPhase: augmentation draw and normalisation;
  /// validation forward+backward and α's step; training forward+backward;
  /// the two perturbed forwards and β's step; clipping, SGD and bookkeeping.
  std::array<double, kStepPhaseNames.size()> phase_seconds{};
};

/// Sums of StepStats over an epoch.
struct StepTotals {
  void add(const StepStats& stats);
  std::string summary() const;
  nlohmann::json to_json() const;
  /// The sums themselves (a checkpoint taken within an epoch), and back;
  /// from_sums fails naming `source` and the field when one is missing or
  /// not a number of its kind.
  nlohmann::json sums() const;
  static StepTotals from_sums(const nlohmann::json& sums, const std::string& source);

  double train_loss = 0, val_loss = 0, advantage_std = 0;
  int64_t train_correct = 0, val_correct = 0, images = 0, steps = 0;
  std::array<double, kStepPhaseNames.size()> phase_seconds{};
};

/// d_i = (ℓ_i(w + εv) − ℓ_i(w − εv)) / 2ε with ε = epsilon / ‖v‖, for the
/// per-image losses of `x` along the model's current path: ≈ ⟨∇_w ℓ_i, v⟩.
/// `v` is one tensor per weight parameter (undefined = zero). Runs without
/// autograd, leaves the weights and every buffer (BN running statistics)
/// bit-exactly as they were. Returns float [N], or an undefined tensor when v = 0.
torch::Tensor directional_derivatives(SearchModel& model, const std::vector<torch::Tensor>& v, const torch::Tensor& x,
                                      const torch::Tensor& y, double epsilon);
/// The same over `ranks` (each its shard of x; BatchNorm statistics of the
/// whole batch), with the replicas already following `master`.
torch::Tensor directional_derivatives(StepRanks& ranks, SearchModel& master, const std::vector<torch::Tensor>& v,
                                      const torch::Tensor& x, const torch::Tensor& y, double epsilon);

/// REINFORCE with a batch-mean baseline: ĝ_β = −η · mean_i[(d_i − b) ∇_β log p_β(τ_i)],
/// with (d_i − b) divided by its batch standard deviation when `normalize`.
/// Returns the surrogate whose gradient is ĝ_β.
torch::Tensor policy_surrogate(const torch::Tensor& d, const torch::Tensor& log_prob, double eta, bool normalize);

/// One step: augmentation draw, architecture step, policy step, weight step.
/// A null arch_optimizer skips the architecture step (and α's part of the
/// validation backward), a null policy_optimizer the policy step: a warm-up
/// step trains the weights alone, along a drawn path.
StepStats search_step(StepContext& context, data::Batch& train, data::Batch& val, double lr, int64_t epoch,
                      int64_t step, torch::optim::SGD& weight_optimizer, torch::optim::Adam* arch_optimizer,
                      torch::optim::Adam* policy_optimizer);

}  // namespace daas::search
