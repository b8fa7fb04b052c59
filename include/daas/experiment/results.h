#pragma once
// The results of an experiment, read back from its run folders: each run's
// own metrics.jsonl (test top-1 of the final epoch) and run.json (CPU time,
// parameters, multiply-adds), summarised per condition over seeds.
#include <cstdint>
#include <string>
#include <vector>

#include "daas/experiment/plan.h"

namespace daas::experiment {

struct RunResult {
  const Run* run = nullptr;
  bool finished = false;
  double test_top1 = 0;     // fraction; retrains only
  double val_top1 = -1;     // search: the supernet's last val_acc; retrain: the last val_acc; -1 = none
  int64_t parameters = -1;  // retrains only
  int64_t multiply_adds = -1;
  double cpu_hours = 0;
  double wall_hours = 0;
  std::string genotype;  // the genotype the run found or trained, DARTS syntax
};

struct ConditionResult {
  const Condition* condition = nullptr;
  int64_t planned = 0;   // seeds in the plan
  int64_t n = 0;         // seeds whose retrain (or, without one, search) finished
  double top1_mean = 0;  // fraction, over the n retrains
  double top1_std = 0;   // sample standard deviation (n − 1); NaN for n < 2
  double parameters_mean = 0;
  double multiply_adds_mean = 0;
  double search_cpu_hours = 0;  // per seed: the searches its retrain used (or its own)
  double train_cpu_hours = 0;   // per seed
  // Against the plan's baseline, seed by seed: within a seed, retrains with
  // the same data settings train, hold out and test on the same images, so
  // what a seed changes for every condition alike drops out. Over the seeds
  // where both retrains finished (`pairs`): the mean and the sample standard
  // deviation of this test top-1 minus the baseline's (fractions; NaN without
  // pairs, the std below two), and in how many this one is higher or lower
  // (the rest tie). `compared` is false for the baseline itself, conditions
  // without a retrain, and retrains whose data settings differ from the
  // baseline's (`other_data`), which are not paired.
  bool compared = false;
  bool other_data = false;
  int64_t pairs = 0;
  double delta_mean = 0;
  double delta_std = 0;
  int64_t higher = 0;
  int64_t lower = 0;
};

struct Results {
  std::vector<RunResult> runs;
  std::vector<ConditionResult> conditions;
  double cpu_hours = 0;  // all runs, finished or not
  double wall_hours = 0;
  int64_t finished = 0;
};

/// Reads every run's files. `runs` must outlive the result.
Results collect_results(const Plan& plan, const std::vector<Run>& runs);

/// Writes results.csv (per condition), runs.csv (per run) and results.md
/// (both tables) into `out`, each atomically.
void write_results(const Plan& plan, const Results& results, const std::string& out);

}  // namespace daas::experiment
