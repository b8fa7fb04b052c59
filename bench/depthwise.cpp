// Depthwise and pointwise (1×1, ReLU in front) convolutions, the 3×3 pools
// and training-mode BatchNorm, float channels-last: daas's kernels (each
// instruction set this CPU runs) against LibTorch's at::conv2d (oneDNN; for
// pointwise, torch::relu then at::conv2d), its own pooling and its own
// batch_norm ("libtorch"), forward, input gradient and weight gradient apart,
// on 1 and 2 threads. Gradients go through
// the autograd engine for both (a retained graph, one input requiring grad),
// so each side pays the same engine overhead and oneDNN is asked for exactly
// the gradient measured.
//
//   bench/depthwise.sh build    # 5 repetitions, then oneDNN's median over ours per case
//   OMP_WAIT_POLICY=PASSIVE ./build/bench/bench_depthwise --benchmark_filter=k3s1
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "daas/core/runtime.h"
#include "daas/nas/batch_norm.h"
#include "daas/nas/depthwise.h"
#include "daas/nas/pointwise.h"
#include "daas/nas/pool.h"

namespace {

struct Case {
  const char* name;
  int64_t N, C, side, kernel, stride, padding, dilation;
};

// The shapes of the search and retraining networks' SepConv and DilConv.
const std::vector<Case> kCases = {
    {"64x16x28x28_k3s1", 64, 16, 28, 3, 1, 1, 1},
    {"64x16x28x28_k5d2", 64, 16, 28, 5, 1, 4, 2},
    {"64x32x14x14_k5s1", 64, 32, 14, 5, 1, 2, 1},
    {"96x64x7x7_k3s1", 96, 64, 7, 3, 1, 1, 1},
};

enum class Pass { kForward, kGradInput, kGradWeight };
constexpr const char* kPassNames[] = {"forward", "grad_input", "grad_weight"};

/// isa "onednn" is at::conv2d; any other name, daas's kernels on that isa.
torch::Tensor convolve(const std::string& isa, const Case& c, const torch::Tensor& x, const torch::Tensor& w) {
  if (isa == "onednn") return torch::conv2d(x, w, {}, c.stride, c.padding, c.dilation, c.C);
  return daas::nas::depthwise_conv2d(x, w, c.stride, c.padding, c.dilation);
}

void BM_Depthwise(benchmark::State& state, Case c, Pass pass, std::string isa, int threads) {
  at::set_num_threads(threads);
  if (isa != "onednn") daas::nas::set_depthwise_isa(isa);
  torch::manual_seed(0);
  auto x = torch::randn({c.N, c.C, c.side, c.side}).contiguous(torch::MemoryFormat::ChannelsLast);
  auto w = torch::randn({c.C, 1, c.kernel, c.kernel});
  if (pass == Pass::kForward) {
    torch::NoGradGuard no_grad;
    for (auto _ : state) benchmark::DoNotOptimize(convolve(isa, c, x, w));
    return;
  }
  auto& wrt = pass == Pass::kGradInput ? x : w;
  wrt.requires_grad_(true);
  const auto y = convolve(isa, c, x, w);
  const auto grad_y = torch::randn_like(y);
  for (auto _ : state) {
    benchmark::DoNotOptimize(torch::autograd::grad({y}, {wrt}, {grad_y}, /*retain_graph=*/true));
  }
}

struct PointwiseCase {
  const char* name;
  int64_t N, K, O, side;
};

// The 1×1 convolutions of one rank's share of a retraining batch (48 images):
// SepConv's at each stage, a cell's preprocessing (4C -> C), and the search
// network of the fashion profile (C 8).
const std::vector<PointwiseCase> kPointwiseCases = {
    {"48x16-16x28x28", 48, 16, 16, 28}, {"48x64-16x28x28", 48, 64, 16, 28}, {"48x32-32x14x14", 48, 32, 32, 14},
    {"48x64-64x7x7", 48, 64, 64, 7},    {"32x8-8x28x28", 32, 8, 8, 28},
};

/// relu(x) convolved with w: isa "onednn" is torch::relu then at::conv2d.
torch::Tensor relu_pointwise(const std::string& isa, const torch::Tensor& x, const torch::Tensor& w) {
  if (isa == "onednn") return torch::conv2d(torch::relu(x), w);
  return daas::nas::pointwise_conv2d(x, w, {}, /*relu_input=*/true);
}

void BM_Pointwise(benchmark::State& state, PointwiseCase c, Pass pass, std::string isa, int threads) {
  at::set_num_threads(threads);
  if (isa != "onednn") daas::nas::set_depthwise_isa(isa);
  torch::manual_seed(0);
  auto x = torch::randn({c.N, c.K, c.side, c.side}).contiguous(torch::MemoryFormat::ChannelsLast);
  auto w = torch::randn({c.O, c.K, 1, 1});
  if (pass == Pass::kForward) {
    torch::NoGradGuard no_grad;
    for (auto _ : state) benchmark::DoNotOptimize(relu_pointwise(isa, x, w));
    return;
  }
  auto& wrt = pass == Pass::kGradInput ? x : w;
  wrt.requires_grad_(true);
  const auto y = relu_pointwise(isa, x, w);
  const auto grad_y = torch::randn_like(y);
  for (auto _ : state) {
    benchmark::DoNotOptimize(torch::autograd::grad({y}, {wrt}, {grad_y}, /*retain_graph=*/true));
  }
}

struct PoolCase {
  const char* name;
  daas::nas::PoolKind kind;
  int64_t N, C, side;
};

// The search network's pools at the fashion settings (C 8) and at C 16, one
// rank's share of a batch of 64.
const std::vector<PoolCase> kPoolCases = {
    {"max_32x8x28x28", daas::nas::PoolKind::kMax, 32, 8, 28},
    {"avg_32x8x28x28", daas::nas::PoolKind::kAverage, 32, 8, 28},
    {"max_32x16x28x28", daas::nas::PoolKind::kMax, 32, 16, 28},
    {"avg_32x16x14x14", daas::nas::PoolKind::kAverage, 32, 16, 14},
};

/// isa "libtorch" is LibTorch's pooling; any other name, daas's kernels.
torch::Tensor pool(const std::string& isa, const PoolCase& c, const torch::Tensor& x) {
  namespace F = torch::nn::functional;
  if (isa != "libtorch") return daas::nas::pool3x3(x, c.kind, 1);
  if (c.kind == daas::nas::PoolKind::kMax) return F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(1).padding(1));
  return F::avg_pool2d(x, F::AvgPool2dFuncOptions(3).stride(1).padding(1).count_include_pad(false));
}

/// forward: without gradient; grad_input: the backward alone, after a
/// forward that keeps what it needs (the max pool's positions).
void BM_Pool(benchmark::State& state, PoolCase c, Pass pass, std::string isa, int threads) {
  at::set_num_threads(threads);
  if (isa != "libtorch") daas::nas::set_depthwise_isa(isa);
  torch::manual_seed(0);
  auto x = torch::randn({c.N, c.C, c.side, c.side}).contiguous(torch::MemoryFormat::ChannelsLast);
  if (pass == Pass::kForward) {
    torch::NoGradGuard no_grad;
    for (auto _ : state) benchmark::DoNotOptimize(pool(isa, c, x));
    return;
  }
  x.requires_grad_(true);
  const auto y = pool(isa, c, x);
  const auto grad_y = torch::randn_like(y);
  for (auto _ : state) {
    benchmark::DoNotOptimize(torch::autograd::grad({y}, {x}, {grad_y}, /*retain_graph=*/true));
  }
}

struct BatchNormCase {
  const char* name;
  int64_t N, C, side;
};

// The BatchNorms after the convolutions of the search network, one rank's
// share of a batch of 64: at the fashion settings (C 8) and at C 16 in each
// of its three stages, and the stem's (3 × 16 channels).
const std::vector<BatchNormCase> kBatchNormCases = {
    {"32x8x28x28", 32, 8, 28}, {"32x16x28x28", 32, 16, 28}, {"32x32x14x14", 32, 32, 14},
    {"32x64x7x7", 32, 64, 7},  {"32x48x28x28", 32, 48, 28},
};

/// Training-mode BatchNorm (batch statistics, running statistics updated):
/// isa "libtorch" is torch::batch_norm; any other name, daas's.
torch::Tensor batch_norm(const std::string& isa, const torch::Tensor& x, const torch::Tensor& weight,
                         const torch::Tensor& bias, const torch::Tensor& running_mean,
                         const torch::Tensor& running_var) {
  if (isa == "libtorch") {
    return torch::batch_norm(x, weight, bias, running_mean, running_var, /*training=*/true, 0.1, 1e-5,
                             /*cudnn_enabled=*/false);
  }
  return daas::nas::sync_batch_norm(x, weight, bias, running_mean, running_var, 0.1, 1e-5);
}

/// forward: without gradient; grad_input: the backward to x alone, after a
/// forward that keeps what it needs.
void BM_BatchNorm(benchmark::State& state, BatchNormCase c, Pass pass, std::string isa, int threads) {
  at::set_num_threads(threads);
  if (isa != "libtorch") daas::nas::set_depthwise_isa(isa);
  torch::manual_seed(0);
  auto x = (torch::randn({c.N, c.C, c.side, c.side}) * 2 + 0.5).contiguous(torch::MemoryFormat::ChannelsLast);
  auto weight = torch::rand({c.C}) + 0.5, bias = torch::randn({c.C});
  auto running_mean = torch::zeros({c.C}), running_var = torch::ones({c.C});
  if (pass == Pass::kForward) {
    torch::NoGradGuard no_grad;
    for (auto _ : state) benchmark::DoNotOptimize(batch_norm(isa, x, weight, bias, running_mean, running_var));
    return;
  }
  x.requires_grad_(true);
  const auto y = batch_norm(isa, x, weight, bias, running_mean, running_var);
  const auto grad_y = torch::randn_like(y);
  for (auto _ : state) {
    benchmark::DoNotOptimize(torch::autograd::grad({y}, {x}, {grad_y}, /*retain_graph=*/true));
  }
}

/// One benchmark per case, pass, thread count and isa: NAME/case/pass/isa/threads:N.
template <typename C>
void register_passes(const char* kind, const std::vector<C>& cases,
                     void (*bench)(benchmark::State&, C, Pass, std::string, int), const std::vector<std::string>& isas,
                     const std::vector<Pass>& passes = {Pass::kForward, Pass::kGradInput, Pass::kGradWeight}) {
  for (const auto& c : cases) {
    for (Pass pass : passes) {
      for (int threads : {1, 2}) {
        for (const auto& isa : isas) {
          const std::string name = std::string(kind) + "/" + c.name + "/" + kPassNames[static_cast<int>(pass)] + "/" +
                                   isa + "/threads:" + std::to_string(threads);
          benchmark::RegisterBenchmark(name.c_str(), bench, c, pass, isa, threads)
              ->Unit(benchmark::kMicrosecond)
              ->UseRealTime();
        }
      }
    }
  }
}

void register_benchmarks() {
  std::vector<std::string> isas = daas::nas::depthwise_isas();
  isas.insert(isas.begin(), "onednn");
  register_passes("BM_Depthwise", kCases, &BM_Depthwise, isas);
  register_passes("BM_Pointwise", kPointwiseCases, &BM_Pointwise, isas);
  isas.front() = "libtorch";
  register_passes("BM_Pool", kPoolCases, &BM_Pool, isas, {Pass::kForward, Pass::kGradInput});
  register_passes("BM_BatchNorm", kBatchNormCases, &BM_BatchNorm, isas, {Pass::kForward, Pass::kGradInput});
}

}  // namespace

int main(int argc, char** argv) {
  // The malloc settings daas runs with: without them each freed gradient of
  // a few MiB goes back to the kernel, and a backward measures page faults.
  daas::core::keep_freed_memory();
  register_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
