// daas's side of bench/compare.sh: the cases of bench/reference.py (a plain
// PyTorch reference) with the same flags and the same output line, run
// through daas's public API the way `daas search` and `daas train` run a step.
//
//   ./build/bench/bench_compare --case joint --channels 16 --layers 8 --batch 64 --shape 1x28x28
//   ./build/bench/bench_compare --case train --genotype bench/rich_genotype.txt --batch 96
//
// Cases: joint, arch (search_step in those modes), train (one retraining
// step, drop-path 0.2), infer (eval-mode forward). Prints
// `RESULT case=joint img_per_s=27.3 median_ms=2345.0`: images of the
// training batch per second, median over --steps timed steps after --warmup.
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "daas/augment/pipeline.h"
#include "daas/augment/policy.h"
#include "daas/augment/searchable_policy.h"
#include "daas/core/error.h"
#include "daas/core/runtime.h"
#include "daas/data/dataset.h"
#include "daas/search/model.h"
#include "daas/search/search.h"
#include "daas/search/step.h"
#include "daas/train/loss.h"
#include "daas/train/model.h"
#include "daas/train/ranks.h"
#include "daas/train/train.h"

namespace {

constexpr int64_t kClasses = 10;
constexpr double kMean = 0.5, kStd = 0.29;  // the normalisation bench/reference.py uses

struct Args {
  std::string kind = "joint";
  int64_t channels = 16, layers = 8, batch = 64;
  int64_t in_channels = 1, height = 28, width = 28;
  std::string genotype = "DARTS_V2";
  std::string parallel = "batch";  // daas's `parallel` setting
  int64_t steps = 10, warmup = 3, threads = 2, seed = 0;
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; i += 2) {
    const std::string key = argv[i];
    daas::core::check(i + 1 < argc, "{}: expected a value", key);
    const std::string value = argv[i + 1];
    if (key == "--case") {
      a.kind = value;
    } else if (key == "--genotype") {
      a.genotype = value;
    } else if (key == "--parallel") {
      a.parallel = value;
    } else if (key == "--shape") {
      daas::core::check(
          std::sscanf(value.c_str(), "%" SCNd64 "x%" SCNd64 "x%" SCNd64, &a.in_channels, &a.height, &a.width) == 3,
          "--shape {}: expected CxHxW", value);
    } else {
      int64_t* target = key == "--channels"  ? &a.channels
                        : key == "--layers"  ? &a.layers
                        : key == "--batch"   ? &a.batch
                        : key == "--steps"   ? &a.steps
                        : key == "--warmup"  ? &a.warmup
                        : key == "--threads" ? &a.threads
                        : key == "--seed"    ? &a.seed
                                             : nullptr;
      daas::core::check(target != nullptr, "unknown flag {}", key);
      *target = std::stoll(value);
    }
  }
  return a;
}

// Random uint8 images and labels: data loading is not what is compared.
daas::data::Dataset random_data(const Args& a, int64_t n) {
  daas::data::Dataset data;
  data.name = "random/train";
  data.images = torch::randint(0, 256, {n, a.in_channels, a.height, a.width}, torch::kByte);
  data.labels = torch::randint(0, kClasses, {n}, torch::kLong);
  for (int64_t k = 0; k < kClasses; ++k) data.classes.push_back(std::to_string(k));
  data.mean.assign(static_cast<size_t>(a.in_channels), kMean);
  data.std.assign(static_cast<size_t>(a.in_channels), kStd);
  return data;
}

daas::data::Batch rows(const daas::data::Dataset& data, int64_t first, int64_t count) {
  daas::data::Batch b;
  b.indices = torch::arange(first, first + count);
  b.images = data.images.index_select(0, b.indices);
  b.labels = data.labels.index_select(0, b.indices);
  return b;
}

double median_ms(const Args& a, const std::function<void()>& step) {
  for (int64_t i = 0; i < a.warmup; ++i) step();
  std::vector<double> ms;
  for (int64_t i = 0; i < a.steps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    step();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  const size_t n = ms.size();
  return n % 2 == 1 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
}

// The state search.cpp builds for a search (its build_state), then search_step.
double search_case(const Args& a) {
  daas::search::SearchOptions options;
  options.mode = a.kind;
  options.channels = a.channels;
  options.layers = a.layers;
  options.batch_size = a.batch;
  options.threads = a.threads;
  options.parallel = a.parallel;
  options.seed = a.seed;
  // What run_search calls first: threads (configure_threads), seed, log level.
  const c10::Device device = daas::core::setup_runtime(options);
  const auto data = random_data(a, 2 * a.batch);
  auto model = daas::search::make_search_model(options, data, device);
  auto rng = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(options.seed));
  torch::optim::SGD weight_optimizer(
      model->weight_parameters(),
      torch::optim::SGDOptions(options.lr).momentum(options.momentum).weight_decay(options.weight_decay));
  torch::optim::Adam arch_optimizer(model->arch_parameters(), torch::optim::AdamOptions(options.arch_lr)
                                                                  .betas({options.arch_beta1, options.arch_beta2})
                                                                  .weight_decay(options.arch_weight_decay));
  const auto policy_options = daas::augment::default_policy_options(data);
  daas::augment::SearchablePolicy policy{nullptr};
  std::shared_ptr<const daas::augment::Policy> fixed_policy;
  std::unique_ptr<torch::optim::Adam> policy_optimizer;
  if (options.mode == "arch") {
    fixed_policy = daas::augment::make_policy(options.fixed_policy, policy_options);
  } else {
    policy = daas::augment::SearchablePolicy(
        daas::augment::SearchablePolicyOptions().levels(options.magnitude_levels).fill(policy_options.fill));
    policy->to(device);
    policy_optimizer =
        std::make_unique<torch::optim::Adam>(policy->policy_parameters(), torch::optim::AdamOptions(options.policy_lr));
  }
  daas::search::StepRanks ranks(*model, daas::core::data_parallel_ranks(options.parallel, device));  // as search_halves
  daas::search::StepContext context{options, *model, policy, fixed_policy, rng, data.mean, data.std, device, &ranks};
  auto train = rows(data, 0, a.batch);
  auto val = rows(data, a.batch, a.batch);
  int64_t step = 0;
  std::vector<daas::search::StepStats> stats;
  const double ms = median_ms(a, [&] {
    stats.push_back(daas::search::search_step(context, train, val, options.lr, /*epoch=*/0, step++, weight_optimizer,
                                              &arch_optimizer, policy_optimizer.get()));
  });
  // Where a step's time goes: median milliseconds per phase over the timed steps.
  std::string phases;
  for (size_t i = 0; i < daas::search::kStepPhaseNames.size(); ++i) {
    std::vector<double> values;
    for (size_t k = static_cast<size_t>(a.warmup); k < stats.size(); ++k) values.push_back(stats[k].phase_seconds[i]);
    std::sort(values.begin(), values.end());
    phases += fmt::format(" {}={:.0f}", daas::search::kStepPhaseNames[i], 1000 * values[values.size() / 2]);
  }
  const auto& exchange = ranks.team().exchange();
  fmt::print("PHASES_MS{} | rank waits {} per step, {:.0f} ms per step\n", phases,
             exchange.waits() / std::max<int64_t>(step, 1),
             1000 * exchange.wait_seconds() / std::max<int64_t>(step, 1));
  return ms;
}

// A retraining step as train.cpp's train_epoch runs it, on an already
// normalised batch (the loader's thread does that in `daas train`).
double train_case(const Args& a) {
  daas::train::TrainOptions options;
  options.threads = a.threads;
  options.parallel = a.parallel;
  options.seed = a.seed;
  const c10::Device device = daas::core::setup_runtime(options);  // as run_train
  const auto data = random_data(a, a.batch);
  daas::train::ModelInfo info;
  info.genotype = daas::train::resolve_genotype(a.genotype);
  info.network = daas::train::NetworkKind::kCifar;
  info.C = a.channels;
  info.layers = a.layers;
  info.in_channels = a.in_channels;
  info.height = a.height;
  info.width = a.width;
  info.classes = data.classes;
  info.mean = data.mean;
  info.std = data.std;
  daas::train::Network net(info, options.channels_last);
  net.module().to(device);
  const auto x = daas::augment::normalize(data.images, data.mean, data.std).to(device);
  const auto y = data.labels.to(device);
  daas::train::TrainRanks ranks(net, daas::core::data_parallel_ranks(options.parallel, device), options.channels_last,
                                device);
  if (a.kind == "infer") {
    // As train::evaluate: eval mode, no gradients, each rank its shard.
    net.module().eval();
    torch::NoGradGuard no_grad;
    ranks.follow_master();
    return median_ms(a, [&] { ranks.infer(x); });
  }
  net.set_drop_path_prob(options.drop_path);
  net.module().train();
  torch::optim::SGD optimizer(
      net.module().parameters(),
      torch::optim::SGDOptions(options.lr).momentum(options.momentum).weight_decay(options.weight_decay));
  int64_t step = 0;
  const double ms =
      median_ms(a, [&] { daas::train::train_step(ranks, optimizer, options, x, y, /*epoch=*/0, step++); });
  const auto& exchange = ranks.team().exchange();
  fmt::print("RANKS {} | rank waits {} per step, {:.0f} ms per step\n", ranks.size(),
             exchange.waits() / std::max<int64_t>(step, 1),
             1000 * exchange.wait_seconds() / std::max<int64_t>(step, 1));
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  // As the daas CLI's main(): daas chooses its own OpenMP wait policy.
  daas::core::prefer_passive_openmp(argv);
  try {
    const Args a = parse_args(argc, argv);
    double ms = 0;
    if (a.kind == "joint" || a.kind == "arch") {
      ms = search_case(a);
    } else if (a.kind == "train" || a.kind == "infer") {
      ms = train_case(a);
    } else {
      daas::core::fail("--case {}: expected joint, arch, train or infer", a.kind);
    }
    fmt::print("RESULT case={} img_per_s={:.1f} median_ms={:.1f}\n", a.kind, 1000.0 * a.batch / ms, ms);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_compare: {}\n", e.what());
    return 1;
  }
  return 0;
}
