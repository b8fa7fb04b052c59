#pragma once
// The daas subcommands. Each registers itself on the app and sets its callback.
#include <CLI/CLI.hpp>

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
void write_run_report(const std::string& run_dir, RunLog& log);

}  // namespace daas::cli
