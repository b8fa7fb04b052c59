// Depthwise convolution, float channels-last: daas's kernels (each instruction
// set this CPU runs) against LibTorch's at::conv2d (oneDNN), forward, input
// gradient and weight gradient apart, on 1 and 2 threads. Gradients go through
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

#include "daas/nas/depthwise.h"

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

void register_benchmarks() {
  std::vector<std::string> isas = daas::nas::depthwise_isas();
  isas.insert(isas.begin(), "onednn");
  for (const auto& c : kCases) {
    for (Pass pass : {Pass::kForward, Pass::kGradInput, Pass::kGradWeight}) {
      for (int threads : {1, 2}) {
        for (const auto& isa : isas) {
          const std::string name = std::string("BM_Depthwise/") + c.name + "/" + kPassNames[static_cast<int>(pass)] +
                                   "/" + isa + "/threads:" + std::to_string(threads);
          benchmark::RegisterBenchmark(name.c_str(), BM_Depthwise, c, pass, isa, threads)
              ->Unit(benchmark::kMicrosecond)
              ->UseRealTime();
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
