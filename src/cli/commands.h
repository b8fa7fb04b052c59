#pragma once
// The daas subcommands. Each registers itself on the app and sets its callback.
#include <CLI/CLI.hpp>

namespace daas::cli {

void register_augment(CLI::App& app);
void register_data(CLI::App& app);
void register_info(CLI::App& app);
void register_search(CLI::App& app);
void register_train(CLI::App& app);
void register_eval(CLI::App& app);
void register_predict(CLI::App& app);
void register_export(CLI::App& app);

}  // namespace daas::cli
