#pragma once
// A retraining step and inference split over the ranks of a WorkerTeam
// (daas/core/parallel.h): each rank runs its shard of the batch on its own
// replica of the network, BatchNorm keeps whole-batch statistics, and the
// master network ends the step with the whole batch's gradients.
#include <torch/optim/sgd.h>

#include <memory>
#include <vector>

#include "daas/core/parallel.h"
#include "daas/train/model.h"

namespace daas::train {

struct TrainOptions;

/// Images a rank runs through the network at once in CPU inference (a
/// shard is cut into chunks of nearly equal size, at most this many): at
/// the sizes daas retrains on a CPU (C 16, 28 × 28) a cell's activations
/// for 16 images stay in a core's cache. Measured (bench_compare --case
/// infer, batch 256, two ranks, two rounds): DARTS_V2 at C 16, 8 cells
/// 1,182-1,218 images/s with whole shards, 1,436-1,468 with chunks of 8,
/// 1,533-1,543 with 16, 1,427-1,474 with 32 (bench/rich_genotype.txt, one
/// round: 934, 1,209, 1,108, 1,160); at C 36, 20 cells, 3 × 32 × 32,
/// batch 96, chunks of 4, 8 or 16 and whole shards alike within the noise.
constexpr int64_t kInferenceChunk = 16;

class TrainRanks {
 public:
  /// `ranks` replicas of `master` on `device` (none for one rank: the master
  /// computes alone).
  TrainRanks(Network& master, int64_t ranks, bool channels_last, const c10::Device& device);
  int64_t size() const { return team_.size(); }
  /// The network rank `rank` computes with.
  Network& model(int64_t rank);
  core::WorkerTeam& team() { return team_; }
  Network& master() { return master_; }

  /// Replicas take the master's weights, buffers, mode and drop-path rate;
  /// every rank gets a drop-path generator with this step's seed, drawn from
  /// LibTorch's default generator (saved in every checkpoint), so a run stays
  /// a function of its seed and not of how its batches are split.
  void follow_master();
  /// The master's gradients become the sum of the replicas', its running
  /// statistics rank 0's (the same on every rank: BatchNorm is synchronised).
  void gather();
  /// Eval-mode logits [N, classes] of a normalised batch, each rank its
  /// shard (over several processes, each process its rows, and every process
  /// gets all N), on the CPU at most kInferenceChunk images at a time. The
  /// replicas must follow the master (follow_master()).
  torch::Tensor infer(const torch::Tensor& images);

 private:
  Network& master_;
  std::vector<std::unique_ptr<Network>> replicas_;
  core::WorkerTeam team_;
};

struct TrainStepResult {
  double loss = 0;      // mean loss of the batch (auxiliary term included)
  int64_t correct = 0;  // top-1 hits
};

/// One retraining step on a normalised batch: forward, loss (label
/// smoothing, auxiliary head), backward over the ranks (and the processes of
/// the run: each its rows of the global batch), gradient clipping and an SGD
/// step on the master. Fails when the loss is not finite.
TrainStepResult train_step(TrainRanks& ranks, torch::optim::SGD& optimizer, const TrainOptions& options,
                           const torch::Tensor& images, const torch::Tensor& labels, int64_t epoch, int64_t step);

}  // namespace daas::train
