#include "daas/data/loader.h"

#include <torch/torch.h>

#include "daas/core/error.h"

namespace daas::data {

BatchLoader::BatchLoader(const Dataset& data, LoaderOptions options, BatchTransform transform)
    : data_(data), options_(options), transform_(std::move(transform)) {
  core::check(options_.batch_size > 0, "batch size {}: expected at least 1", options_.batch_size);
  core::check(options_.prefetch > 0, "prefetch {}: expected at least 1", options_.prefetch);
  core::check(!options_.drop_last || data_.size() >= options_.batch_size,
              "{}: {} images, fewer than one batch of {}; lower batch_size or use more data", data_.name, data_.size(),
              options_.batch_size);
}

BatchLoader::~BatchLoader() { stop(); }

int64_t BatchLoader::batches_per_epoch() const {
  const int64_t n = data_.size();
  return options_.drop_last ? n / options_.batch_size : (n + options_.batch_size - 1) / options_.batch_size;
}

torch::Tensor BatchLoader::epoch_order(int64_t epoch) const {
  if (!options_.shuffle) return torch::arange(data_.size(), torch::kLong);
  // A fresh generator per epoch: epoch k's order does not depend on how many
  // epochs ran before in this process, so a resumed run sees the same order.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(options_.seed * 1000003ULL + static_cast<uint64_t>(epoch));
  return torch::randperm(data_.size(), generator, torch::kLong);
}

void BatchLoader::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (worker_.joinable()) worker_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  ready_.clear();
  error_ = nullptr;
  stopping_ = false;
}

void BatchLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  core::check(first_batch >= 0 && first_batch <= batches_per_epoch(), "first batch {}; expected 0..{}", first_batch,
              batches_per_epoch());
  stop();
  produced_ = first_batch;
  consumed_ = first_batch;
  done_ = false;
  worker_ = std::thread([this, epoch, first_batch] { produce(epoch, first_batch); });
}

void BatchLoader::produce(int64_t epoch, int64_t first_batch) {
  try {
    const auto order = epoch_order(epoch);
    const int64_t batches = batches_per_epoch();
    for (int64_t b = first_batch; b < batches; ++b) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return stopping_ || static_cast<int64_t>(ready_.size()) < options_.prefetch; });
        if (stopping_) return;
      }
      const int64_t begin = b * options_.batch_size;
      const int64_t end = std::min(begin + options_.batch_size, data_.size());
      Batch batch;
      batch.indices = order.slice(0, begin, end);
      batch.images = data_.images.index_select(0, batch.indices);
      batch.labels = data_.labels.index_select(0, batch.indices);
      batch.epoch = epoch;
      batch.index = b;
      if (transform_) transform_(batch);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ready_.push_back(std::move(batch));
      }
      changed_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
  }
  changed_.notify_all();
}

std::optional<Batch> BatchLoader::next() {
  if (done_) return std::nullopt;
  std::unique_lock<std::mutex> lock(mutex_);
  if (consumed_ == batches_per_epoch()) {
    done_ = true;
    return std::nullopt;
  }
  changed_.wait(lock, [&] { return !ready_.empty() || error_; });
  if (ready_.empty() && error_) {
    auto error = error_;
    done_ = true;
    std::rethrow_exception(error);
  }
  Batch batch = std::move(ready_.front());
  ready_.pop_front();
  ++consumed_;
  lock.unlock();
  changed_.notify_all();
  return batch;
}

}  // namespace daas::data
