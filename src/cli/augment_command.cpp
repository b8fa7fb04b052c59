// `daas augment`: applies one op (at a level or an exact value) or a policy to
// PNG files or the first images of a data set, and writes PNGs or one preview
// grid (images × samples). With --value the op runs at exactly that value, so
// its output can be checked against torchvision from outside.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <filesystem>

#include "commands.h"
#include "daas/augment/ops.h"
#include "daas/augment/policy.h"
#include "daas/core/files.h"
#include "daas/core/runtime.h"
#include "daas/data/dataset.h"
#include "daas/data/image_io.h"
#include "options.h"

namespace daas::cli {
namespace {

struct AugmentOptions : RuntimeOptions, DataOptions {
  std::string op;
  std::string level;
  std::string value;
  std::string policy;
  std::string input;
  std::string output = "augmented";
  int64_t count = 8;
  int64_t channels = 3;
  bool grid = false;
  int64_t samples = 8;
};

void add_augment_options(OptionTable<AugmentOptions>& table) {
  table.add("op", &AugmentOptions::op, "apply this op (ShearX, ..., Cutout, Identity); needs --level or --value")
      .add("level", &AugmentOptions::level, "op level in [0, 1], mapped by DESIGN 2.3; signed ops mirrored at random")
      .add("value", &AugmentOptions::value,
           "exact op value, torchvision's argument (shear factor, pixels, degrees, threshold, bits, factor); no "
           "mirroring")
      .add("policy", &AugmentOptions::policy,
           "apply this policy: none, standard, autoaugment-cifar10, randaugment, trivialaugment or file:PATH")
      .add("input", &AugmentOptions::input, "comma-separated PNG/JPEG files, or a data set (FORMAT or FORMAT:DIR)")
      .add("output", &AugmentOptions::output, "folder for the PNGs (or grid.png)")
      .add("count", &AugmentOptions::count, "data set input: how many training images", {1, 1024})
      .add("channels", &AugmentOptions::channels, "image-file input: 1 = grayscale, 3 = RGB", {1, 3})
      .add("grid", &AugmentOptions::grid, "write one grid.png: a row per image, the original then --samples draws")
      .add("samples", &AugmentOptions::samples, "grid: augmented samples per image", {1, 64});
}

bool is_image_file(const std::string& path) {
  const auto ext = std::filesystem::path(path).extension().string();
  return ext == ".png" || ext == ".PNG" || ext == ".jpg" || ext == ".jpeg" || ext == ".JPG";
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  std::string part;
  for (char c : text + ",") {
    if (c != ',') {
      part += c;
    } else if (!part.empty()) {
      parts.push_back(part);
      part.clear();
    }
  }
  return parts;
}

struct Inputs {
  torch::Tensor images;  // uint8 [N, C, H, W]
  std::vector<std::string> names;
  std::vector<double> mean;  // Cutout fill in [0, 1]
};

Inputs read_inputs(const AugmentOptions& options) {
  check(!options.input.empty(), "--input: none given; expected PNG files or a data set such as fashion-mnist");
  const auto items = split(options.input);
  Inputs in;
  if (std::all_of(items.begin(), items.end(), is_image_file)) {
    std::vector<torch::Tensor> images;
    for (const auto& path : items) {
      images.push_back(read_image(path, options.channels));
      check(images.back().sizes() == images.front().sizes(), "{}: image of size {}×{}; expected {}×{} like {}", path,
            images.back().size(1), images.back().size(2), images.front().size(1), images.front().size(2),
            items.front());
      in.names.push_back(std::filesystem::path(path).stem().string());
    }
    in.images = torch::stack(images);
    const auto mean = in.images.to(torch::kDouble).mean({0, 2, 3}) / 255.0;
    for (int64_t c = 0; c < mean.size(0); ++c) in.mean.push_back(mean[c].item<double>());
    return in;
  }
  DataOptions data = options;
  data.data = options.input;
  const DataSplits splits = load_data(data, static_cast<uint64_t>(options.seed));
  const int64_t n = std::min(options.count, splits.train.size());
  in.images = splits.train.images.narrow(0, 0, n);
  for (int64_t i = 0; i < n; ++i) in.names.push_back(fmt::format("image-{:04d}", i));
  in.mean = splits.train.mean;
  return in;
}

double parse_number(const std::string& text, const char* key) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  check(used > 0 && used == text.size() && std::isfinite(v), "--{} '{}': expected a finite number", key, text);
  return v;
}

/// The augmentation to run: a function of the images and the generator.
std::function<torch::Tensor(const torch::Tensor&, at::Generator&)> make_augmentation(const AugmentOptions& options,
                                                                                     const Inputs& in) {
  using namespace augment;
  check(options.op.empty() != options.policy.empty(), "expected exactly one of --op and --policy (got {})",
        options.op.empty() ? "neither" : "both");
  if (!options.policy.empty()) {
    PolicyOptions policy_options;
    policy_options.fill = in.mean;
    const auto policy = make_policy(options.policy, policy_options);
    return [policy](const torch::Tensor& images, at::Generator& g) { return policy->apply(images, g); };
  }
  const Op op = op_from_name(options.op);
  check(options.level.empty() != options.value.empty(), "--op {}: expected exactly one of --level and --value",
        options.op);
  std::vector<double> fill = in.mean;
  for (auto& f : fill) f *= 255.0;
  if (!options.value.empty()) {
    const double value = parse_number(options.value, "value");
    return [op, value, fill](const torch::Tensor& images, at::Generator& g) {
      OpContext context{&g, fill};
      return apply_op(op, images, torch::full({images.size(0)}, value, torch::kDouble), {}, context);
    };
  }
  const double level = parse_number(options.level, "level");
  return [op, level, fill](const torch::Tensor& images, at::Generator& g) {
    const double value = level_to_value(op, level, images.size(2), images.size(3));
    auto values = torch::full({images.size(0)}, value, torch::kDouble);
    if (op_info(op).is_signed) {
      values = values * (torch::randint(2, {images.size(0)}, g, torch::kLong) * 2 - 1).to(torch::kDouble);
    }
    OpContext context{&g, fill};
    return apply_op(op, images, values, {}, context);
  };
}

/// Rows: images; columns: the original, then `samples` draws; 2-pixel grey gaps.
torch::Tensor make_grid(const std::vector<torch::Tensor>& columns) {
  const int64_t n = columns.front().size(0), c = columns.front().size(1);
  const int64_t h = columns.front().size(2), w = columns.front().size(3);
  constexpr int64_t kGap = 2;
  const int64_t cols = static_cast<int64_t>(columns.size());
  auto grid = torch::full({c, n * (h + kGap) + kGap, cols * (w + kGap) + kGap}, 128, torch::kByte);
  for (int64_t j = 0; j < cols; ++j) {
    for (int64_t i = 0; i < n; ++i) {
      grid.narrow(1, kGap + i * (h + kGap), h)
          .narrow(2, kGap + j * (w + kGap), w)
          .copy_(columns[static_cast<size_t>(j)][i]);
    }
  }
  return grid;
}

void run_augment(const Invocation<AugmentOptions>& invocation) {
  const auto options = invocation.resolve();
  if (invocation.dry_run) {
    fmt::print("{}", invocation.to_yaml_text(options, "augment"));
    return;
  }
  const c10::Device device = setup_runtime(options);
  const Inputs in = read_inputs(options);
  const auto augmentation = make_augmentation(options, in);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(options.seed));
  const auto images = in.images.to(device);
  make_dirs(options.output);
  if (options.grid) {
    std::vector<torch::Tensor> columns = {in.images};
    for (int64_t s = 0; s < options.samples; ++s) columns.push_back(augmentation(images, generator).to(torch::kCPU));
    const std::string path = (std::filesystem::path(options.output) / "grid.png").string();
    write_png(path, make_grid(columns));
    spdlog::info("wrote {} ({} images × {} samples)", path, images.size(0), options.samples);
    return;
  }
  const auto out = augmentation(images, generator).to(torch::kCPU);
  for (int64_t i = 0; i < out.size(0); ++i) {
    write_png((std::filesystem::path(options.output) / (in.names[static_cast<size_t>(i)] + ".png")).string(), out[i]);
  }
  spdlog::info("wrote {} images to {}", out.size(0), options.output);
}

}  // namespace

void register_augment(CLI::App& app) {
  auto invocation = std::make_shared<Invocation<AugmentOptions>>();
  invocation->section = "augment";
  add_runtime_options(invocation->table);
  add_data_options(invocation->table);
  add_augment_options(invocation->table);
  auto* command = app.add_subcommand(
      "augment", "apply an op or a policy to images and write PNGs or a preview grid (also for parity checks)");
  bind_options(command, invocation);
  command->callback([invocation] { run_augment(*invocation); });
}

}  // namespace daas::cli
