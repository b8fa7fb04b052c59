// `daas export`: a trained model as files a PyTorch user loads without daas.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "commands.h"
#include "daas/core/runtime.h"
#include "daas/data/dataset.h"
#include "daas/train/export.h"
#include "daas/train/model.h"
#include "options.h"

namespace fs = std::filesystem;

namespace daas::cli {
namespace {

struct ExportOptions : core::RuntimeOptions {
  std::string model;
};

void run_export(const Invocation<ExportOptions>& invocation) {
  auto options = invocation.resolve();
  if (invocation.dry_run) {
    fmt::print("{}", invocation.to_yaml_text(options, "export"));
    return;
  }
  const std::string path = model_file(options.model, "export");
  // Without --out, a new folder runs/export-<date>-<time>, as --help says of
  // every command's run folder; the folder is printed with the files.
  options.out = core::run_folder(options, "export");
  core::check(!fs::exists(options.out) || (fs::is_directory(options.out) && fs::is_empty(options.out)),
              "--out {}: exists and is not an empty folder; expected a new or empty folder (nothing in it was changed)",
              options.out);
  core::setup_runtime(options);
  auto loaded = train::load_model(path, c10::Device(c10::kCPU));
  std::string resize = "crop";
  if (loaded.extra.contains("data_settings")) {
    data::DataOptions data;
    data::data_options_from_json(loaded.extra.at("data_settings"), {}, path + ": model record", data);
    resize = data.image_resize;
  }
  for (const auto& file : train::export_model(*loaded.network, options.out, resize)) fmt::print("{}\n", file);
  spdlog::info("exported {} for PyTorch: load state_dict.pt into DARTS's {} (model.json holds its arguments)", path,
               loaded.network->info().network == train::NetworkKind::kImageNet ? "NetworkImageNet" : "NetworkCIFAR");
}

}  // namespace

void register_export(CLI::App& app) {
  auto invocation = std::make_shared<Invocation<ExportOptions>>();
  invocation->section = "export";
  core::add_runtime_options(invocation->table);
  // The export is a copy on the CPU: no device, seed or parallel mode.
  invocation->table.remove("device").remove("parallel").remove("seed");
  invocation->table.add("model", &ExportOptions::model,
                        "model file written by daas train (model.pt), or its run folder");
  auto* command = app.add_subcommand(
      "export",
      "write a trained model for PyTorch: a state dict with DARTS's NetworkCIFAR/NetworkImageNet names "
      "(torch.load), the genotype in DARTS syntax, the normalisation");
  bind_options(command, invocation);
  command->callback([invocation] { run_export(*invocation); });
}

}  // namespace daas::cli
