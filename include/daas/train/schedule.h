#pragma once
// Per-epoch schedules shared by the search and the retraining loops.
#include <cstdint>

namespace daas::train {

/// Cosine annealing from `high` at epoch 0 to `low` at epoch `epochs`
/// (PyTorch's CosineAnnealingLR with T_max = epochs, eta_min = low, stepped
/// once per epoch, as DARTS and GDAS use it).
double cosine_schedule(double high, double low, int64_t epoch, int64_t epochs);

/// Linear from `start` at epoch 0 to `end` at the last epoch (epochs - 1):
/// GDAS's temperature τ_max → τ_min.
double linear_schedule(double start, double end, int64_t epoch, int64_t epochs);

/// DARTS's drop-path schedule: `max_prob` · epoch / epochs.
double drop_path_schedule(double max_prob, int64_t epoch, int64_t epochs);

}  // namespace daas::train
