#pragma once
// The daas subcommands. Each registers itself on the app and sets its callback.
#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "daas/core/run_log.h"

namespace daas::cli {

void register_augment(CLI::App& app);
void register_data(CLI::App& app);
void register_info(CLI::App& app);
void register_search(CLI::App& app);
void register_train(CLI::App& app);
void register_eval(CLI::App& app);
void register_experiment(CLI::App& app);
void register_report(CLI::App& app);

/// Writes RUN_DIR/report.html at the end of a search or training and prints
/// its path (also into run.log); a report that cannot be written is a
/// warning, not a failed run.
void write_run_report(const std::string& run_dir, core::RunLog& log);

/// Runs a search or training `body` with Ctrl-C/SIGTERM stopping it after
/// the step in progress (checkpoint, exit 130/143); an error is recorded in
/// run.log before it propagates; the report is written after a whole run.
void run_logged(const std::string& run_dir, core::RunLog& log, const std::function<void()>& body);
void register_predict(CLI::App& app);
void register_export(CLI::App& app);

}  // namespace daas::cli
