#include "daas/experiment/runner.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "daas/core/error.h"
#include "daas/core/files.h"
#include "daas/core/json.h"
#include "daas/core/metrics.h"
#include "daas/experiment/results.h"
#include "daas/nas/network.h"
#include "daas/train/model.h"

namespace fs = std::filesystem;

namespace daas::experiment {
namespace {

/// CPU time of the whole process (every thread), in seconds.
double process_cpu_seconds() {
  timespec now{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

double wall_seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// Settings that may differ between the plan and a run folder: they decide
/// how fast a run goes, not what it computes.
bool may_differ(const std::string& key) { return key == "threads" || key == "device" || key == "log_level"; }

/// Whether `path` lies in folder `root` (component by component, both normal).
bool lies_in(const fs::path& path, const fs::path& root) {
  const auto [root_end, path_end] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  return root_end == root.end();
}

/// Paths inside an experiment that was moved (or whose run folders were
/// copied from another experiment): a run folder's config.yaml names where
/// the run was made (`out`, and a retrain's genotype and policy folders).
/// A run's folder is <experiment>/<condition>/seed<N>/<kind>, so the
/// experiment's folder then and now are three levels above the run's `out`
/// and above its folder now, when those end alike.
class Relocation {
 public:
  Relocation(const fs::path& was, const fs::path& now) {
    fs::path from = was.lexically_normal(), to = now.lexically_normal();
    for (int level = 0; level < 3; ++level) {
      if (from.filename() != to.filename() || !from.has_relative_path() || !to.has_relative_path()) return;
      from = from.parent_path();
      to = to.parent_path();
    }
    // An experiment at the root of the file system (or a relative `out`) is
    // not mapped: every absolute path would lie in it.
    if (!from.has_relative_path() || !to.has_relative_path() || !from.is_absolute()) return;
    from_ = from;
    to_ = to;
  }
  /// `value` with the experiment's former folder replaced by its folder now.
  std::string operator()(const std::string& value) const {
    const fs::path path = fs::path(value).lexically_normal();
    if (from_ == to_ || !path.is_absolute() || !lies_in(path, from_)) return value;
    return (to_ / path.lexically_relative(from_)).lexically_normal().string();
  }

 private:
  fs::path from_, to_;  // equal (empty) when the run was not moved or is not of this layout
};

/// Fails unless the run folder's config.yaml holds `options` (but for the
/// settings above), paths inside the experiment compared where it is now.
template <typename T>
void check_same_settings(const core::OptionTable<T>& table, const T& options, const Run& run) {
  const std::string config = (fs::path(run.dir) / "config.yaml").string();
  core::check(core::file_exists(config), "{}: holds a checkpoint but no config.yaml; expected a run of this experiment",
              run.dir);
  T saved;
  table.apply(core::Settings::from_profile(config, run.kind()), saved);
  const Relocation relocate(saved.out, fs::absolute(run.dir));
  for (const auto& option : table.options()) {
    if (may_differ(option.key)) continue;
    const std::string now = table.value_text(options, option);
    const std::string was = relocate(table.value_text(saved, option));
    core::check(now == was,
                "{}: setting '{}' is {} in the plan but the run there was made with {}; a run keeps its settings (use "
                "another --out, or delete that run folder to run it again with the plan's)",
                run.dir, option.key, now.empty() ? "(empty)" : now, was.empty() ? "(empty)" : was);
  }
}

/// A retrain kept from before must have trained what its searches hold now.
/// A search folder deleted and run again (a search's result can change with
/// the build: rounding decides close calls), or run folders put together from
/// several experiments, can hold another genotype or policy than the one the
/// retrain took; the retrain keeps a copy of both.
void check_search_sources(const Run& run) {
  if (run.is_search) return;
  const std::array<std::pair<const std::string*, const char*>, 2> sources = {
      {{&run.train.genotype, "genotype.txt"}, {&run.train.policy, "policy.json"}}};
  for (const auto& [setting, file] : sources) {
    if (std::find(run.search_dirs.begin(), run.search_dirs.end(), *setting) == run.search_dirs.end()) continue;
    const std::string kept = (fs::path(run.dir) / file).string(), source = (fs::path(*setting) / file).string();
    if (!core::file_exists(kept) || !core::file_exists(source)) continue;
    core::check(core::read_file(kept) == core::read_file(source),
                "{}: differs from {}, which the retrain took it from: the search was run again or its folder comes "
                "from elsewhere; expected the same (delete {} to retrain it)",
                kept, source, run.dir);
  }
}

void check_run_folder(const Run& run) {
  const std::string config = (fs::path(run.dir) / "config.yaml").string();
  if (!core::file_exists(config)) return;
  const std::string head = core::read_file_head(config, 64);
  const std::string expected = "# daas " + run.kind() + " ";
  core::check(head.rfind(expected, 0) == 0,
              "{}: config.yaml is not that of a daas {} run; expected this experiment's run", run.dir, run.kind());
  // A run that never reached its first checkpoint starts afresh, whatever its settings were.
  if (!core::file_exists((fs::path(run.dir) / "checkpoint.pt").string())) return;
  if (run.is_search) {
    check_same_settings(search::settings_table(), run.search, run);
  } else {
    check_same_settings(train::settings_table(), run.train, run);
  }
}

/// config.yaml as the commands write it, so `daas search|train --resume DIR`
/// also continues a run of an experiment.
void write_config(const Run& run, const Plan& plan) {
  const std::string yaml =
      run.is_search ? search::settings_table().to_yaml(run.search) : train::settings_table().to_yaml(run.train);
  core::make_dirs(run.dir);
  core::write_file_atomic((fs::path(run.dir) / "config.yaml").string(),
                          fmt::format("# daas {} (experiment {}, condition {}, seed {})\n{}\n", run.kind(), plan.path,
                                      run.condition->name, run.seed, yaml));
}

void write_record(const Run& run, const RunRecord& record) {
  core::write_file_atomic((fs::path(run.dir) / kRunRecordFile).string(), record.to_json().dump(2) + "\n");
}

/// Parameters (without the auxiliary head) and multiply-adds per image of a
/// model file's network, counted as `daas info` does.
std::pair<int64_t, int64_t> model_size(const std::string& model_path) {
  const auto loaded = train::load_model(model_path, c10::Device(c10::kCPU));
  const auto& info = loaded.network->info();
  const auto options = nas::NetworkOptions(info.C, info.layers, info.genotype)
                           .num_classes(info.num_classes())
                           .in_channels(info.in_channels)
                           .auxiliary(info.auxiliary);
  nas::ModelSize size;
  if (info.network == train::NetworkKind::kImageNet) {
    nas::NetworkImageNet net(options);
    size = nas::measure(*net, info.height);
  } else {
    nas::NetworkCIFAR net(options);
    size = nas::measure(*net, info.height);
  }
  return {size.parameters - size.auxiliary_parameters, size.macs};
}

/// The testing aid of kKillAfterEpochsVariable.
void count_epoch_for_kill() {
  static int64_t epochs = 0;
  static const int64_t limit = [] {
    const char* value = std::getenv(kKillAfterEpochsVariable);
    return value == nullptr ? int64_t{0} : std::atoll(value);
  }();
  ++epochs;
  if (limit > 0 && epochs == limit) {
    spdlog::warn("{}={}: killing the process after {} epochs", kKillAfterEpochsVariable, limit, epochs);
    spdlog::default_logger()->flush();
    ::kill(::getpid(), SIGKILL);
  }
}

/// Runs (or continues) one run, keeping run.json up to date after each epoch.
void execute(const Run& run, bool resume) {
  RunRecord record = resume ? read_run_record(run.dir) : RunRecord{};
  record.kind = run.kind();
  record.sessions += 1;
  record.finished = false;
  write_record(run, record);
  RunClock clock(record);
  auto after_epoch = [&](int64_t epoch) {
    clock.update();
    record.epochs_done = epoch;
    write_record(run, record);
    count_epoch_for_kill();
  };
  if (run.is_search) {
    search::run_search(run.search, run.dir, resume, [&](int64_t epoch, torch::nn::Module&) { after_epoch(epoch); });
  } else {
    const auto result = train::run_train(run.train, run.dir, resume, after_epoch);
    std::tie(record.parameters, record.multiply_adds) = model_size(result.model_path);
  }
  clock.update();
  record.finished = true;
  write_record(run, record);
}

}  // namespace

RunClock::RunClock(RunRecord& record)
    : record_(record),
      cpu_base_(record.cpu_seconds),
      wall_base_(record.wall_seconds),
      cpu_start_(process_cpu_seconds()),
      wall_start_(std::chrono::steady_clock::now()) {}

void RunClock::update() {
  record_.cpu_seconds = cpu_base_ + (process_cpu_seconds() - cpu_start_);
  record_.wall_seconds = wall_base_ + wall_seconds_since(wall_start_);
}

nlohmann::json RunRecord::to_json() const {
  nlohmann::json json = {{"kind", kind},         {"cpu_seconds", cpu_seconds}, {"wall_seconds", wall_seconds},
                         {"sessions", sessions}, {"epochs_done", epochs_done}, {"finished", finished}};
  if (parameters >= 0) json["parameters"] = parameters;
  if (multiply_adds >= 0) json["multiply_adds"] = multiply_adds;
  return json;
}

RunRecord RunRecord::from_json(const nlohmann::json& json, const std::string& source) {
  RunRecord record;
  record.kind = core::child_field(json, "kind", source, nlohmann::json::value_t::string).get<std::string>();
  record.finished = core::child_field(json, "finished", source, nlohmann::json::value_t::boolean).get<bool>();
  record.cpu_seconds = core::number_field(json, "cpu_seconds", source);
  record.wall_seconds = core::number_field(json, "wall_seconds", source);
  record.sessions = core::integer_field(json, "sessions", source, 0);
  record.epochs_done = core::integer_field(json, "epochs_done", source, 0);
  if (json.contains("parameters")) record.parameters = core::integer_field(json, "parameters", source, 0);
  if (json.contains("multiply_adds")) record.multiply_adds = core::integer_field(json, "multiply_adds", source, 0);
  return record;
}

RunRecord read_run_record(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / kRunRecordFile).string();
  if (!core::file_exists(path)) return {};
  return RunRecord::from_json(core::parse_json(core::read_file(path), path), path);
}

nlohmann::json final_metrics(const Run& run) {
  const std::string path = (fs::path(run.dir) / "metrics.jsonl").string();
  if (!core::file_exists(path)) return nullptr;
  const int64_t epochs = run.is_search ? run.search.epochs : run.train.epochs;
  const auto records = core::read_metrics(path);
  if (records.empty() || records.back().value("epoch", int64_t{0}) != epochs) return nullptr;
  if (!run.is_search && !records.back().contains("test_acc")) return nullptr;
  return records.back();
}

bool run_finished(const Run& run) {
  if (!read_run_record(run.dir).finished || final_metrics(run).is_null()) return false;
  return run.is_search || core::file_exists((fs::path(run.dir) / "model.pt").string());
}

void check_experiment_folder(const Plan& plan, const std::string& out, bool resume) {
  const fs::path root = fs::absolute(out).lexically_normal();
  const fs::path plan_copy = root / "plan.yaml";
  // A mistyped folder must not start a long plan afresh.
  core::check(!resume || fs::exists(plan_copy),
              "--out {} with --resume: no experiment there (no plan.yaml); expected the folder of a started "
              "experiment, or no --resume to start one",
              out);
  if (fs::exists(root)) {
    core::check(fs::is_directory(root), "--out {}: exists and is not a folder; expected a new or empty folder", out);
    if (!fs::is_empty(root)) {
      core::check(fs::exists(plan_copy),
                  "--out {}: the folder is not empty and holds no daas experiment (plan.yaml); expected a new or empty "
                  "folder (nothing in it was changed)",
                  out);
      core::check(
          resume,
          "--out {}: already holds an experiment (plan.yaml); add --resume to continue it, or choose another --out",
          out);
      if (core::read_file(plan_copy.string()) != plan.text) {
        spdlog::warn(
            "{}: the plan differs from the one the experiment was started with; runs already there are "
            "kept only where their settings are unchanged",
            out);
      }
    }
  }
}

ExperimentSummary run_experiment(const Plan& plan, const std::string& out, const ExperimentOptions& options) {
  // Every run's settings are checked before anything is written.
  const std::vector<Run> runs = plan_runs(plan, out, options.overrides);
  const fs::path root = fs::absolute(out).lexically_normal();
  const fs::path plan_copy = root / "plan.yaml";
  check_experiment_folder(plan, out, options.resume);
  // Folders that exist must hold this plan's runs, before any run starts.
  for (const auto& run : runs) check_run_folder(run);
  core::make_dirs(root.string());
  core::write_file_atomic(plan_copy.string(), plan.text);

  ExperimentSummary summary;
  summary.runs = static_cast<int64_t>(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    const Run& run = runs[i];
    const std::string step = fmt::format("[{}/{}] {}", i + 1, runs.size(), run.label());
    check_search_sources(run);
    if (run_finished(run)) {
      spdlog::info("{}: finished before, kept ({})", step, run.dir);
      ++summary.kept;
      continue;
    }
    const bool resume = core::file_exists((fs::path(run.dir) / "checkpoint.pt").string());
    spdlog::info("{}: {} in {}", step, resume ? "resuming from its checkpoint" : "starting", run.dir);
    if (!resume) write_config(run, plan);
    execute(run, resume);
    ++(resume ? summary.resumed : summary.started);
    write_results(plan, collect_results(plan, runs), root.string());
  }
  write_results(plan, collect_results(plan, runs), root.string());
  return summary;
}

}  // namespace daas::experiment
