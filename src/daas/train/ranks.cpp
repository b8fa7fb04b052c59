#include "daas/train/ranks.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>

#include "daas/train/loss.h"
#include "daas/train/train.h"

namespace daas::train {

TrainRanks::TrainRanks(Network& master, int64_t ranks, bool channels_last, const c10::Device& device)
    : master_(master),
      replicas_(core::make_replicas<Network>(ranks > 1 ? ranks : 0,
                                             [&] {
                                               auto replica = std::make_unique<Network>(master.info(), channels_last);
                                               replica->module().to(device);
                                               return replica;
                                             })),
      team_(ranks) {}

Network& TrainRanks::model(int64_t rank) { return replicas_.empty() ? master_ : *replicas_[static_cast<size_t>(rank)]; }

void TrainRanks::follow_master() {
  // One seed per step from the default generator (the same on every process
  // of a run, and saved in checkpoints); every rank draws the whole batch's
  // drop-path masks from it and keeps its rows (nas::drop_path).
  auto global = at::detail::getDefaultCPUGenerator();
  uint64_t seed = 0;
  {
    std::lock_guard<std::mutex> lock(global.mutex());
    seed = global.get<at::CPUGeneratorImpl>()->random64();
  }
  std::vector<at::Generator> generators;
  for (int64_t r = 0; r < size(); ++r) generators.push_back(at::make_generator<at::CPUGeneratorImpl>(seed));
  team_.set_generators(std::move(generators));
  for (auto& replica : replicas_) {
    core::copy_module_state(master_.module(), replica->module());
    replica->set_drop_path_prob(master_.drop_path_prob());
    replica->module().train(master_.module().is_training());
  }
}

void TrainRanks::gather() {
  if (replicas_.empty()) return;
  std::vector<std::vector<torch::Tensor>> parts;
  for (auto& replica : replicas_) parts.push_back(core::grads_of(replica->module().parameters()));
  auto params = master_.module().parameters();
  const auto summed = core::sum_over_ranks(parts);
  for (size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = summed[i];
  core::copy_buffers(replicas_[0]->module(), master_.module());
}

torch::Tensor TrainRanks::infer(const torch::Tensor& batch) {
  // This process's rows, then every process's logits (process order).
  const auto images = core::process_shard(batch);
  const int64_t size = this->size();
  std::vector<torch::Tensor> logits(static_cast<size_t>(size));
  team_.run([&](int64_t rank) {
    const auto [begin, end] = core::shard_range(images.size(0), rank, size);
    auto& net = model(rank);
    // In eval mode every image's logits depend on that image alone, so on
    // the CPU a rank runs its shard a few images at a time: their
    // activations stay in the core's cache instead of streaming from memory.
    // The chunks are of nearly equal size (never one image alone beside
    // others: LibTorch's convolution runs a batch of one another way, with
    // other roundings); elsewhere the shard is one chunk.
    const int64_t n = end - begin;
    const bool chunked = !net.module().is_training() && images.device().is_cpu();
    const int64_t count = chunked ? std::max<int64_t>(1, (n + kInferenceChunk - 1) / kInferenceChunk) : 1;
    std::vector<torch::Tensor> parts;
    for (int64_t i = 0; i < count; ++i) {
      const auto [from, to] = core::shard_range(n, i, count);
      parts.push_back(net.forward(images.slice(0, begin + from, begin + to)).logits);
    }
    logits[static_cast<size_t>(rank)] = count == 1 ? parts[0] : torch::cat(parts);
  });
  return core::gather_process_shards(size == 1 ? logits[0] : torch::cat(logits), batch.size(0));
}

TrainStepResult train_step(TrainRanks& ranks, torch::optim::SGD& optimizer, const TrainOptions& options,
                           const torch::Tensor& batch_images, const torch::Tensor& batch_labels, int64_t epoch,
                           int64_t step) {
  ranks.follow_master();
  // Over several processes each computes its rows of the global batch.
  const int64_t global_batch = batch_labels.size(0);
  const auto images = core::process_shard(batch_images);
  const auto labels = core::process_shard(batch_labels);
  const bool split = ranks.size() > 1 || core::process_count() > 1;
  const int64_t process_first_row = core::process_shard_range(global_batch).first;
  const int64_t size = ranks.size();
  std::vector<double> losses(static_cast<size_t>(size));
  std::vector<int64_t> correct(static_cast<size_t>(size));
  ranks.team().run([&](int64_t rank) {
    auto& net = ranks.model(rank);
    const auto [begin, end] = core::shard_range(images.size(0), rank, size);
    core::BatchRows rows(global_batch, process_first_row + begin);
    const auto y = labels.slice(0, begin, end);
    const auto output = net.forward(images.slice(0, begin, end));
    auto loss = smoothed_cross_entropy(output.logits, y, options.label_smoothing);
    if (output.aux_logits.defined()) {
      loss = loss + options.auxiliary_weight * smoothed_cross_entropy(output.aux_logits, y, options.label_smoothing);
    }
    // This shard's share of the whole batch's mean.
    if (split) loss = loss * (static_cast<double>(end - begin) / static_cast<double>(global_batch));
    // Gradients cleared to undefined (zero_grad(set_to_none=True)): a resumed
    // run, whose gradients start undefined, then continues bit for bit.
    for (auto parameter : net.module().parameters()) parameter.mutable_grad() = torch::Tensor();
    loss.backward();
    losses[static_cast<size_t>(rank)] = loss.item<double>();
    correct[static_cast<size_t>(rank)] = correct_top_k(output.logits.detach(), y, 1);
  });
  ranks.gather();
  TrainStepResult result;
  for (int64_t r = 0; r < size; ++r) {
    result.loss += losses[static_cast<size_t>(r)];
    result.correct += correct[static_cast<size_t>(r)];
  }
  if (core::process_count() > 1) {
    // The global batch's gradients and totals, in one message.
    auto grads = core::grads_of(ranks.master().module().parameters());
    grads.push_back(torch::tensor({result.loss, static_cast<double>(result.correct)}, torch::kFloat64));
    core::all_reduce_over_processes(grads);
    result.loss = grads.back()[0].item<double>();
    result.correct = std::llround(grads.back()[1].item<double>());
  }
  check_finite(torch::tensor(result.loss), "training loss", epoch + 1, step + 1);
  const auto parameters = ranks.master().module().parameters();
  if (options.grad_clip > 0) torch::nn::utils::clip_grad_norm_(parameters, options.grad_clip);
  optimizer.step();
  return result;
}

}  // namespace daas::train
