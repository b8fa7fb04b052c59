#pragma once
// `--nproc N` and `--dist-timeout S` of daas search, train and eval: a run
// over several processes, started here (--nproc) or by torchrun.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "daas/core/runtime.h"

namespace daas::cli {

struct DistArguments {
  int64_t nproc = 1;
  double timeout_seconds = 60;
};

/// argv[1:] as main() received it (the launcher starts its workers with it).
std::vector<std::string>& program_arguments();

/// Registers --nproc and --dist-timeout on `command`.
void add_dist_options(CLI::App* command, DistArguments& arguments);

/// Whether the command writes a run folder that every process must share.
enum class RunFolder { kShared, kNone };

/// With --nproc N > 1 (and not inside a worker): starts the N workers with
/// this command line (plus --out when a shared run folder was not named),
/// waits for them and returns true; the caller then returns. The process
/// exits with the first failed worker's status when one fails.
bool launch_workers(const DistArguments& arguments, const core::RuntimeOptions& options, const std::string& command,
                    RunFolder folder = RunFolder::kShared);

/// Inside a worker (torchrun's or --nproc's environment, WORLD_SIZE > 1):
/// joins the process group. A run that writes a shared run folder needs it
/// named (--out or --resume). Does nothing in a plain run.
void join_process_group(const DistArguments& arguments, const core::RuntimeOptions& options,
                        RunFolder folder = RunFolder::kShared);

/// threads 0 (all cores) over several processes on one machine: the cores
/// shared among the machine's processes (LOCAL_WORLD_SIZE), as torchrun's
/// OMP_NUM_THREADS does.
int64_t threads_per_process(int64_t threads);

}  // namespace daas::cli
