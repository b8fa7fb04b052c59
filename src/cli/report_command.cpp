// `daas report RUN_DIR [RUN_DIR ...]`: one self-contained HTML report of
// search and train runs; also written by `daas search` and `daas train` at
// the end of a run.
#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "daas/core/interrupt.h"
#include "daas/core/parallel.h"
#include "daas/report/report.h"

namespace daas::cli {
namespace {

struct ReportArguments {
  std::vector<std::string> runs;
  std::string out;
  int64_t preview_images = 8;
  int64_t preview_samples = 8;
};

void print_notes(const report::ReportResult& result) {
  for (const auto& note : result.notes) spdlog::info("report: {}", note);
}

void run_report(const ReportArguments& arguments) {
  std::string out = arguments.out;
  if (out.empty()) out = report::default_report_path(arguments.runs);
  if (out.empty()) {
    throw CLI::ValidationError("--out", "several run folders: expected --out FILE for the report");
  }
  report::ReportOptions options;
  options.preview_images = arguments.preview_images;
  options.preview_samples = arguments.preview_samples;
  const auto result = report::write_report(arguments.runs, out, options);
  print_notes(result);
  fmt::print("report of {} run{}: {}\n", result.runs.size(), result.runs.size() == 1 ? "" : "s", result.path);
}

}  // namespace

void write_run_report(const std::string& run_dir, core::RunLog& log) {
  try {
    const auto result = report::write_report({run_dir}, report::default_report_path({run_dir}));
    print_notes(result);
    log.print(fmt::format("report: {}\n", result.path));
  } catch (const c10::Error& e) {
    spdlog::warn("report not written: {}", e.what_without_backtrace());
  } catch (const std::exception& e) {
    spdlog::warn("report not written: {}", e.what());
  }
}

void run_logged(const std::string& run_dir, core::RunLog& log, const std::function<void()>& body) {
  const core::InterruptHandlers stop_on_signal;
  try {
    body();
  } catch (const c10::Error& e) {
    log.record_error(e.what_without_backtrace());
    throw;
  } catch (const std::exception& e) {
    log.record_error(e.what());
    throw;
  }
  if (core::writes_run_files()) write_run_report(run_dir, log);  // rank 0 alone writes the run folder
}

void register_report(CLI::App& app) {
  auto arguments = std::make_shared<ReportArguments>();
  auto* command = app.add_subcommand(
      "report",
      "write one self-contained HTML report (curves, cells, α and policy over the epochs, augmentation previews, "
      "evaluation; a comparison for several runs) of search and train run folders");
  command
      ->add_option("runs", arguments->runs,
                   "run folders of daas search or daas train, or folders holding runs (an experiment, a make run "
                   "folder)")
      ->required()
      ->type_name("RUN_DIR");
  command->add_option("--out", arguments->out, "the report file; default RUN_DIR/report.html for one folder")
      ->type_name("FILE");
  command->add_option("--preview-images", arguments->preview_images, "preview grid rows (one image per class)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  command->add_option("--preview-samples", arguments->preview_samples, "preview grid: augmented draws per image")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  command->callback([arguments] { run_report(*arguments); });
}

}  // namespace daas::cli
