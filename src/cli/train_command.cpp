// `daas train`: retrain a genotype with a policy; `daas eval`: test a saved model.
#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "commands.h"
#include "daas/core/files.h"
#include "daas/train/evaluate.h"
#include "daas/train/model.h"
#include "daas/train/train.h"
#include "options.h"

namespace fs = std::filesystem;

namespace daas::cli {
namespace {

void run_train(Invocation<train::TrainOptions>& invocation, const std::string& resume_dir) {
  if (!resume_dir.empty()) resume_from(invocation, resume_dir, "train");
  const auto options = invocation.resolve();
  train::validate(options);
  if (invocation.dry_run) {
    fmt::print("{}", invocation.to_yaml_text(options, "train"));
    return;
  }
  const std::string run_dir = prepare_run_folder(invocation, options, "train", !resume_dir.empty());
  RunLog log((fs::path(run_dir) / RunLog::kFileName).string(), /*append=*/!resume_dir.empty());
  run_logged(run_dir, log, [&] {
    spdlog::info("daas train, profile {}; run folder {}", invocation.profile, run_dir);
    const auto result = train::run_train(options, run_dir, !resume_dir.empty());
    log.print(
        fmt::format("test top-1 {:.2f}%{} on {} images\nmodel: {}\nrun folder: {}\n", 100 * result.test.top1(),
                    result.test.confusion.size(0) > 10 ? fmt::format(", top-5 {:.2f}%", 100 * result.test.top5()) : "",
                    result.test.images, result.model_path, run_dir));
  });
}

struct EvalOptions : RuntimeOptions, DataOptions {
  std::string model;
  int64_t batch_size = 256;
  std::string json;
};

void run_eval(Invocation<EvalOptions>& invocation) {
  const auto options = invocation.resolve();
  if (invocation.dry_run) {
    fmt::print("{}", invocation.to_yaml_text(options, "eval"));
    return;
  }
  check(!options.model.empty(), "daas eval: no --model; expected the model.pt of a daas train run (or its folder)");
  const std::string path =
      fs::is_directory(options.model) ? (fs::path(options.model) / "model.pt").string() : options.model;
  const c10::Device device = setup_runtime(options);
  auto loaded = train::load_model(path, device);
  const auto& info = loaded.network->info();
  const DataSplits splits = load_data(options, static_cast<uint64_t>(options.seed));
  train::check_compatible(info, splits.test, path);
  if (splits.test.classes != info.classes) {
    spdlog::warn("{}: class names differ from {}'s; reporting with the model's names", path, splits.test.name);
  }
  fmt::print("model: {} ({} network, C {}, {} layers, {}×{}×{}, {} classes)\ngenotype: {}\n", path,
             train::network_kind_name(info.network), info.C, info.layers, info.in_channels, info.height, info.width,
             info.num_classes(), info.genotype.to_darts_string());
  const auto evaluation = train::evaluate(*loaded.network, splits.test, options.batch_size, device);
  fmt::print("{}: {}", splits.test.name, train::format_evaluation(evaluation, info.classes));
  if (!options.json.empty()) {
    auto json = evaluation.to_json(info.classes);
    json["model"] = path;
    json["data"] = splits.test.name;
    write_file_atomic(options.json, json.dump(2) + "\n");
  }
}

}  // namespace

void register_train(CLI::App& app) {
  auto invocation = std::make_shared<Invocation<train::TrainOptions>>();
  invocation->section = "train";
  add_runtime_options(invocation->table);
  add_data_options(invocation->table);
  train::add_train_options(invocation->table);
  auto* command = app.add_subcommand(
      "train", "retrain a genotype from scratch with an augmentation policy; writes model.pt and its test accuracy");
  auto resume = std::make_shared<std::string>();
  command->add_option("--resume", *resume, "continue the training in this run folder from its last checkpoint");
  bind_options(command, invocation);
  command->callback([invocation, resume] { run_train(*invocation, *resume); });
}

void register_eval(CLI::App& app) {
  auto invocation = std::make_shared<Invocation<EvalOptions>>();
  invocation->section = "eval";
  add_runtime_options(invocation->table);
  add_data_options(invocation->table);
  invocation->table.add("model", &EvalOptions::model, "model file written by daas train (model.pt), or its run folder")
      .add("batch_size", &EvalOptions::batch_size, "test images per batch", {1, 65536})
      .add("json", &EvalOptions::json, "also write the evaluation (per-class accuracy, confusion) to this JSON file");
  auto* command = app.add_subcommand(
      "eval", "test a saved model on a data set's test split: top-1/top-5, per-class accuracy, confusion matrix");
  bind_options(command, invocation);
  command->callback([invocation] { run_eval(*invocation); });
}

}  // namespace daas::cli
