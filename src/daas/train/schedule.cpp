#include "daas/train/schedule.h"

#include <cmath>

namespace daas::train {

double cosine_schedule(double high, double low, int64_t epoch, int64_t epochs) {
  if (epochs <= 0) return high;
  const double progress = static_cast<double>(epoch) / static_cast<double>(epochs);
  return low + (high - low) * (1.0 + std::cos(M_PI * progress)) / 2.0;
}

double linear_schedule(double start, double end, int64_t epoch, int64_t epochs) {
  if (epochs <= 1) return start;
  const double progress = static_cast<double>(epoch) / static_cast<double>(epochs - 1);
  return start + (end - start) * progress;
}

double drop_path_schedule(double max_prob, int64_t epoch, int64_t epochs) {
  if (epochs <= 0) return 0.0;
  return max_prob * static_cast<double>(epoch) / static_cast<double>(epochs);
}

}  // namespace daas::train
