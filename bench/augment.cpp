// Augmentation throughput: the autoaugment-cifar10 pipeline and the searched
// policy (sample -> apply -> log_prob, and the exported top-25 file policy)
// on a 256-image batch of 32×32 RGB uint8. bench/augment.sh runs this beside
// torchvision's AutoAugment (bench/augment_torchvision.py) at the same thread
// count and prints the ratio.
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstring>
#include <string>

#include "daas/augment/pipeline.h"
#include "daas/augment/policy.h"
#include "daas/augment/searchable_policy.h"

namespace {

using namespace daas::augment;

constexpr int64_t kBatch = 256;

torch::Tensor batch() {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(0);
  return torch::randint(0, 256, {kBatch, 3, 32, 32}, generator, torch::kLong).to(torch::kByte);
}

PipelineOptions cifar_options() {
  PipelineOptions options;
  options.mean = {0.4914, 0.4822, 0.4465};
  options.std = {0.2470, 0.2435, 0.2616};
  return options;
}

void count(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["images/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBatch), benchmark::Counter::kIsRate);
}

/// The policy alone on uint8 images (what torchvision's AutoAugment does).
void BM_AutoAugmentPolicy(benchmark::State& state) {
  const auto images = batch();
  const auto policy = make_policy("autoaugment-cifar10");
  auto generator = at::make_generator<at::CPUGeneratorImpl>(1);
  for (auto _ : state) benchmark::DoNotOptimize(policy->apply(images, generator));
  count(state);
}

/// standard -> autoaugment-cifar10 -> normalise -> Cutout 16 (the retraining pipeline).
void BM_AutoAugmentPipeline(benchmark::State& state) {
  const auto images = batch();
  auto options = cifar_options();
  options.cutout = 16;
  const Pipeline pipeline(make_policy("standard"), make_policy("autoaugment-cifar10"), options);
  int64_t index = 0;
  for (auto _ : state) benchmark::DoNotOptimize(pipeline(images, 0, index++));
  count(state);
}

/// One search step's augmentation: sample -> apply -> normalise, plus log_prob.
void BM_SearchablePolicyStep(benchmark::State& state) {
  const auto images = batch();
  SearchablePolicy policy;
  {
    auto init = at::make_generator<at::CPUGeneratorImpl>(2);
    torch::NoGradGuard no_grad;
    for (auto& p : policy->policy_parameters()) p.copy_(torch::randn(p.sizes(), init));
  }
  const Pipeline tail(nullptr, nullptr, cifar_options());
  auto generator = at::make_generator<at::CPUGeneratorImpl>(3);
  for (auto _ : state) {
    const auto sample = policy->sample(kBatch, generator);
    benchmark::DoNotOptimize(tail.finish(policy->apply(images, sample, generator), generator));
    benchmark::DoNotOptimize(policy->log_prob(sample));
  }
  count(state);
}

/// The searched policy as retraining uses it: its top 25 sub-policies as a file policy.
void BM_SearchedPolicyPipeline(benchmark::State& state) {
  const auto images = batch();
  SearchablePolicy policy;
  {
    auto init = at::make_generator<at::CPUGeneratorImpl>(2);
    torch::NoGradGuard no_grad;
    for (auto& p : policy->policy_parameters()) p.copy_(torch::randn(p.sizes(), init));
  }
  auto options = cifar_options();
  options.cutout = 16;
  const Pipeline pipeline(make_policy("standard"), make_sub_policy_policy(policy->top_k(25), {}, "searched"), options);
  int64_t index = 0;
  for (auto _ : state) benchmark::DoNotOptimize(pipeline(images, 0, index++));
  count(state);
}

/// The pipeline's other stages alone: standard crop+flip, and normalise+Cutout.
void BM_StandardPolicy(benchmark::State& state) {
  const auto images = batch();
  const auto policy = make_policy("standard");
  auto generator = at::make_generator<at::CPUGeneratorImpl>(1);
  for (auto _ : state) benchmark::DoNotOptimize(policy->apply(images, generator));
  count(state);
}

void BM_NormaliseCutout(benchmark::State& state) {
  const auto images = batch();
  auto options = cifar_options();
  options.cutout = 16;
  const Pipeline tail(nullptr, nullptr, options);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(1);
  for (auto _ : state) benchmark::DoNotOptimize(tail.finish(images, generator));
  count(state);
}

/// Each op alone on the whole batch (argument: the op's index in op_table).
void BM_Op(benchmark::State& state) {
  const auto images = batch();
  const Op op = static_cast<Op>(state.range(0));
  const auto values = torch::full({kBatch}, level_to_value(op, 0.7, 32, 32), torch::kDouble);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(1);
  OpContext context{&generator, {}};
  for (auto _ : state) benchmark::DoNotOptimize(apply_op(op, images, values, {}, context));
  state.SetLabel(op_name(op));
  count(state);
}

BENCHMARK(BM_Op)->DenseRange(0, kOpCount - 1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_StandardPolicy)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_NormaliseCutout)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_AutoAugmentPolicy)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_AutoAugmentPipeline)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_SearchablePolicyStep)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_SearchedPolicyPipeline)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

}  // namespace

int main(int argc, char** argv) {
  // --threads=N (ours, removed before Google Benchmark sees the arguments).
  int threads = 1;
  int kept = 0;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      threads = std::stoi(argv[i] + 10);
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  at::set_num_threads(threads);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
