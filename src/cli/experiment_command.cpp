// `daas experiment PLAN`: a plan of searches and retrains over seeds, run one
// after another in this process, resumable, summarised in results.csv/.md.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <memory>

#include "commands.h"
#include "daas/core/files.h"
#include "daas/experiment/plan.h"
#include "daas/experiment/runner.h"

namespace fs = std::filesystem;

namespace daas::cli {
namespace {

struct ExperimentArgs {
  std::string plan;
  std::string out;
  bool resume = false;
  bool dry_run = false;
  std::string threads;
  std::string baseline;
  bool baseline_given = false;  // even if empty: an empty name is refused, not ignored
};

void run(const ExperimentArgs& args) {
  experiment::Plan plan = experiment::read_plan(args.plan);
  if (args.baseline_given) experiment::set_baseline(plan, args.baseline);
  const std::string out = args.out.empty() ? "runs/" + fs::path(args.plan).stem().string() : args.out;
  experiment::ExperimentOptions options;
  options.resume = args.resume;
  if (!args.threads.empty()) options.overrides.set("threads", args.threads, "--threads");
  if (args.dry_run) {
    const auto runs = experiment::plan_runs(plan, out, options.overrides);
    experiment::check_experiment_folder(plan, out, options.resume);
    fmt::print("plan {}: {} conditions, {} runs into {}; retrains compared with {}\n", plan.path,
               plan.conditions.size(), runs.size(), out, plan.baseline.empty() ? "none" : plan.baseline);
    for (const auto& run : runs) {
      const std::string what = run.is_search
                                   ? fmt::format("search mode {}, {} epochs", run.search.mode, run.search.epochs)
                                   : fmt::format("train {} with policy {}, {} epochs", run.train.genotype,
                                                 run.train.policy, run.train.epochs);
      fmt::print("  {}: {}\n    {}\n", run.label(), what, run.dir);
    }
    return;
  }
  const auto summary = experiment::run_experiment(plan, out, options);
  fmt::print("{} runs: {} started, {} resumed, {} finished before\n", summary.runs, summary.started, summary.resumed,
             summary.kept);
  const auto results = fs::path(out) / "results.md";
  fmt::print("{}results: {} and {}\n", core::read_file(results.string()), results.string(),
             (fs::path(out) / "results.csv").string());
}

}  // namespace

void register_experiment(CLI::App& app) {
  auto args = std::make_shared<ExperimentArgs>();
  auto* command = app.add_subcommand(
      "experiment",
      "run a plan of searches and retrains over seeds, one after another and resumable; writes results.csv and "
      "results.md (test top-1 mean ± std, parameters, multiply-adds, CPU-hours per condition)");
  command->add_option("plan", args->plan, "experiment plan (YAML), e.g. configs/experiments/fashion-ablation.yaml")
      ->required();
  command->add_option("--out", args->out, "experiment folder; default runs/<plan name>");
  command->add_flag("--resume", args->resume,
                    "continue the experiment in --out: finished runs are kept, half-done ones continue from their "
                    "checkpoint");
  command->add_option("--threads", args->threads, "CPU threads of every run (overrides the plan; 0 = all cores)");
  command->add_option("--baseline", args->baseline,
                      "condition the other retrains are compared with, seed by seed, in results.csv and results.md "
                      "(overrides the plan's baseline; with --resume on a finished experiment it rewrites the "
                      "results against this condition and runs nothing)");
  command->add_flag("--dry-run", args->dry_run, "check the plan and list its runs, then stop");
  command->callback([args, command] {
    args->baseline_given = command->count("--baseline") > 0;
    run(*args);
  });
}

}  // namespace daas::cli
