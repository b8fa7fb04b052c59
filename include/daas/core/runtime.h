#pragma once
// Settings every command shares (seed, threads, device, run folder, log
// level) and the process-wide setup they drive.
#include <c10/core/Device.h>

#include <cstdint>
#include <string>

#include "daas/core/config.h"
#include "daas/core/parallel.h"

namespace daas::core {

struct RuntimeOptions {
  int64_t seed = 0;
  int64_t threads = 0;  // 0 = all cores
  std::string parallel = "batch";
  std::string device = "cpu";
  std::string out = "";  // run folder; empty = runs/<command>-<time>
  std::string log_level = "info";
};

/// Declares the RuntimeOptions keys in any table whose struct derives from it.
template <typename T>
void add_runtime_options(OptionTable<T>& table) {
  table.add("seed", &T::seed, "random seed; fixes a run on CPU", {0, 4294967295.0})
      .add("threads", &T::threads, "CPU threads; 0 = all cores", {0, 1024})
      .add_choice("parallel", &T::parallel,
                  "how CPU threads share a step: batch = each thread computes its shard of every batch (BatchNorm "
                  "statistics stay the whole batch's), op = all threads inside each op",
                  {kParallelModes.begin(), kParallelModes.end()})
      .add_choice("device", &T::device, "cpu or cuda (cuda:N for a given GPU)", {})
      .add("out", &T::out, "run folder; empty = runs/<command>-<date>-<time>")
      .add_choice("log_level", &T::log_level, "logging level", {"trace", "debug", "info", "warn", "error"});
}

/// Settings a resumed run may change, since they do not alter its result:
/// epochs, threads, device, log_level (and out, which names the run).
bool may_change_on_resume(const std::string& key);

/// libgomp (LibTorch's OpenMP) spins in its barriers by default. On a shared
/// or oversubscribed machine that stalls every parallel region of a small
/// network behind descheduled threads (measured: a smoke search next to two
/// busy processes took over 50 s spinning, 9.4 s with passive waiting). The
/// policy is read once at program start, so unless OMP_WAIT_POLICY is set this
/// re-executes the program with OMP_WAIT_POLICY=PASSIVE. Call first in main().
void prefer_passive_openmp(char** argv);

/// Makes glibc's malloc keep freed memory for reuse: a training step
/// allocates and frees activations of a few MiB hundreds of times, and with
/// glibc's defaults many of those go back to the kernel and come again as
/// fresh zeroed pages (measured: about 10% of a retraining step in page
/// faults and page clearing; bench_compare's train case 5–8% faster with this).
/// The process's resident memory then stays near its peak. No-op elsewhere.
void keep_freed_memory();

/// Sets LibTorch's intra-op threads (0 = all cores) and returns the count used.
int64_t configure_threads(int64_t threads);

/// Parses "cpu", "cuda", "cuda:N"; fails clearly when CUDA is asked for and absent.
c10::Device resolve_device(const std::string& name);

/// Seeds LibTorch's global CPU (and CUDA) generators.
void seed_everything(uint64_t seed);

/// Sets the log level ("trace" ... "error"); below "info" the progress line
/// is not drawn either.
void apply_log_level(const std::string& level);

/// Applies threads, seed, log level and keep_freed_memory(); returns the device.
c10::Device setup_runtime(const RuntimeOptions& options);

/// The run folder: options.out, or runs/<command>-<YYYYmmdd-HHMMSS>.
std::string run_folder(const RuntimeOptions& options, const std::string& command);

}  // namespace daas::core
