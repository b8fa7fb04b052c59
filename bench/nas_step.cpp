// One forward+backward of the search network (C=16, 8 cells, batch 64,
// 32×32, 10 classes) with the gumbel and the softmax sampler, in channels-last
// and in the default memory format: time per step and peak memory.
//
// Peak memory: LibTorch's default CPU allocator reports every allocation and
// free to a thread-local MemoryReportingInfoBase while one is installed (the
// hook the PyTorch profiler uses). We install one for the step and keep the
// running sum of bytes allocated since the step began; its maximum is the
// step's peak on top of what existed before (weights): activations saved for
// backward, temporaries and the gradients. oneDNN scratch memory, allocated
// outside c10, is not seen.
//
//   cmake --build build-nas --target bench_nas_step && ./build-nas/bench/bench_nas_step
#include <benchmark/benchmark.h>
#include <c10/core/Allocator.h>
#include <c10/util/ThreadLocalDebugInfo.h>
#include <torch/torch.h>

#include <algorithm>

#include "daas/nas/supernet.h"
#include "peak_memory.h"

namespace {

constexpr int64_t kC = 16, kLayers = 8, kBatch = 64, kSide = 32, kClasses = 10;

void step(daas::nas::SearchNetwork& net, const torch::Tensor& x, const torch::Tensor& y) {
  for (auto& p : net->parameters()) p.mutable_grad() = torch::Tensor();
  const auto path = net->sample_path();
  torch::cross_entropy_loss(net->forward(x, path, /*detach_arch=*/false), y).backward();
}

void BM_SearchStep(benchmark::State& state, const char* sampler, bool channels_last) {
  torch::set_num_threads(2);
  torch::manual_seed(0);
  daas::nas::SearchNetwork net(
      daas::nas::SearchNetworkOptions(kC, kLayers).num_classes(kClasses).sampler(sampler).channels_last(channels_last));
  const auto x = torch::randn({kBatch, 3, kSide, kSide});
  const auto y = torch::randint(kClasses, {kBatch});
  step(net, x, y);  // warm-up: oneDNN primitives, allocator caches
  int64_t peak = 0;
  for (auto _ : state) {
    peak = std::max(peak, daas::bench::peak_bytes([&] { step(net, x, y); }));
  }
  state.counters["peak_MiB"] = static_cast<double>(peak) / (1 << 20);
  state.counters["images_per_s"] =
      benchmark::Counter(static_cast<double>(kBatch * state.iterations()), benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(BM_SearchStep, gumbel_channels_last, "gumbel", true)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(5)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_SearchStep, gumbel_contiguous, "gumbel", false)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_SearchStep, softmax_channels_last, "softmax", true)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(2)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_SearchStep, softmax_contiguous, "softmax", false)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
