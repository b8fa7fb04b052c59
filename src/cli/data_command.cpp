// `daas data info`: counts, shapes, class histograms and statistics of a data set.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>

#include "commands.h"
#include "daas/core/runtime.h"
#include "daas/data/dataset.h"
#include "options.h"

namespace daas::cli {
namespace {

struct DataInfoOptions : core::RuntimeOptions, data::DataOptions {};

void print_split(const data::Dataset& split) {
  // load_data gives the test split the training statistics (what the
  // network normalises with); shown here are the split's own.
  data::Dataset data = split;
  data::compute_statistics(data);
  fmt::print("{}: {} images, {}×{}×{}, {} classes\n", data.name, data.size(), data.channels(), data.height(),
             data.width(), data.num_classes());
  fmt::print("  mean {:.4f}  std {:.4f}  (of this split's pixels, in [0, 1])\n", fmt::join(data.mean, " "),
             fmt::join(data.std, " "));
  const auto counts = data.class_counts();
  for (int64_t c = 0; c < data.num_classes(); ++c) {
    fmt::print("  {:>3} {:<14} {:>7}\n", c, data.classes[static_cast<size_t>(c)], counts[c].item<int64_t>());
  }
}

void run_info(const Invocation<DataInfoOptions>& invocation) {
  const auto options = invocation.resolve();
  if (invocation.dry_run) {
    fmt::print("{}", invocation.to_yaml_text(options, "data info"));
    return;
  }
  core::setup_runtime(options);
  const auto start = std::chrono::steady_clock::now();
  const data::DataSplits splits = data::load_data(options, static_cast<uint64_t>(options.seed));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  print_split(splits.train);
  print_split(splits.test);
  spdlog::info("read {} in {:.3f} s", options.data, seconds);
}

}  // namespace

void register_data(CLI::App& app) {
  auto* data = app.add_subcommand("data", "inspect data sets");
  data->require_subcommand(1);
  auto invocation = std::make_shared<Invocation<DataInfoOptions>>();
  core::add_runtime_options(invocation->table);
  invocation->table.remove("out");
  data::add_data_options(invocation->table);
  auto* info = data->add_subcommand("info", "count, shape, class histogram and mean/std of train and test splits");
  bind_options(info, invocation);
  info->callback([invocation] { run_info(*invocation); });
}

}  // namespace daas::cli
