#include "distributed.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <thread>
#include <variant>

#include "daas/core/config.h"
#include "daas/core/error.h"
#include "daas/core/parallel.h"
#include "daas/dist/process_group.h"

namespace daas::cli {

std::vector<std::string>& program_arguments() {
  static std::vector<std::string> arguments;
  return arguments;
}

namespace {

// The options' declarations, checked as every other setting is: CLI11's
// Range lets NaN through (it then became an integer timeout of -9e15 s) and
// calls a word "not in range", while the table's check names the option, the
// value and what it takes ("is not an integer", "is out of range; expected a
// value in [1, 4096]"), as a usage error.
const core::OptionTable<DistArguments>& dist_option_table() {
  static const core::OptionTable<DistArguments> table = [] {
    core::OptionTable<DistArguments> t;
    t.add("nproc", &DistArguments::nproc,
          "worker processes on this machine, data-parallel: each computes its share of every batch (batch_size is "
          "the global batch, split over processes and then threads); torchrun's environment (RANK, WORLD_SIZE, "
          "MASTER_ADDR, MASTER_PORT) works as well",
          {1, 4096})
        .add("dist_timeout", &DistArguments::timeout_seconds,
             "seconds a process waits for the others (rendezvous, each all-reduce) before it stops with an error, "
             "when a process of the run died or hangs",
             {0.1, 86400.0});
    return t;
  }();
  return table;
}

}  // namespace

void add_dist_options(CLI::App* command, DistArguments& arguments) {
  const auto& table = dist_option_table();
  for (const auto& option : table.options()) {
    const std::string name = "--" + core::OptionTable<DistArguments>::dashed(option.key);
    const std::string key = option.key;
    command
        ->add_option_function<std::string>(
            name,
            [&arguments, &table, key, name](const std::string& value) {
              core::Settings settings;
              settings.set(key, value, name);
              table.apply(settings, arguments);
            },
            // `arguments` holds the defaults still: --help shows them as every setting's.
            fmt::format("{} [{}] ({})", option.help, table.value_text(arguments, option),
                        core::OptionTable<DistArguments>::allowed(option)))
        ->type_name(std::holds_alternative<int64_t DistArguments::*>(option.field) ? "INT" : "FLOAT");
  }
}

namespace {

std::chrono::milliseconds timeout_of(const DistArguments& arguments) {
  return std::chrono::milliseconds(static_cast<int64_t>(arguments.timeout_seconds * 1000));
}

}  // namespace

bool launch_workers(const DistArguments& arguments, const core::RuntimeOptions& options, const std::string& command,
                    RunFolder folder) {
  if (arguments.nproc <= 1) return false;
  core::check(!dist::read_environment().has_value(),
              "--nproc {} inside a worker process (WORLD_SIZE is set, torchrun?); use one or the other",
              arguments.nproc);
  std::vector<std::string> forwarded;
  const auto& all = program_arguments();
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i] == "--nproc") {
      ++i;  // and its value
      continue;
    }
    if (all[i].rfind("--nproc=", 0) == 0) continue;
    forwarded.push_back(all[i]);
  }
  // One run folder for all: rank 0 writes it, the others resume from it.
  if (folder == RunFolder::kShared && options.out.empty()) {
    forwarded.push_back("--out");
    forwarded.push_back(core::run_folder(options, command));
  }
  spdlog::info("starting {} worker processes", arguments.nproc);
  const int status = dist::launch_local(arguments.nproc, forwarded, timeout_of(arguments) + std::chrono::seconds(10));
  if (status != 0) {
    spdlog::default_logger()->flush();
    std::exit(status);
  }
  return true;
}

void join_process_group(const DistArguments& arguments, const core::RuntimeOptions& options, RunFolder folder) {
  const auto env = dist::read_environment();
  if (!env || env->world_size <= 1) return;
  core::check(folder == RunFolder::kNone || !options.out.empty(),
              "rank {} of {}: a run over several processes needs its run folder named (--out DIR or --resume DIR); "
              "daas search --nproc names one itself",
              env->rank, env->world_size);
  dist::init_process_group(*env, timeout_of(arguments));
}

int64_t threads_per_process(int64_t threads) {
  if (threads != 0 || core::process_count() == 1) return threads;
  int64_t local = core::process_count();
  if (const char* value = std::getenv("LOCAL_WORLD_SIZE")) local = std::max<int64_t>(1, std::atoll(value));
  const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
  return std::max<int64_t>(1, cores / local);
}

}  // namespace daas::cli
