// `daas train`: retrain a genotype with a policy; `daas eval`: test a saved model.
#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "commands.h"
#include "daas/core/files.h"
#include "daas/core/parallel.h"
#include "daas/nas/genotype.h"
#include "daas/train/evaluate.h"
#include "daas/train/model.h"
#include "daas/train/train.h"
#include "distributed.h"
#include "options.h"

namespace fs = std::filesystem;

namespace daas::cli {
namespace {

void run_train(Invocation<train::TrainOptions>& invocation, const std::string& resume_dir, const DistArguments& dist) {
  if (!resume_dir.empty()) resume_from(invocation, resume_dir, "train");
  auto options = invocation.resolve();
  train::validate(options, !resume_dir.empty());
  if (invocation.dry_run) {
    fmt::print("{}", invocation.to_yaml_text(options, "train"));
    return;
  }
  // The data set is checked here, not by --dry-run (see search_command.cpp).
  data::check_data_source(options);
  if (launch_workers(dist, options, "train")) return;
  join_process_group(dist, options);
  // Over several processes rank 0 alone checks and writes the run folder.
  const std::string run_dir =
      core::writes_run_files() ? prepare_run_folder(invocation, options, "train", !resume_dir.empty()) : options.out;
  options.threads = threads_per_process(options.threads);
  core::RunLog log((fs::path(run_dir) / core::RunLog::kFileName).string(), /*append=*/!resume_dir.empty());
  run_logged(run_dir, log, [&] {
    spdlog::info("daas train, profile {}; run folder {}", invocation.profile_name(), run_dir);
    const auto result = train::run_train(options, run_dir, !resume_dir.empty());
    log.print(
        fmt::format("test top-1 {:.2f}%{} on {} images\nmodel: {}\nrun folder: {}\n", 100 * result.test.top1(),
                    result.test.confusion.size(0) > 10 ? fmt::format(", top-5 {:.2f}%", 100 * result.test.top5()) : "",
                    result.test.images, result.model_path, run_dir));
  });
}

struct EvalOptions : core::RuntimeOptions, data::DataOptions {
  std::string model;
  int64_t batch_size = 256;
  bool json = false;
};

/// The data settings a model was trained with, from its record, for every
/// data key not given explicitly (command line, or the eval section of the
/// profile); a folder data set is read at the model's input size and
/// channels. Models written before the record kept only data and subset.
/// Returns how the data settings were chosen, for the log.
std::string apply_model_data_settings(const train::LoadedModel& loaded, const std::set<std::string>& given,
                                      const std::string& path, EvalOptions& options) {
  const auto& extra = loaded.extra;
  const auto& info = loaded.network->info();
  data::DataOptions& data = options;
  // Another data set given: its subset and seed are not the record's.
  std::set<std::string> keep = given;
  if (given.count("data") != 0) keep.insert({"subset", "seed"});
  const std::string source = path + ": model record";
  // The record's numbers are checked as the same settings in a profile are
  // (type and range), naming the file and the field: a seed of 1e300 or -5
  // is refused instead of wrapping around. Numbers become their JSON text,
  // which such a check reads back (1e300 is "not an integer").
  const auto text_of = [](const nlohmann::json& value) {
    return value.is_string() ? value.get<std::string>() : value.dump();
  };
  if (extra.contains("data_settings")) {
    data::data_options_from_json(extra.at("data_settings"), keep, source, data);
  } else {
    nlohmann::json old = nlohmann::json::object();  // an older record: data (a text) and subset (a number)
    if (extra.contains("data")) old["data"] = extra.at("data");
    if (extra.contains("subset")) old["subset"] = text_of(extra.at("subset"));
    data::data_options_from_json(old, keep, source, data);
  }
  if (given.count("image_size") == 0) data.image_size = info.height;
  if (given.count("image_channels") == 0) data.image_channels = info.in_channels;
  // The seed chose the subset's test images.
  if (keep.count("seed") == 0 && extra.contains("seed")) {
    core::OptionTable<core::RuntimeOptions> runtime;
    core::add_runtime_options(runtime);
    core::Settings record;
    record.set("seed", text_of(extra.at("seed")), source);
    runtime.apply(record, options);
  }
  std::vector<std::string> taken;
  for (const char* key : {"data", "subset", "seed"}) {
    if (keep.count(key) == 0) taken.emplace_back(key);
  }
  return taken.empty() ? "as given" : fmt::format("{} from the model's record", fmt::join(taken, ", "));
}

void run_eval(Invocation<EvalOptions>& invocation, const DistArguments& dist) {
  auto options = invocation.resolve();
  if (invocation.dry_run) {
    fmt::print("{}", invocation.to_yaml_text(options, "eval"));
    return;
  }
  const std::string path = model_file(options.model, "eval");
  // Over several processes each evaluates its rows of every batch, and rank
  // 0 prints the whole test split's figures.
  if (launch_workers(dist, options, "eval", RunFolder::kNone)) return;
  join_process_group(dist, options, RunFolder::kNone);
  options.threads = threads_per_process(options.threads);
  const c10::Device device = core::setup_runtime(options);
  auto loaded = train::load_model(path, device);
  const auto& info = loaded.network->info();
  const std::string chosen = apply_model_data_settings(loaded, invocation.explicit_keys(), path, options);
  spdlog::info("data {} (subset {}, seed {}; {})", options.data, options.subset, options.seed, chosen);
  const data::DataSplits splits = data::load_data(options, static_cast<uint64_t>(options.seed));
  train::check_compatible(info, splits.test, path);
  if (splits.test.classes != info.classes) {
    spdlog::warn("{}: class names differ from {}'s; reporting with the model's names", path, splits.test.name);
  }
  const auto evaluation = train::evaluate(*loaded.network, splits.test, options.batch_size, device);
  if (!core::writes_run_files()) return;
  if (options.json) {
    auto json = evaluation.to_json(info.classes);
    json["model"] = path;
    json["data"] = options.data;
    json["split"] = splits.test.name;
    fmt::print("{}\n", json.dump(2));
    return;
  }
  fmt::print("model: {} ({} network, C {}, {} layers, {}×{}×{}, {} classes)\ngenotype: {}\n", path,
             train::network_kind_name(info.network), info.C, info.layers, info.in_channels, info.height, info.width,
             info.num_classes(), info.genotype.to_darts_string());
  fmt::print("{}: {}", splits.test.name, train::format_evaluation(evaluation, info.classes));
}

}  // namespace

void register_train(CLI::App& app) {
  auto invocation = std::make_shared<Invocation<train::TrainOptions>>();
  invocation->section = "train";
  invocation->table = train::settings_table();
  invocation->normalize = [](train::TrainOptions& options) {
    options.out = absolute_path(options.out);
    absolute_data_paths(options);
    const auto builtins = nas::builtin_genotype_names();
    if (std::find(builtins.begin(), builtins.end(), options.genotype) == builtins.end()) {
      options.genotype = absolute_if_exists(options.genotype);
    }
    options.policy = absolute_policy_spec(options.policy);
  };
  auto* command = app.add_subcommand(
      "train", "retrain a genotype from scratch with an augmentation policy; writes model.pt and its test accuracy");
  auto resume = std::make_shared<std::string>();
  command->add_option("--resume", *resume, "continue the training in this run folder from its last checkpoint");
  auto dist = std::make_shared<DistArguments>();
  add_dist_options(command, *dist);
  bind_options(command, invocation);
  command->callback([invocation, resume, dist] { run_train(*invocation, *resume, *dist); });
}

void register_eval(CLI::App& app) {
  auto invocation = std::make_shared<Invocation<EvalOptions>>();
  invocation->section = "eval";
  core::add_runtime_options(invocation->table);
  invocation->table.remove("out");
  data::add_data_options(invocation->table);
  invocation->table.add("model", &EvalOptions::model, "model file written by daas train (model.pt), or its run folder")
      .add("batch_size", &EvalOptions::batch_size, "test images per batch", {1, 65536})
      .add("json", &EvalOptions::json,
           "print the evaluation (top-1/top-5, per-class accuracy, confusion) as JSON on stdout instead of text");
  auto* command = app.add_subcommand(
      "eval",
      "test a saved model on a data set's test split: top-1/top-5, per-class accuracy, confusion matrix (data "
      "settings from the model unless given)");
  auto dist = std::make_shared<DistArguments>();
  add_dist_options(command, *dist);
  bind_options(command, invocation);
  command->callback([invocation, dist] { run_eval(*invocation, *dist); });
}

}  // namespace daas::cli
