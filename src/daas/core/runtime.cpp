#include "daas/core/runtime.h"

#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <torch/torch.h>

#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <cstdlib>
#include <ctime>
#include <thread>

#include "daas/core/error.h"

namespace daas::core {

void prefer_passive_openmp(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/1);
  ::execv("/proc/self/exe", argv);
  // execv returned: it failed; go on with the default policy.
}

void keep_freed_memory() {
#if defined(__GLIBC__)
  // Blocks up to 32 MiB (glibc's largest mmap threshold) come from the heap,
  // the heap is trimmed only when 512 MiB lie free at its top, and it grows
  // by 64 MiB more than each request needs, in a few large steps.
  ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 512 << 20);
  ::mallopt(M_TOP_PAD, 64 << 20);
#endif
}

int64_t configure_threads(int64_t threads) {
  const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
  const int64_t count = threads > 0 ? threads : cores;
  at::set_num_threads(static_cast<int>(count));
  return count;
}

bool may_change_on_resume(const std::string& key) {
  return key == "epochs" || key == "threads" || key == "device" || key == "log_level" || key == "out";
}

c10::Device resolve_device(const std::string& name) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name.rfind("cuda", 0) != 0) fail("device '{}': expected cpu, cuda or cuda:N", name);
  c10::Device device(c10::kCUDA);
  try {
    device = c10::Device(name);
  } catch (const std::exception&) {
    fail("device '{}': expected cpu, cuda or cuda:N", name);
  }
  if (!torch::cuda::is_available()) {
    fail(
        "device '{}': CUDA is not available (this LibTorch has no CUDA support or no GPU is visible); use --device cpu",
        name);
  }
  const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
  if (device.has_index() && device.index() >= count) {
    fail("device '{}': only {} CUDA device(s) visible", name, count);
  }
  return device;
}

void seed_everything(uint64_t seed) {
  torch::manual_seed(seed);
  if (torch::cuda::is_available()) torch::cuda::manual_seed_all(seed);
}

void apply_log_level(const std::string& level) {
  auto parsed = spdlog::level::from_str(level);
  // Over several processes rank 0 reports progress; the others say only
  // what goes wrong.
  if (!writes_run_files()) parsed = std::max(parsed, spdlog::level::warn);
  spdlog::set_level(parsed);
}

c10::Device setup_runtime(const RuntimeOptions& options) {
  apply_log_level(options.log_level);
  keep_freed_memory();
  const c10::Device device = resolve_device(options.device);
  const int64_t threads = configure_threads(options.threads);
  seed_everything(static_cast<uint64_t>(options.seed));
  spdlog::debug("threads {}, device {}, seed {}", threads, device.str(), options.seed);
  return device;
}

std::string run_folder(const RuntimeOptions& options, const std::string& command) {
  if (!options.out.empty()) return options.out;
  const std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  return "runs/" + command + "-" + stamp;
}

}  // namespace daas::core
