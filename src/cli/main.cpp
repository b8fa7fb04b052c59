// daas: joint architecture and augmentation policy search (DAAS) on LibTorch.
#include <c10/util/Exception.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <string>

#include "commands.h"
#include "daas/core/error.h"
#include "daas/core/interrupt.h"
#include "daas/core/runtime.h"
#include "distributed.h"
#include "options.h"

namespace {

struct CommandEntry {
  void (*add)(CLI::App&);
};

// Every subcommand, in the order `daas --help` lists them.
constexpr CommandEntry kCommands[] = {
    {&daas::cli::register_search},  {&daas::cli::register_train},  {&daas::cli::register_eval},
    {&daas::cli::register_predict}, {&daas::cli::register_export}, {&daas::cli::register_augment},
    {&daas::cli::register_data},    {&daas::cli::register_info},   {&daas::cli::register_experiment},
    {&daas::cli::register_report},
};

// The value of --profile on the command line, if any, so that --help can
// show that profile's values.
void note_help_profile(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--profile" && i + 1 < argc) daas::cli::help_profile() = argv[i + 1];
    if (arg.rfind("--profile=", 0) == 0) daas::cli::help_profile() = arg.substr(10);
  }
}

// https://no-color.org: a set, non-empty NO_COLOR turns colour off.
spdlog::color_mode color_mode() {
  const char* no_color = std::getenv("NO_COLOR");
  return no_color != nullptr && *no_color != '\0' ? spdlog::color_mode::never : spdlog::color_mode::automatic;
}

}  // namespace

int main(int argc, char** argv) {
  daas::core::prefer_passive_openmp(argv);
  note_help_profile(argc, argv);
  for (int i = 1; i < argc; ++i) daas::cli::program_arguments().emplace_back(argv[i]);
  auto logger = spdlog::stderr_color_mt("daas", color_mode());
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("[%H:%M:%S] %^%l%$ %v");

  CLI::App app{
      "daas: searches a network architecture and a data-augmentation policy together (DAAS),\n"
      "retrains the found network with the found policy, and exports both."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "daas 0.1.0");
  for (const auto& command : kCommands) command.add(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every other parse error is a usage error,
    // 2 by convention (CLI11's own codes are 100 and up).
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const daas::core::Interrupted& e) {
    spdlog::warn("{}", e.what());
    return e.exit_status();
  } catch (const daas::core::UsageError& e) {
    spdlog::error("{}", e.what());
    return 2;
  } catch (const daas::core::Error& e) {
    spdlog::error("{}", e.what());
    return 1;
  } catch (const c10::Error& e) {
    spdlog::error("{}", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
