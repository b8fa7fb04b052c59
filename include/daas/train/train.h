#pragma once
// Retraining (docs/method.md §8): a genotype's NetworkCIFAR / NetworkImageNet
// trained from scratch with SGD (cosine learning rate, weight decay, gradient
// clipping), optional auxiliary head, linearly growing drop-path, label
// smoothing, and a policy applied per image (base transforms -> policy ->
// normalise -> Cutout). Each epoch appends to metrics.jsonl and writes an
// atomic checkpoint.pt; the end writes model.pt (see model.h).
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "daas/augment/policy.h"
#include "daas/core/config.h"
#include "daas/core/runtime.h"
#include "daas/data/dataset.h"
#include "daas/nas/genotype.h"
#include "daas/train/evaluate.h"
#include "daas/train/loop.h"
#include "daas/train/model.h"

namespace daas::train {

struct TrainOptions : core::RuntimeOptions, data::DataOptions, LoopOptions {
  TrainOptions() {
    // DARTS's retraining batch, and a cosine schedule down to 0.
    batch_size = 96;
    lr_min = 0.0;
  }
  std::string genotype = "DARTS_V2";
  std::string policy = "none";
  std::string policy_sampling = "sub-policies";
  std::string base_policy = "standard";
  std::string network = "auto";
  int64_t eval_batch_size = 256;
  int64_t eval_every = 1;
  double val_fraction = 0.0;  // share of the training split held out for validation
  double auxiliary_weight = 0.0;
  double drop_path = 0.2;
  int64_t cutout = 16;
  double label_smoothing = 0.0;
};

template <typename T>
void add_train_options(core::OptionTable<T>& table) {
  table
      .add("genotype", &T::genotype,
           fmt::format("architecture: a built-in name ({}), random:SEED (uniform over the search space), a genotype "
                       "file, or a daas search run folder",
                       fmt::join(nas::builtin_genotype_names(), ", ")))
      .add("policy", &T::policy,
           fmt::format("augmentation policy: {}, or a daas search run folder (its policy.json)",
                       fmt::join(augment::policy_names(), ", ")))
      .add_choice("policy_sampling", &T::policy_sampling,
                  "searched policies: sub-policies = uniform choice among the exported sub-policies per image "
                  "(AutoAugment); learned = draws from the full β",
                  {"sub-policies", "learned"})
      .add_choice("base_policy", &T::base_policy, "transforms before the policy (standard = pad-4 crop + flip)",
                  {"none", "standard"})
      .add_choice("network", &T::network, "auto = NetworkImageNet from 64 px up, NetworkCIFAR below",
                  {"auto", "cifar", "imagenet"});
  add_loop_options(table);
  table.add("eval_batch_size", &T::eval_batch_size, "test images per batch", {1, 65536})
      .add("eval_every", &T::eval_every,
           "evaluate every N epochs (and always after the last): on the validation share when val_fraction > 0, "
           "else on the test split",
           {1, 100000})
      .add("val_fraction", &T::val_fraction,
           "stratified share of the training split held out for validation (not trained on); with it, epochs are "
           "monitored on it and the test split is evaluated once, after the last epoch; 0 = none",
           {0, 0.9})
      .add("auxiliary_weight", &T::auxiliary_weight,
           "weight of the auxiliary head's loss (DARTS 0.4); 0 = no auxiliary head", {0, 10})
      .add("drop_path", &T::drop_path, "drop-path probability at the end, grown linearly from 0 (DARTS)", {0, 0.99})
      .add("cutout", &T::cutout, "Cutout side in pixels after the policy; 0 = off", {0, 4096})
      .add("label_smoothing", &T::label_smoothing, "label smoothing ε of the training loss", {0, 0.99});
}

/// Every setting of a retrain (runtime, data and training options): the
/// table `daas train` reads profiles and flags with, and a run's config.yaml.
core::OptionTable<TrainOptions> settings_table();

/// Fails with a clear message on settings that cannot work together, before
/// anything is written: network size, schedule, device, genotype, policies.
/// A resumed run reads its own copies of the genotype and policy files, so
/// their sources are checked only for a new run.
void validate(const TrainOptions& options, bool resume = false);

/// A genotype from a built-in name, a genotype file, or a search run folder
/// (its genotype.json).
nas::Genotype resolve_genotype(const std::string& spec);

/// The policy applied per image: a fixed policy name, `file:PATH`, or a search
/// run folder (its policy.json); with sampling "learned", draws from the full
/// β of a searched policy file. `options` gives the fill (the data set's mean).
std::shared_ptr<const augment::Policy> resolve_policy(const std::string& spec, const std::string& sampling,
                                                      const augment::PolicyOptions& options);

struct TrainResult {
  nlohmann::json last_record;  // the last epoch's metrics
  Evaluation test;             // the final test-split evaluation
  std::string model_path;      // <run_dir>/model.pt
};

/// Called after each epoch's checkpoint is written (tests use it to stop a run).
using EpochHook = std::function<void(int64_t epoch)>;

/// Reads the data set and retrains into `run_dir` (continuing from its
/// checkpoint with `resume`).
TrainResult run_train(const TrainOptions& options, const std::string& run_dir, bool resume,
                      const EpochHook& after_epoch = {});

/// The retraining itself on given splits.
TrainResult train_splits(const TrainOptions& options, const data::DataSplits& data, const std::string& run_dir,
                         bool resume, const EpochHook& after_epoch = {});

}  // namespace daas::train
