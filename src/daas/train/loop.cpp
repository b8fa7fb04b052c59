#include "daas/train/loop.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "daas/core/error.h"

namespace daas::train {

void validate_loop(const LoopOptions& options) {
  check_network_size(options.channels, options.layers, "--channels/--layers");
  core::check(options.lr_min <= options.lr, "lr_min {} is above lr {}; expected lr_min <= lr", options.lr_min,
              options.lr);
}

void set_learning_rate(torch::optim::SGD& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
}

int64_t epoch_steps(const LoopOptions& options, int64_t full_steps) {
  return options.steps_per_epoch > 0 ? std::min(options.steps_per_epoch, full_steps) : full_steps;
}

void announce_resume(const std::string& run_dir, int64_t next_epoch, int64_t next_step, int64_t epochs) {
  if (next_epoch >= epochs) {
    spdlog::info("{}: the run already ran its {} epochs; nothing to resume (raise --epochs to go on)", run_dir,
                 next_epoch);
  } else {
    spdlog::info("resuming {} at epoch {}{}", run_dir, next_epoch + 1,
                 next_step > 0 ? fmt::format(", step {}", next_step + 1) : std::string());
  }
}

nlohmann::json epoch_record(int64_t epoch, double lr, int64_t steps, int64_t images, double seconds) {
  return {{"epoch", epoch + 1},
          {"lr", lr},
          {"steps", steps},
          {"seconds", seconds},
          {"images_per_second", static_cast<double>(images) / std::max(seconds, 1e-9)}};
}

}  // namespace daas::train
