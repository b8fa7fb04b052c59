// Reading Fashion-MNIST's training split (gzip IDX, 60000 × 28 × 28) from
// Debian's dataset-fashion-mnist package into one uint8 tensor, and the whole
// load_data (train + test + statistics).
//
//   cmake --build build --target bench_data_read && ./build/bench/bench_data_read
#include <benchmark/benchmark.h>

#include "daas/data/dataset.h"

namespace {

constexpr const char* kDir = "/usr/share/datasets/fashion-mnist";

void BM_ReadFashionMnistTrain(benchmark::State& state) {
  for (auto _ : state) {
    const auto data = daas::data::read_idx_pair(std::string(kDir) + "/train-images-idx3-ubyte.gz",
                                                std::string(kDir) + "/train-labels-idx1-ubyte.gz");
    benchmark::DoNotOptimize(data.images.data_ptr());
  }
}

void BM_LoadFashionMnist(benchmark::State& state) {
  for (auto _ : state) {
    const auto splits = daas::data::load_data(daas::data::DataOptions{}, 0);
    benchmark::DoNotOptimize(splits.train.images.data_ptr());
  }
}

BENCHMARK(BM_ReadFashionMnistTrain)->Unit(benchmark::kMillisecond)->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(BM_LoadFashionMnist)->Unit(benchmark::kMillisecond)->Repetitions(5)->ReportAggregatesOnly(true);

}  // namespace

BENCHMARK_MAIN();
