// `daas info`: parameters and multiply-adds of a genotype's network, or the
// parameters of the search network, at given width and depth.
#include <fmt/format.h>
#include <torch/torch.h>

#include <filesystem>

#include "commands.h"
#include "daas/core/error.h"
#include "daas/core/runtime.h"
#include "daas/data/dataset.h"
#include "daas/nas/network.h"
#include "daas/nas/supernet.h"
#include "daas/search/search.h"
#include "daas/train/model.h"
#include "daas/train/train.h"
#include "options.h"

namespace fs = std::filesystem;

namespace daas::cli {
namespace {

struct InfoOptions : core::RuntimeOptions, data::DataOptions {
  std::string genotype;     // built-in name, file or run folder
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

void add_info_options(core::OptionTable<InfoOptions>& table) {
  table
      .add("genotype", &InfoOptions::genotype,
           "genotype: DARTS_V1, DARTS_V2 (DARTS), GDAS_V1, a genotype file, or a daas search or train run folder (a "
           "train run's model.pt also gives C, layers and the input shape)")
      .add("channels", &InfoOptions::channels,
           "initial channels C; 0 = DARTS default (36 CIFAR, 48 ImageNet), or the profile's search channels with "
           "--supernet",
           {0, static_cast<double>(train::kMaxChannels)})
      .add("layers", &InfoOptions::layers,
           "cells; 0 = DARTS default (20 CIFAR, 14 ImageNet), or the profile's search layers with --supernet",
           {0, static_cast<double>(train::kMaxLayers)})
      .add("in_channels", &InfoOptions::in_channels,
           "input channels (default CIFAR's 3; with --data or --supernet the data set's)", {1, 64})
      .add("classes", &InfoOptions::classes,
           "classes (default CIFAR's 10, ImageNet's 1000 with --imagenet; with --data or --supernet the data set's)",
           {1, 100000})
      .add("size", &InfoOptions::size,
           "input side in pixels (default CIFAR's 32, ImageNet's 224 with --imagenet; with --data or --supernet the "
           "data set's)",
           {1, 4096});
}

std::string grouped(int64_t n) {
  std::string digits = std::to_string(n);
  for (int64_t i = static_cast<int64_t>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<size_t>(i), ",");
  return digits;
}

// The input shape of `data`'s data set, for every shape setting not given.
void apply_data_shape(const std::set<std::string>& given, const data::DataOptions& data, uint64_t seed,
                      InfoOptions& options) {
  if (given.count("in_channels") != 0 && given.count("classes") != 0 && given.count("size") != 0) return;
  const auto splits = data::load_data(data, seed);
  if (given.count("in_channels") == 0) options.in_channels = splits.train.channels();
  if (given.count("classes") == 0) options.classes = splits.train.num_classes();
  if (given.count("size") == 0) options.size = splits.train.height();
}

// The bounds of `daas train` on C, layers and C²·layers, so that info
// describes only networks it could train; a network larger than them is a
// usage error, as a model file's or a profile's settings are within them.
void check_network_bounds(int64_t C, int64_t layers) {
  try {
    train::check_network_size(C, layers, "--channels/--layers");
  } catch (const core::Error& e) {
    throw core::UsageError(e.what());
  }
}

// Counting multiply-adds runs one image through the network on the CPU, so
// the input is bounded before anything is built. Measured: memory grows by
// up to about 110 bytes per value of the largest early feature maps (C
// channels at the input's side in NetworkCIFAR, at a quarter of it after
// NetworkImageNet's stem), and time with C²·layers·side² at the cells' side
// (NetworkImageNet's stem divides it by 8); at both caps below, 0.5 GB and
// 6 s on 2 cores. DARTS's networks: 36,864 values and C²·layers·side² 26.5M
// (CIFAR: C 36, 20 cells, 32×32); 150,528 values and 25.3M (ImageNet: C 48,
// 14 cells, 224×224).
constexpr int64_t kMaxInfoFeatureValues = int64_t{1} << 22;
constexpr int64_t kMaxInfoWork = int64_t{1} << 31;

void check_info_size(int64_t C, int64_t layers, int64_t size, bool imagenet) {
  check_network_bounds(C, layers);
  const int64_t side = imagenet ? (size + 3) / 4 : size;
  const int64_t values = C * side * side;
  core::usage_check(values <= kMaxInfoFeatureValues,
                    "--size {}: a {}×{} input to {} with C {} makes feature maps of {} values; expected at most {} "
                    "(a smaller --size or --channels)",
                    size, size, size, imagenet ? "NetworkImageNet" : "NetworkCIFAR", C, grouped(values),
                    grouped(kMaxInfoFeatureValues));
  const int64_t cell_side = imagenet ? (size + 7) / 8 : size;
  const int64_t work = C * C * layers * cell_side * cell_side;  // at most 2^21·4096², no overflow
  core::usage_check(work <= kMaxInfoWork,
                    "--channels {} --layers {} --size {}: counting multiply-adds would take too long (C²·layers·side² "
                    "{}, at the cells' side {}); expected at most {} (a smaller --size, --channels or --layers)",
                    C, layers, size, grouped(work), cell_side, grouped(kMaxInfoWork));
}

void print_genotype_info(const InfoOptions& o, const nas::Genotype& genotype, bool imagenet) {
  const int64_t C = o.channels > 0 ? o.channels : (imagenet ? 48 : 36);
  const int64_t layers = o.layers > 0 ? o.layers : (imagenet ? 14 : 20);
  check_info_size(C, layers, o.size, imagenet);
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

void print_supernet_info(const InfoOptions& o, const std::string& profile) {
  check_network_bounds(o.channels, o.layers);  // builds no input: the weights' bounds are enough
  nas::SearchNetwork net(
      nas::SearchNetworkOptions(o.channels, o.layers).num_classes(o.classes).in_channels(o.in_channels));
  int64_t weights = 0, arch = 0;
  for (const auto& p : net->weight_parameters()) weights += p.numel();
  for (const auto& p : net->arch_parameters()) arch += p.numel();
  fmt::print("search network (profile {}): C={}, {} cells, steps {}, multiplier {}, input {}×{}×{}, {} classes\n",
             profile, o.channels, o.layers, net->options().steps(), net->options().multiplier(), o.in_channels, o.size,
             o.size, o.classes);
  fmt::print("  weights:                 {:>11} ({:.3f}M)\n", grouped(weights), static_cast<double>(weights) / 1e6);
  fmt::print("  architecture parameters: {:>11} (alpha_normal {}×{}, alpha_reduce {}×{})\n", grouped(arch),
             net->alpha_normal().size(0), net->alpha_normal().size(1), net->alpha_reduce().size(0),
             net->alpha_reduce().size(1));
}

// The profile's search settings (what `daas search` with it would build).
search::SearchOptions profile_search_options(const std::string& profile) {
  search::SearchOptions options;
  search::settings_table().apply(core::Settings::from_profile(profile, "search"), options);
  return options;
}

void run_info(const Invocation<InfoOptions>& invocation, const InfoFlags& flags) {
  auto options = invocation.resolve();
  if (invocation.dry_run) {
    fmt::print("{}", invocation.to_yaml_text(options, "info"));
    return;
  }
  core::usage_check(flags.supernet != !options.genotype.empty(),
                    "daas info: expected exactly one of --genotype NAME|FILE|RUN_DIR or --supernet");
  core::usage_check(!(flags.supernet && flags.imagenet),
                    "daas info: --imagenet describes a genotype's NetworkImageNet; expected it without --supernet");
  core::setup_runtime(options);
  const auto given = invocation.explicit_keys();
  if (flags.supernet) {
    // The supernet `daas search` would build with this profile: its search
    // width and depth and its data set's shape, unless given here.
    const auto search = profile_search_options(invocation.profile);
    if (given.count("channels") == 0) options.channels = search.channels;
    if (given.count("layers") == 0) options.layers = search.layers;
    if (given.count("data") != 0) {
      apply_data_shape(given, options, static_cast<uint64_t>(options.seed), options);
    } else {
      apply_data_shape(given, search, static_cast<uint64_t>(search.seed), options);
    }
    print_supernet_info(options, invocation.profile);
    return;
  }
  bool imagenet = flags.imagenet;
  const fs::path model = fs::path(options.genotype) / "model.pt";
  if (fs::is_directory(options.genotype) && fs::exists(model)) {
    // A train run: its network as trained, unless given here.
    const auto info = train::load_model(model.string(), c10::Device(c10::kCPU)).network->info();
    if (given.count("channels") == 0) options.channels = info.C;
    if (given.count("layers") == 0) options.layers = info.layers;
    if (given.count("in_channels") == 0) options.in_channels = info.in_channels;
    if (given.count("classes") == 0) options.classes = info.num_classes();
    if (given.count("size") == 0) options.size = info.height;
    imagenet = imagenet || info.network == train::NetworkKind::kImageNet;
  } else if (given.count("data") != 0) {
    apply_data_shape(given, options, static_cast<uint64_t>(options.seed), options);
  } else if (imagenet) {
    // ImageNet's shape, as DARTS reports NetworkImageNet.
    if (given.count("classes") == 0) options.classes = 1000;
    if (given.count("size") == 0) options.size = 224;
  }
  print_genotype_info(options, train::resolve_genotype(options.genotype), imagenet);
}

}  // namespace

void register_info(CLI::App& app) {
  auto invocation = std::make_shared<Invocation<InfoOptions>>();
  invocation->section = "info";
  core::add_runtime_options(invocation->table);
  invocation->table.remove("out");
  data::add_data_options(invocation->table);
  add_info_options(invocation->table);
  auto flags = std::make_shared<InfoFlags>();
  auto* info = app.add_subcommand("info",
                                  "parameters and multiply-adds of a genotype's network (DARTS counting), or the "
                                  "parameters of the profile's search network");
  bind_options(info, invocation);
  info->add_flag("--supernet", flags->supernet,
                 "describe the search network `daas search` builds with this profile (its channels, layers, data set)");
  info->add_flag("--imagenet", flags->imagenet,
                 "NetworkImageNet (two-stage stride-8 stem); input 224×224 and 1000 classes unless given");
  info->callback([invocation, flags] { run_info(*invocation, *flags); });
}

}  // namespace daas::cli
