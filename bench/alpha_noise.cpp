// How noisy is one search step's architecture gradient, and where does the
// noise come from? Loads a finished (or stopped) search's checkpoint and,
// without moving anything, draws the gradient of the validation loss with
// respect to α many times at that state:
//
//   both    a new path and a new validation batch per draw (what a step sees);
//   path    pairs of draws on the same batch with two paths (the variance
//           that remains with the batch held, averaged over batches);
//   batch   pairs of draws along the same path on two batches (the variance
//           that remains with the path held, averaged over paths);
//   split K the batch cut into K parts, each with its own path, their
//           gradients averaged (K paths per step at the same images).
//
// For each it prints the summed variance of the 2×14×8 entries and, per
// entry, the signal-to-noise ratio mean² / variance (median over entries),
// with the mean taken from `both`. Adam moves an entry by about lr per step
// in the direction of the sign of its running mean of gradients, so with
// per-step ratio r the drift after T steps is about lr·T·√(r/(1+r)) while
// the noise's random walk is about lr·√T: the signal outweighs the noise
// once T·r > 1, whatever the learning rate.
//
//   cmake --build build --target bench_alpha_noise
//   ./build/bench/bench_alpha_noise RUN/search [--draws 240] [--signal-draws 2000] [--tau 10,1,0.1] [--batch 64]
//   [--seed 0] [--threads N]
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "daas/augment/pipeline.h"
#include "daas/core/checkpoint.h"
#include "daas/core/config.h"
#include "daas/core/runtime.h"
#include "daas/data/dataset.h"
#include "daas/search/model.h"
#include "daas/search/search.h"

namespace {

namespace fs = std::filesystem;
using daas::search::SearchModel;
using daas::search::SearchOptions;

struct Args {
  std::string run_dir;
  int64_t draws = 240;          // per variance estimate
  int64_t signal_draws = 2000;  // for the mean gradient
  int64_t batch = 0;            // 0: the run's batch size
  std::vector<double> taus;
  uint64_t seed = 0;
  int64_t threads = 0;  // 0: daas's default
};

[[noreturn]] void usage(const std::string& message) {
  std::cerr << "bench_alpha_noise: " << message
            << " (usage: bench_alpha_noise SEARCH_RUN_DIR [--draws N] [--signal-draws M] [--batch B] "
               "[--tau T1,T2,...] [--seed S] [--threads N])\n";
  std::exit(2);
}

/// A whole number in [low, high], or a usage error naming the flag.
int64_t whole(const std::string& flag, const std::string& text, int64_t low, int64_t high) {
  try {
    size_t used = 0;
    const long long value = std::stoll(text, &used);
    if (used == text.size() && value >= low && value <= high) return value;
  } catch (const std::exception&) {
  }
  usage(flag + " '" + text + "': expected a whole number in [" + std::to_string(low) + ", " + std::to_string(high) +
        "]");
}

double positive(const std::string& flag, const std::string& text) {
  try {
    size_t used = 0;
    const double value = std::stod(text, &used);
    if (used == text.size() && std::isfinite(value) && value > 0) return value;
  } catch (const std::exception&) {
  }
  usage(flag + " '" + text + "': expected a positive number");
}

Args parse(int argc, char** argv) {
  Args args;
  constexpr int64_t kMaxDraws = 1000000;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag.rfind("--", 0) != 0) {
      if (!args.run_dir.empty()) usage("'" + flag + "': one search run folder expected, " + args.run_dir + " given");
      args.run_dir = flag;
      continue;
    }
    if (i + 1 >= argc) usage(flag + ": expected a value");
    const std::string value = argv[++i];
    if (flag == "--draws") {
      args.draws = whole(flag, value, 8, kMaxDraws);
      if (args.draws % 2 != 0) usage("--draws '" + value + "': expected an even number (draws come in pairs)");
    } else if (flag == "--signal-draws") {
      args.signal_draws = whole(flag, value, 2, kMaxDraws);
    } else if (flag == "--batch") {
      args.batch = whole(flag, value, 1, kMaxDraws);
    } else if (flag == "--threads") {
      args.threads = whole(flag, value, 0, 1024);
    } else if (flag == "--seed") {
      args.seed = static_cast<uint64_t>(whole(flag, value, 0, int64_t{1} << 40));
    } else if (flag == "--tau") {
      std::stringstream list(value);
      for (std::string item; std::getline(list, item, ',');) {
        const double tau = positive(flag, item);
        if (std::find(args.taus.begin(), args.taus.end(), tau) == args.taus.end()) args.taus.push_back(tau);
      }
    } else {
      usage("unknown option " + flag);
    }
  }
  if (args.run_dir.empty()) usage("expected a search run folder");
  return args;
}

/// The run's settings, read from its config.yaml as `daas experiment` reads a run folder's.
SearchOptions run_options(const std::string& run_dir) {
  SearchOptions options;
  daas::search::settings_table().apply(
      daas::core::Settings::from_profile((fs::path(run_dir) / "config.yaml").string(), "search"), options);
  return options;
}

/// Running sums of gradient vectors, in float64.
struct Moments {
  torch::Tensor sum, squares;
  int64_t count = 0;
  void add(const torch::Tensor& g) {
    const auto g64 = g.to(torch::kFloat64);
    if (count == 0) {
      sum = torch::zeros_like(g64);
      squares = torch::zeros_like(g64);
    }
    sum += g64;
    squares += g64 * g64;
    ++count;
  }
  torch::Tensor mean() const { return sum / static_cast<double>(count); }
  /// Unbiased per-entry variance.
  torch::Tensor variance() const {
    const double n = static_cast<double>(count);
    return (squares - sum * sum / n) / (n - 1);
  }
};

/// Pairs of draws that share one factor (a batch, or a path) and differ in
/// the other: (a − b)² / 2 is an unbiased estimate of the varied factor's
/// variance given the held one, and averaging it over many pairs averages
/// over many held batches or paths.
struct Paired {
  torch::Tensor sum;
  int64_t count = 0;
  void add(const torch::Tensor& a, const torch::Tensor& b) {
    const auto half_square = (a - b).to(torch::kFloat64).pow(2) / 2;
    sum = count == 0 ? half_square : sum + half_square;
    ++count;
  }
  torch::Tensor variance() const { return sum / static_cast<double>(count); }
};

class Prober {
 public:
  Prober(SearchModel& model, const daas::data::Dataset& val, int64_t batch, uint64_t seed)
      : model_(model), val_(val), batch_(batch), seed_(seed) {}

  /// ∇_α of the mean validation loss over the images `rows`, along the path drawn from `path_seed`.
  torch::Tensor gradient(const torch::Tensor& rows, uint64_t path_seed) {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(path_seed);
    model_.begin_step(generator);
    for (auto alpha : model_.arch_parameters()) alpha.mutable_grad() = torch::Tensor();
    const auto images = val_.images.index_select(0, rows);
    const auto x = daas::augment::normalize(images, val_.mean, val_.std);
    const auto y = val_.labels.index_select(0, rows);
    torch::nn::functional::cross_entropy(model_.forward(x, /*arch_graph=*/true), y).backward();
    std::vector<torch::Tensor> parts;
    for (const auto& alpha : model_.arch_parameters()) {
      parts.push_back(alpha.grad().defined() ? alpha.grad().flatten() : torch::zeros({alpha.numel()}));
    }
    return torch::cat(parts);
  }

  /// A batch of distinct validation images, from its own seed.
  torch::Tensor rows(uint64_t batch_seed) {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(batch_seed);
    return torch::randperm(val_.size(), generator, torch::kLong).slice(0, 0, batch_);
  }

  uint64_t fresh() { return seed_ * 1000003 + counter_++; }

 private:
  SearchModel& model_;
  const daas::data::Dataset& val_;
  int64_t batch_;
  uint64_t seed_;
  uint64_t counter_ = 1;
};

double middle_value(torch::Tensor values) {
  values = std::get<0>(values.flatten().sort());
  return values[values.numel() / 2].item<double>();
}

/// One line: the summed variance, and the ratio r = Σ mean² / Σ variance
/// over the entries (pooled) and the median of the entries' own ratios.
void report(const std::string& name, const torch::Tensor& variance, const torch::Tensor& signal) {
  const auto live = variance > 0;
  const double pooled = signal.sum().item<double>() / variance.sum().item<double>();
  const double per_entry = middle_value(signal.masked_select(live) / variance.masked_select(live));
  std::printf("  %-8s summed variance %9.3e   r pooled %9.3e, median entry %9.3e   1/r pooled %8.0f steps\n",
              name.c_str(), variance.sum().item<double>(), pooled, per_entry, pooled > 0 ? 1.0 / pooled : INFINITY);
}

/// The search's first and last temperatures, and 1 between them.
std::vector<double> schedule_points(const SearchOptions& options) {
  std::vector<double> taus = {options.tau_max};
  if (options.tau_min < 1.0 && 1.0 < options.tau_max) taus.push_back(1.0);
  if (options.tau_min != options.tau_max) taus.push_back(options.tau_min);
  return taus;
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args = parse(argc, argv);
  SearchOptions options = run_options(args.run_dir);
  daas::core::check(daas::search::search_mode(options.mode).searches_architecture,
                    "{}: a --mode {} search has no α; expected an arch or joint search", args.run_dir, options.mode);
  options.threads = args.threads;
  daas::core::setup_runtime(options);
  const auto splits = daas::data::load_data(options, static_cast<uint64_t>(options.seed));
  const auto halves = daas::data::split_halves(splits.train, static_cast<uint64_t>(options.seed));
  const auto& val = halves.second;
  auto model = daas::search::make_search_model(options, halves.first, torch::kCPU);
  daas::core::CheckpointReader((fs::path(args.run_dir) / "checkpoint.pt").string()).module("model", model->module());
  model->module().train();
  const int64_t batch = args.batch > 0 ? args.batch : options.batch_size;
  daas::core::check(batch <= val.size(), "--batch {}: the validation half holds {} images; expected at most that",
                    batch, val.size());
  const std::vector<double> taus = args.taus.empty() ? schedule_points(options) : args.taus;
  std::printf(
      "%s: %s search, C %ld, %ld cells, validation half of %ld images, batch %ld, %ld draws per variance, %ld for the "
      "mean\n",
      args.run_dir.c_str(), options.mode.c_str(), static_cast<long>(options.channels),
      static_cast<long>(options.layers), static_cast<long>(val.size()), static_cast<long>(batch),
      static_cast<long>(args.draws), static_cast<long>(args.signal_draws));
  double alpha_rms = 0;
  {
    std::vector<torch::Tensor> flat;
    // α's spread within an edge is what the softmax sees.
    for (const auto& alpha : model->arch_parameters()) {
      const auto rows = alpha.detach().to(torch::kFloat64);
      flat.push_back((rows - rows.mean(-1, /*keepdim=*/true)).flatten());
    }
    alpha_rms = torch::cat(flat).pow(2).mean().sqrt().item<double>();
  }
  for (const double tau : taus) {
    model->set_tau(tau);
    Prober probe(*model, val, batch, args.seed + static_cast<uint64_t>(tau * 1e6));
    Moments both;
    for (int64_t d = 0; d < args.signal_draws; ++d) both.add(probe.gradient(probe.rows(probe.fresh()), probe.fresh()));
    Paired by_path, by_batch;  // path redrawn with the batch held; batch redrawn with the path held
    for (int64_t pair = 0; pair < args.draws / 2; ++pair) {
      const auto held_rows = probe.rows(probe.fresh());
      by_path.add(probe.gradient(held_rows, probe.fresh()), probe.gradient(held_rows, probe.fresh()));
      const uint64_t held_path = probe.fresh();
      by_batch.add(probe.gradient(probe.rows(probe.fresh()), held_path),
                   probe.gradient(probe.rows(probe.fresh()), held_path));
    }
    const auto variance = both.variance();
    // The signal: the squared mean, less its own sampling noise.
    const auto signal = (both.mean().pow(2) - variance / static_cast<double>(both.count)).clamp_min(0);
    std::printf("tau %g: mean gradient's norm %.3e\n", tau, both.mean().norm().item<double>());
    // Adam's weight decay is added to the gradient before the step is scaled
    // by the gradient's spread, so it pulls every entry back to zero by
    // lr·wd·α/σ per step: what the step keeps of past gradients fades with a
    // time constant of σ/(lr·wd) steps.
    const double entries = static_cast<double>(variance.numel());
    const double rms_signal = std::sqrt(signal.sum().item<double>() / entries);
    const double sigma = std::sqrt(variance.sum().item<double>() / entries);
    std::printf("  per entry: mean gradient (rms) %.3e, spread %.3e; α's spread within an edge (rms) %.3e; ",
                rms_signal, sigma, alpha_rms);
    if (options.arch_weight_decay > 0) {
      std::printf("weight decay %g·|α| %.3e, Adam's memory under it %.0f steps\n", options.arch_weight_decay,
                  options.arch_weight_decay * alpha_rms, sigma / (options.arch_lr * options.arch_weight_decay));
    } else {
      std::printf("no weight decay\n");
    }
    report("both", variance, signal);
    report("path", by_path.variance(), signal);
    report("batch", by_batch.variance(), signal);
    for (const int64_t parts : {2, 4}) {
      Moments split;
      for (int64_t d = 0; d < args.draws; ++d) {
        const auto rows = probe.rows(probe.fresh());
        torch::Tensor sum;
        for (const auto& part : rows.chunk(parts)) {
          const auto g = probe.gradient(part, probe.fresh()) * (static_cast<double>(part.size(0)) / batch);
          sum = sum.defined() ? sum + g : g;
        }
        split.add(sum);
      }
      report("split " + std::to_string(parts), split.variance(), signal);
    }
    std::fflush(stdout);
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "bench_alpha_noise: " << e.what() << "\n";
  return 1;
}
