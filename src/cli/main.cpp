// daas: joint architecture and augmentation policy search (DAAS) on LibTorch.
#include <c10/util/Exception.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "daas/core/error.h"
#include "daas/core/interrupt.h"
#include "daas/core/runtime.h"

namespace {

struct CommandEntry {
  void (*add)(CLI::App&);
};

// Every subcommand, in the order `daas --help` lists them.
constexpr CommandEntry kCommands[] = {
    {&daas::cli::register_search},     {&daas::cli::register_train},  {&daas::cli::register_eval},
    {&daas::cli::register_augment},    {&daas::cli::register_data},   {&daas::cli::register_info},
    {&daas::cli::register_experiment}, {&daas::cli::register_report},
};

}  // namespace

int main(int argc, char** argv) {
  daas::prefer_passive_openmp(argv);
  auto logger = spdlog::stderr_color_mt("daas");
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
  } catch (const daas::Interrupted& e) {
    spdlog::warn("{}", e.what());
    return e.exit_status();
  } catch (const daas::Error& e) {
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
