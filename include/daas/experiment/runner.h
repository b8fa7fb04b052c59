#pragma once
// Runs an experiment plan in one process, one run after another, each in
// <out>/<condition>/seed<N>/{search,train}. Resumable: a run whose final
// artefacts exist is kept, a run with a checkpoint continues from it, any
// other starts afresh; a run folder whose settings differ from the plan's is
// refused rather than mixed in. Each run folder also holds run.json, its
// CPU and wall time up to its last checkpoint, so a resumed experiment still
// totals correctly.
#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "daas/core/config.h"
#include "daas/experiment/plan.h"

namespace daas::experiment {

/// run.json of a run folder: what the runner measured.
struct RunRecord {
  std::string kind;            // "search" or "train"
  double cpu_seconds = 0;      // process CPU time (all threads) up to the last checkpoint
  double wall_seconds = 0;     // wall time alike
  int64_t sessions = 0;        // how many times the run was started or resumed
  int64_t epochs_done = 0;     // epochs checkpointed
  bool finished = false;       // the run returned (its final artefacts are written)
  int64_t parameters = -1;     // train: parameters without the auxiliary head (-1 = unknown)
  int64_t multiply_adds = -1;  // train: multiply-adds per image

  nlohmann::json to_json() const;
  static RunRecord from_json(const nlohmann::json& json, const std::string& source);
};

constexpr const char* kRunRecordFile = "run.json";

/// Keeps a record's times: update() sets cpu_seconds and wall_seconds to what
/// the record held at construction plus the process CPU time (all threads)
/// and wall time spent since, so a resumed run adds to its earlier sessions.
class RunClock {
 public:
  explicit RunClock(RunRecord& record);
  void update();

 private:
  RunRecord& record_;
  double cpu_base_, wall_base_, cpu_start_;
  std::chrono::steady_clock::time_point wall_start_;
};

/// The run.json of `run_dir`; a default record when there is none.
RunRecord read_run_record(const std::string& run_dir);

/// Whether `run` has finished: run.json says so and its final artefacts
/// exist (search: the last epoch's metrics; train: that and model.pt).
bool run_finished(const Run& run);

/// The record of the final epoch in a run's metrics.jsonl (epoch == the
/// run's epochs), or null when the run has not got there.
nlohmann::json final_metrics(const Run& run);

struct ExperimentOptions {
  bool resume = false;       // continue an experiment already in `out`
  core::Settings overrides;  // applied to every run last (command-line --threads)
};

struct ExperimentSummary {
  int64_t runs = 0;
  int64_t kept = 0;     // finished before, not repeated
  int64_t resumed = 0;  // continued from a checkpoint
  int64_t started = 0;  // started afresh
};

/// Fails unless `out` can take the experiment: a new or empty folder, or
/// (with `resume`) one that holds a started experiment (plan.yaml). Warns
/// when the plan differs from the one the experiment was started with.
void check_experiment_folder(const Plan& plan, const std::string& out, bool resume);

/// Runs every run of `plan` into `out` and writes results.csv, results.md
/// and runs.csv there (after each run, too). Without options.resume, `out`
/// must be new or empty.
ExperimentSummary run_experiment(const Plan& plan, const std::string& out, const ExperimentOptions& options);

/// Environment variable of a testing aid: the process kills itself
/// (SIGKILL) right after this many epochs, counted over all its runs, were
/// checkpointed, as a crash or `kill -9` would.
constexpr const char* kKillAfterEpochsVariable = "DAAS_EXPERIMENT_KILL_AFTER_EPOCHS";

}  // namespace daas::experiment
