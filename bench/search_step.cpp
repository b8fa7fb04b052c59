// One search step at the `fashion` profile's settings (5-cell supernet at
// C 8, batch 64, Fashion-MNIST 1×28×28, gumbel sampler, channels-last):
// seconds per step and peak memory for `joint` (architecture, policy and
// weight steps) and `arch` (policy fixed to `standard`), in one run.
// Counting passes (docs/method.md §5), joint ≈ 1.7× arch: one validation forward+backward, two
// no-grad train forwards, one train forward+backward.
//
//   cmake --build build --target bench_search_step
//   OMP_WAIT_POLICY=PASSIVE ./build/bench/bench_search_step
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "daas/augment/policy.h"
#include "daas/augment/searchable_policy.h"
#include "daas/data/dataset.h"
#include "daas/search/model.h"
#include "daas/search/search.h"
#include "daas/search/step.h"
#include "peak_memory.h"

namespace {

using daas::search::SearchOptions;

SearchOptions fashion_options(const std::string& mode) {
  SearchOptions options;
  options.mode = mode;
  options.channels = 8;
  options.layers = 5;
  options.batch_size = 64;
  options.fixed_policy = "standard";
  return options;
}

void BM_SearchStep(benchmark::State& state, const char* mode) {
  torch::set_num_threads(2);
  torch::manual_seed(0);
  daas::data::DataOptions data;
  data.subset = 1000;
  const auto splits = daas::data::load_data(data, 0);
  const auto options = fashion_options(mode);
  auto model = daas::search::make_search_model(options, splits.train, torch::kCPU);
  auto rng = at::make_generator<at::CPUGeneratorImpl>(0);
  daas::augment::SearchablePolicy policy{nullptr};
  std::shared_ptr<const daas::augment::Policy> fixed;
  std::unique_ptr<torch::optim::Adam> policy_optimizer;
  const auto policy_options = daas::augment::default_policy_options(splits.train);
  if (options.mode == "arch") {
    fixed = daas::augment::make_policy(options.fixed_policy, policy_options);
  } else {
    policy = daas::augment::SearchablePolicy(daas::augment::SearchablePolicyOptions().fill(policy_options.fill));
    policy_optimizer = std::make_unique<torch::optim::Adam>(policy->policy_parameters(), 1e-3);
  }
  torch::optim::SGD sgd(model->weight_parameters(), torch::optim::SGDOptions(0.025).momentum(0.9));
  torch::optim::Adam adam(model->arch_parameters(), 3e-4);
  daas::search::StepRanks ranks(*model,
                                daas::core::data_parallel_ranks(options.parallel, torch::kCPU));  // as search_halves
  daas::search::StepContext context{options,           *model,           policy,      fixed, rng,
                                    splits.train.mean, splits.train.std, torch::kCPU, &ranks};
  auto batch = [&](int64_t offset) {
    daas::data::Batch b;
    b.indices = torch::arange(offset, offset + options.batch_size);
    b.images = splits.train.images.index_select(0, b.indices);
    b.labels = splits.train.labels.index_select(0, b.indices);
    return b;
  };
  auto train = batch(0), val = batch(options.batch_size);
  auto step = [&] { daas::search::search_step(context, train, val, 0.025, 0, 0, sgd, &adam, policy_optimizer.get()); };
  for (int i = 0; i < 3; ++i) step();  // warm-up: oneDNN primitives, allocator caches
  int64_t peak = 0;
  for (auto _ : state) peak = std::max(peak, daas::bench::peak_bytes(step));
  state.counters["peak_MiB"] = static_cast<double>(peak) / (1 << 20);
  state.counters["images_per_s"] =
      benchmark::Counter(static_cast<double>(options.batch_size * state.iterations()), benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(BM_SearchStep, arch, "arch")->Unit(benchmark::kMillisecond)->Iterations(20)->UseRealTime();
BENCHMARK_CAPTURE(BM_SearchStep, joint, "joint")->Unit(benchmark::kMillisecond)->Iterations(20)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
