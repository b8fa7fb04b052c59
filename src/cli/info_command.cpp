// `daas info`: parameters and multiply-adds of a genotype's network, or the
// parameters of the search network, at given width and depth.
#include <fmt/format.h>
#include <torch/torch.h>

#include "commands.h"
#include "daas/core/runtime.h"
#include "daas/data/dataset.h"
#include "daas/nas/network.h"
#include "daas/nas/supernet.h"
#include "options.h"

namespace daas::cli {
namespace {

struct InfoOptions : RuntimeOptions, DataOptions {
  std::string genotype;     // built-in name or file
  int64_t channels = 0;     // 0 = DARTS default of the network kind
  int64_t layers = 0;       // 0 = DARTS default of the network kind
  int64_t in_channels = 3;  // CIFAR's shape unless --data is given
  int64_t classes = 10;
  int64_t size = 32;
};

// Flags without a value, kept out of the table (its options all take one).
struct InfoFlags {
  bool supernet = false;
  bool imagenet = false;
};

void add_info_options(OptionTable<InfoOptions>& table) {
  table.add("genotype", &InfoOptions::genotype, "genotype: DARTS_V1, DARTS_V2 (DARTS), GDAS_V1 or a genotype file")
      .add("channels", &InfoOptions::channels,
           "initial channels C; 0 = DARTS default (36 CIFAR, 48 ImageNet, 16 search network)", {0, 4096})
      .add("layers", &InfoOptions::layers, "cells; 0 = DARTS default (20 CIFAR, 14 ImageNet, 8 search network)",
           {0, 1000})
      .add("in_channels", &InfoOptions::in_channels, "input channels (default CIFAR's 3, or the --data set's)", {1, 64})
      .add("classes", &InfoOptions::classes, "classes (default CIFAR's 10, or the --data set's)", {1, 100000})
      .add("size", &InfoOptions::size, "input side in pixels (default CIFAR's 32, or the --data set's)", {1, 4096});
}

std::string grouped(int64_t n) {
  std::string digits = std::to_string(n);
  for (int64_t i = static_cast<int64_t>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<size_t>(i), ",");
  return digits;
}

// Input shape: CIFAR's unless --data names a data set; explicit flags win.
void apply_data_shape(const Invocation<InfoOptions>& invocation, InfoOptions& options) {
  const auto& given = invocation.overrides.entries();
  if (given.count("data") == 0) return;
  const auto splits = load_data(options, static_cast<uint64_t>(options.seed));
  if (given.count("in_channels") == 0) options.in_channels = splits.train.channels();
  if (given.count("classes") == 0) options.classes = splits.train.num_classes();
  if (given.count("size") == 0) options.size = splits.train.height();
}

void print_genotype_info(const InfoOptions& o, bool imagenet) {
  const auto genotype = nas::load_genotype(o.genotype);
  const int64_t C = o.channels > 0 ? o.channels : (imagenet ? 48 : 36);
  const int64_t layers = o.layers > 0 ? o.layers : (imagenet ? 14 : 20);
  const auto options =
      nas::NetworkOptions(C, layers, genotype).num_classes(o.classes).in_channels(o.in_channels).auxiliary(true);
  nas::ModelSize size;
  if (imagenet) {
    nas::NetworkImageNet net(options);
    size = nas::measure(*net, o.size);
  } else {
    nas::NetworkCIFAR net(options);
    size = nas::measure(*net, o.size);
  }
  fmt::print("genotype {}: {}, C={}, {} cells, input {}×{}×{}, {} classes\n", o.genotype,
             imagenet ? "NetworkImageNet" : "NetworkCIFAR", C, layers, o.in_channels, o.size, o.size, o.classes);
  fmt::print("  {}\n", genotype.to_darts_string());
  fmt::print("  parameters:    {:>13} ({:.3f}M) without the auxiliary head\n",
             grouped(size.parameters - size.auxiliary_parameters),
             static_cast<double>(size.parameters - size.auxiliary_parameters) / 1e6);
  fmt::print("                 {:>13} ({:.3f}M) with the auxiliary head\n", grouped(size.parameters),
             static_cast<double>(size.parameters) / 1e6);
  fmt::print("  multiply-adds: {:>13} ({:.1f}M) per {}×{} image (convolutions and linear layers, no auxiliary head)\n",
             grouped(size.macs), static_cast<double>(size.macs) / 1e6, o.size, o.size);
}

void print_supernet_info(const InfoOptions& o) {
  const int64_t C = o.channels > 0 ? o.channels : 16;
  const int64_t layers = o.layers > 0 ? o.layers : 8;
  nas::SearchNetwork net(nas::SearchNetworkOptions(C, layers).num_classes(o.classes).in_channels(o.in_channels));
  int64_t weights = 0, arch = 0;
  for (const auto& p : net->weight_parameters()) weights += p.numel();
  for (const auto& p : net->arch_parameters()) arch += p.numel();
  fmt::print("search network: C={}, {} cells, steps {}, multiplier {}, input {}×{}×{}, {} classes\n", C, layers,
             net->options().steps(), net->options().multiplier(), o.in_channels, o.size, o.size, o.classes);
  fmt::print("  weights:                 {:>11} ({:.3f}M)\n", grouped(weights), static_cast<double>(weights) / 1e6);
  fmt::print("  architecture parameters: {:>11} (alpha_normal {}×{}, alpha_reduce {}×{})\n", grouped(arch),
             net->alpha_normal().size(0), net->alpha_normal().size(1), net->alpha_reduce().size(0),
             net->alpha_reduce().size(1));
}

void run_info(const Invocation<InfoOptions>& invocation, const InfoFlags& flags) {
  auto options = invocation.resolve();
  if (invocation.dry_run) {
    fmt::print("{}", invocation.to_yaml_text(options, "info"));
    return;
  }
  check(flags.supernet != !options.genotype.empty(),
        "daas info: expected exactly one of --genotype NAME|FILE or --supernet");
  setup_runtime(options);
  apply_data_shape(invocation, options);
  if (flags.supernet) {
    print_supernet_info(options);
  } else {
    print_genotype_info(options, flags.imagenet);
  }
}

}  // namespace

void register_info(CLI::App& app) {
  auto invocation = std::make_shared<Invocation<InfoOptions>>();
  invocation->section = "info";
  add_runtime_options(invocation->table);
  add_data_options(invocation->table);
  add_info_options(invocation->table);
  auto flags = std::make_shared<InfoFlags>();
  auto* info = app.add_subcommand("info",
                                  "parameters and multiply-adds of a genotype's network (DARTS counting), or the "
                                  "parameters of the search network");
  bind_options(info, invocation);
  info->add_flag("--supernet", flags->supernet, "describe the search network instead of a genotype's network");
  info->add_flag("--imagenet", flags->imagenet, "NetworkImageNet (two-stage stride-8 stem) instead of NetworkCIFAR");
  info->callback([invocation, flags] { run_info(*invocation, *flags); });
}

}  // namespace daas::cli
