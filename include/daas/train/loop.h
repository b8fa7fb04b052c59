#pragma once
// What the search's weight training and retraining share: the settings of a
// network trained with SGD over epochs, declared once with one set of ranges,
// and the learning-rate update of each epoch.
#include <torch/optim/sgd.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "daas/core/config.h"
#include "daas/train/model.h"

namespace daas::train {

/// Network size, epochs and the weights' SGD settings. Search and retraining
/// differ only in some defaults (SearchOptions, TrainOptions).
struct LoopOptions {
  int64_t epochs = 10;
  int64_t steps_per_epoch = 0;  // 0 = one pass over the data
  int64_t batch_size = 64;
  int64_t channels = 16;
  int64_t layers = 8;
  double lr = 0.025;
  double lr_min = 0.001;
  double momentum = 0.9;
  double weight_decay = 3e-4;
  double grad_clip = 5.0;
  bool channels_last = true;
};

template <typename T>
void add_loop_options(core::OptionTable<T>& table) {
  table.add("epochs", &T::epochs, "epochs", {1, 100000})
      .add("steps_per_epoch", &T::steps_per_epoch,
           "steps per epoch; 0 = one pass over the training data (a search: over the smaller half)", {0, 1e9})
      .add("batch_size", &T::batch_size, "training images per batch (a search draws as many validation images)",
           {2, 65536})
      .add("channels", &T::channels, "initial channels C of the network (C²·layers at most 2097152)",
           {kMinChannels, kMaxChannels})
      .add("layers", &T::layers, "cells of the network", {kMinLayers, kMaxLayers})
      .add("lr", &T::lr, "weight learning rate at epoch 0 (SGD, cosine schedule)", {0, 10})
      .add("lr_min", &T::lr_min, "weight learning rate at the end of the cosine schedule", {0, 10})
      .add("momentum", &T::momentum, "SGD momentum", {0, 1})
      .add("weight_decay", &T::weight_decay, "SGD weight decay", {0, 1})
      .add("grad_clip", &T::grad_clip, "gradient norm clip of the weights; 0 = none", {0, 1e6})
      .add("channels_last", &T::channels_last, "compute in channels-last memory format (faster on CPU)");
}

/// Fails unless the settings work together: the network size
/// (check_network_size) and lr_min <= lr.
void validate_loop(const LoopOptions& options);

/// Sets the learning rate of every parameter group (once per epoch).
void set_learning_rate(torch::optim::SGD& optimizer, double lr);

/// Steps of one epoch: `steps_per_epoch`, at most `full_steps` (one pass
/// over the data), or `full_steps` when steps_per_epoch is 0.
int64_t epoch_steps(const LoopOptions& options, int64_t full_steps);

/// Logs where a resumed run goes on (`next_step` > 0: within an epoch it was
/// stopped in), or that it already ran its epochs.
void announce_resume(const std::string& run_dir, int64_t next_epoch, int64_t next_step, int64_t epochs);

/// The fields every epoch's record in metrics.jsonl holds: the epoch
/// (`epoch` counts from 0, the record from 1), lr, steps, seconds, and
/// training images per second over those seconds.
nlohmann::json epoch_record(int64_t epoch, double lr, int64_t steps, int64_t images, double seconds);

}  // namespace daas::train
