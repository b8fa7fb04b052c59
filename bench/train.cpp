// Retraining throughput: images per second of one training step (forward,
// auxiliary-free loss, backward, gradient clip, SGD step; drop-path 0.2) and
// of inference (eval mode, no gradients) for DARTS_V2 at C = 16, 8 cells, on
// 1×28×28 grayscale images (Fashion-MNIST's shape), batch 96, 2 threads.
//
//   cmake --build build-train --target bench_train
//   OMP_WAIT_POLICY=PASSIVE ./build-train/bench/bench_train
//
// PASSIVE matters on a shared machine: with OpenMP's default spin-waiting the
// same run measured 4.7 training images/s instead of 78 while another job ran.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "daas/nas/genotype.h"
#include "daas/train/loss.h"
#include "daas/train/model.h"

namespace {

constexpr int64_t kC = 16, kLayers = 8, kBatch = 96, kSide = 28, kClasses = 10, kThreads = 2;

daas::train::ModelInfo bench_info() {
  daas::train::ModelInfo info;
  info.genotype = daas::nas::builtin_genotype("DARTS_V2");
  info.C = kC;
  info.layers = kLayers;
  info.in_channels = 1;
  info.height = kSide;
  info.width = kSide;
  for (int64_t k = 0; k < kClasses; ++k) info.classes.push_back(std::to_string(k));
  info.mean = {0.286};
  info.std = {0.353};
  return info;
}

void BM_TrainStep(benchmark::State& state) {
  torch::set_num_threads(kThreads);
  torch::manual_seed(0);
  daas::train::Network net(bench_info());
  net.set_drop_path_prob(0.2);
  net.module().train();
  torch::optim::SGD optimizer(net.module().parameters(),
                              torch::optim::SGDOptions(0.025).momentum(0.9).weight_decay(3e-4));
  const auto x = torch::randn({kBatch, 1, kSide, kSide});
  const auto y = torch::randint(kClasses, {kBatch});
  const auto parameters = net.module().parameters();
  auto step = [&] {
    for (auto p : parameters) p.mutable_grad() = torch::Tensor();
    daas::train::smoothed_cross_entropy(net.forward(x).logits, y, 0.0).backward();
    torch::nn::utils::clip_grad_norm_(parameters, 5.0);
    optimizer.step();
  };
  step();  // warm-up: oneDNN primitives, allocator caches
  for (auto _ : state) step();
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_TrainStep)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(10.0);

void BM_Inference(benchmark::State& state) {
  torch::set_num_threads(kThreads);
  torch::manual_seed(0);
  daas::train::Network net(bench_info());
  net.module().eval();
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({kBatch, 1, kSide, kSide});
  net.forward(x);
  for (auto _ : state) benchmark::DoNotOptimize(net.forward(x).logits);
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_Inference)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5.0);

}  // namespace

BENCHMARK_MAIN();
