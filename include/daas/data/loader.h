#pragma once
// Batches drawn from an in-memory Dataset: a seeded shuffle per epoch, an
// optional drop of the last partial batch, and a background thread that cuts
// and transforms (augments, normalises) the next batches while the model
// computes on the current one.
#include <torch/types.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "daas/data/dataset.h"

namespace daas::data {

struct Batch {
  torch::Tensor images;   // uint8 [B, C, H, W] from the loader; the transform may replace it
  torch::Tensor labels;   // int64 [B]
  torch::Tensor indices;  // int64 [B], rows of the dataset
  int64_t epoch = 0;
  int64_t index = 0;  // batch number within the epoch
};

/// Runs on the prefetch thread. Randomness must come from (seed, epoch, index)
/// so that results do not depend on thread timing.
using BatchTransform = std::function<void(Batch&)>;

struct LoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = true;
  bool drop_last = true;
  uint64_t seed = 0;
  int64_t prefetch = 2;  // batches prepared ahead
};

class BatchLoader {
 public:
  /// `data` must outlive the loader.
  BatchLoader(const Dataset& data, LoaderOptions options, BatchTransform transform = {});
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  /// Starts (or restarts) epoch `epoch`: its order is a function of (seed,
  /// epoch). From `first_batch` on (a run resumed within an epoch): batches
  /// and their transforms depend on (seed, epoch, index) alone, so the rest
  /// of the epoch is what it would have been.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  /// The next batch of the current epoch, or nullopt at its end. Rethrows a
  /// transform's error.
  std::optional<Batch> next();
  int64_t batches_per_epoch() const;
  /// The order of epoch `epoch` (exposed for tests).
  torch::Tensor epoch_order(int64_t epoch) const;

 private:
  void stop();
  void produce(int64_t epoch, int64_t first_batch);

  const Dataset& data_;
  LoaderOptions options_;
  BatchTransform transform_;
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Batch> ready_;
  std::exception_ptr error_;
  int64_t produced_ = 0;
  int64_t consumed_ = 0;
  bool stopping_ = false;
  bool done_ = true;
};

}  // namespace daas::data
