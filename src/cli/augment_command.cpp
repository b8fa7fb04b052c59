// `daas augment`: applies one op (at a level or an exact value) or a policy to
// PNG files or the first images of a data set, and writes PNGs or one preview
// grid (images × samples). With --value the op runs at exactly that value, so
// its output can be checked against torchvision from outside.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "commands.h"
#include "daas/augment/ops.h"
#include "daas/augment/policy.h"
#include "daas/augment/preview.h"
#include "daas/core/files.h"
#include "daas/core/runtime.h"
#include "daas/data/dataset.h"
#include "daas/data/image_io.h"
#include "options.h"

namespace daas::cli {
namespace {

struct AugmentOptions : core::RuntimeOptions, data::DataOptions {
  std::string op;
  std::string level;
  std::string value;
  std::string policy;
  std::string input;
  int64_t count = 8;
  bool grid = false;
  int64_t samples = 8;
};

void add_augment_options(core::OptionTable<AugmentOptions>& table) {
  std::vector<std::string> ops;
  for (const auto& row : augment::op_table()) ops.push_back(row.name);
  table
      .add("op", &AugmentOptions::op, fmt::format("apply this op ({}); needs --level or --value", fmt::join(ops, ", ")))
      .add("level", &AugmentOptions::level,
           "op level in [0, 1], mapped to a value by the op's range; signed ops mirrored at random")
      .add("value", &AugmentOptions::value,
           "exact op value, torchvision's argument (shear factor, pixels, degrees, threshold, bits, factor); no "
           "mirroring")
      .add("policy", &AugmentOptions::policy,
           fmt::format("apply this policy: {}", fmt::join(augment::policy_names(), ", ")))
      .add("input", &AugmentOptions::input,
           "comma-separated PNG/JPEG files (channels: image_channels), or a data set (FORMAT or FORMAT:DIR)")
      .add("count", &AugmentOptions::count, "data set input: how many training images", {1, 1024})
      .add("grid", &AugmentOptions::grid, "write one grid.png: a row per image, the original then --samples draws")
      .add("samples", &AugmentOptions::samples, "grid: augmented samples per image", {1, 64})
      .add_renamed("output", "out")
      .add_renamed("channels", "image_channels");
}

bool item_is_file(const std::string& path) { return std::filesystem::is_regular_file(path); }

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

/// A distinct output name per input file: its stem; where two files share
/// the stem, the stem and the extension (a.png, a.jpg -> a-png, a-jpg); where
/// they share the name (x/a.png, y/a.png), the stem and the position in the
/// list (a-1, a-2).
std::vector<std::string> output_names(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::map<std::string, int> stems, files;
  for (const auto& path : paths) {
    ++stems[fs::path(path).stem().string()];
    ++files[fs::path(path).filename().string()];
  }
  std::vector<std::string> names;
  std::map<std::string, int> taken;
  for (size_t i = 0; i < paths.size(); ++i) {
    const fs::path path(paths[i]);
    std::string name = path.stem().string();
    if (files[path.filename().string()] > 1) {
      name += "-" + std::to_string(i + 1);
    } else if (stems[name] > 1 && !path.extension().empty()) {
      name += "-" + path.extension().string().substr(1);
    }
    if (taken[name]++ > 0) name += "-" + std::to_string(i + 1);
    names.push_back(name);
  }
  return names;
}

struct Inputs {
  torch::Tensor images;  // uint8 [N, C, H, W]
  std::vector<std::string> names;
  std::vector<std::string> paths;  // image-file input: the files (names are their stems); else empty
  std::vector<double> mean;        // Cutout fill in [0, 1]
};

Inputs read_inputs(const AugmentOptions& options) {
  core::usage_check(!options.input.empty(),
                    "--input: none given; expected PNG files or a data set such as fashion-mnist");
  const auto items = split(options.input);
  Inputs in;
  const bool any_image = std::any_of(items.begin(), items.end(), is_image_file);
  for (const auto& item : items) {
    core::check(
        !std::filesystem::is_directory(item),
        "--input {}: is a folder; expected PNG/JPEG files (comma-separated) or a data set FORMAT[:DIR] (folder:{} "
        "for a folder of class folders)",
        item, item);
    core::check(!any_image || is_image_file(item),
                "--input {}: not a .png, .jpg or .jpeg file; expected image files only", item);
  }
  if (items.size() == 1 && !any_image && item_is_file(items.front())) {
    core::fail("--input {}: not a .png, .jpg or .jpeg file; expected PNG/JPEG files or a data set FORMAT[:DIR]",
               items.front());
  }
  if (any_image) {
    core::check(options.image_channels == 0 || options.image_channels == 1 || options.image_channels == 3,
                "image_channels {}: expected 0 (as stored), 1 (gray) or 3 (RGB)", options.image_channels);
    std::vector<torch::Tensor> images;
    int64_t channels = 1;
    for (const auto& path : items) {
      images.push_back(data::read_image(path, options.image_channels, options.image_background));
      core::check(images.back().sizes().slice(1) == images.front().sizes().slice(1),
                  "{}: image of size {}×{}; expected {}×{} like {}", path, images.back().size(1), images.back().size(2),
                  images.front().size(1), images.front().size(2), items.front());
      channels = std::max(channels, images.back().size(0));
      in.paths.push_back(path);
    }
    // Gray and colour files together: the gray ones are replicated to RGB.
    for (auto& image : images) image = data::convert_channels(image, channels);
    in.names = output_names(in.paths);
    in.images = torch::stack(images);
    const auto mean = in.images.to(torch::kDouble).mean({0, 2, 3}) / 255.0;
    for (int64_t c = 0; c < mean.size(0); ++c) in.mean.push_back(mean[c].item<double>());
    return in;
  }
  data::DataOptions data = options;
  data.data = options.input;
  const data::DataSplits splits = data::load_data(data, static_cast<uint64_t>(options.seed));
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
  core::usage_check(used > 0 && used == text.size() && std::isfinite(v), "--{} '{}': expected a finite number", key,
                    text);
  return v;
}

/// Values torchvision accepts (or that make sense) for --value: bits are an
/// integer 0..8, enhancement factors and sizes non-negative; every bound keeps
/// the value where the kernels' integer conversions are exact.
void check_value(augment::Op op, double value) {
  using augment::Op;
  struct Allowed {
    double low, high;
    bool integer;
    const char* what;
  };
  Allowed allowed{-1e4, 1e4, false, "a value"};
  switch (op) {
    case Op::Posterize:
      allowed = {0, 8, true, "an integer number of bits"};
      break;
    case Op::Solarize:
      allowed = {0, 256, false, "a threshold"};
      break;
    case Op::Contrast:
    case Op::Color:
    case Op::Brightness:
    case Op::Sharpness:
      allowed = {0, 1e4, false, "a non-negative factor"};
      break;
    case Op::Cutout:
      allowed = {0, 1e4, false, "a side in pixels"};
      break;
    case Op::ShearX:
    case Op::ShearY:
      allowed = {-100, 100, false, "a shear factor"};
      break;
    case Op::Rotate:
      allowed = {-360, 360, false, "an angle in degrees"};
      break;
    default:
      allowed = {-1e4, 1e4, false, "a shift in pixels"};
      break;
  }
  core::usage_check(value >= allowed.low && value <= allowed.high && (!allowed.integer || value == std::floor(value)),
                    "--op {} --value {}: expected {} in [{}, {}]", augment::op_name(op), value, allowed.what,
                    allowed.low, allowed.high);
}

/// The augmentation to run: a function of the images and the generator.
augment::Augmentation make_augmentation(const AugmentOptions& options, const Inputs& in) {
  using namespace augment;
  core::usage_check(options.op.empty() != options.policy.empty(), "expected exactly one of --op and --policy (got {})",
                    options.op.empty() ? "neither" : "both");
  if (!options.policy.empty()) {
    PolicyOptions policy_options;
    policy_options.fill = in.mean;
    const auto policy = make_policy(options.policy, policy_options);
    return [policy](const torch::Tensor& images, at::Generator& g) { return policy->apply(images, g); };
  }
  const Op op = op_from_name(options.op);
  if (!op_info(op).has_magnitude) {
    // 0 is accepted: it is what torchvision's _apply_op passes these ops.
    const std::string given = options.value.empty() ? options.level : options.value;
    core::usage_check(given.empty() || parse_number(given, options.value.empty() ? "level" : "value") == 0,
                      "--op {} takes no value (got '{}'); expected no --level or --value, or 0", options.op, given);
    return [op](const torch::Tensor& images, at::Generator& g) {
      OpContext context{&g, {}};
      return apply_op(op, images, torch::zeros({images.size(0)}, torch::kDouble), {}, context);
    };
  }
  core::usage_check(options.level.empty() != options.value.empty(),
                    "--op {}: expected exactly one of --level and --value", options.op);
  const std::vector<double> fill = in.mean;
  if (!options.value.empty()) {
    const double value = parse_number(options.value, "value");
    check_value(op, value);
    return [op, value, fill](const torch::Tensor& images, at::Generator& g) {
      const auto context = op_context(images, fill, &g);
      return apply_op(op, images, torch::full({images.size(0)}, value, torch::kDouble), {}, context);
    };
  }
  const double level = parse_number(options.level, "level");
  core::usage_check(level >= 0 && level <= 1, "--level {}: out of range; expected a level in [0, 1]", options.level);
  return [op, level, fill](const torch::Tensor& images, at::Generator& g) {
    const double value = level_to_value(op, level, images.size(2), images.size(3));
    auto values = torch::full({images.size(0)}, value, torch::kDouble);
    if (op_info(op).is_signed) {
      values = values * (torch::randint(2, {images.size(0)}, g, torch::kLong) * 2 - 1).to(torch::kDouble);
    }
    const auto context = op_context(images, fill, &g);
    return apply_op(op, images, values, {}, context);
  };
}

/// What augment writes must not replace its own inputs, nor two outputs
/// each other; checked before anything is written.
void check_outputs(const std::string& folder, const AugmentOptions& options, const Inputs& in) {
  namespace fs = std::filesystem;
  std::vector<std::string> outputs;
  if (options.grid) {
    outputs.push_back((fs::path(folder) / "grid.png").string());
  } else {
    for (const auto& name : in.names) outputs.push_back((fs::path(folder) / (name + ".png")).string());
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      core::check(outputs[i] != outputs[j],
                  "--out {}: inputs {} and {} would both be written to {}; expected distinct names", folder,
                  in.paths[j], in.paths[i], outputs[i]);
    }
    std::error_code ec;
    for (const auto& input : in.paths) {
      core::check(!fs::equivalent(outputs[i], input, ec),
                  "--out {}: would overwrite the input {}; expected another folder", folder, input);
    }
    core::check(!fs::exists(outputs[i]),
                "--out {}: {} already exists; expected a new or empty folder (nothing was written)", folder,
                outputs[i]);
  }
}

void run_augment(const Invocation<AugmentOptions>& invocation) {
  const auto options = invocation.resolve();
  if (invocation.dry_run) {
    fmt::print("{}", invocation.to_yaml_text(options, "augment"));
    return;
  }
  core::usage_check(options.op.empty() != options.policy.empty(), "expected exactly one of --op and --policy (got {})",
                    options.op.empty() ? "neither" : "both");
  const c10::Device device = core::setup_runtime(options);
  const Inputs in = read_inputs(options);
  const auto augmentation = make_augmentation(options, in);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(options.seed));
  const auto images = in.images.to(device);
  const std::string folder = core::run_folder(options, "augment");
  check_outputs(folder, options, in);
  core::make_dirs(folder);
  if (options.grid) {
    const std::string path = (std::filesystem::path(folder) / "grid.png").string();
    data::write_png(path, augment::preview_grid(images, options.samples, augmentation, generator));
    spdlog::info("wrote {} ({} images × {} samples)", path, images.size(0), options.samples);
    return;
  }
  const auto out = augmentation(images, generator).to(torch::kCPU);
  for (int64_t i = 0; i < out.size(0); ++i) {
    data::write_png((std::filesystem::path(folder) / (in.names[static_cast<size_t>(i)] + ".png")).string(), out[i]);
  }
  spdlog::info("wrote {} images to {}", out.size(0), folder);
}

}  // namespace

void register_augment(CLI::App& app) {
  auto invocation = std::make_shared<Invocation<AugmentOptions>>();
  invocation->section = "augment";
  core::add_runtime_options(invocation->table);
  data::add_data_options(invocation->table);
  add_augment_options(invocation->table);
  auto* command = app.add_subcommand(
      "augment", "apply an op or a policy to images and write PNGs or a preview grid (also for parity checks)");
  bind_options(command, invocation);
  command->callback([invocation] { run_augment(*invocation); });
}

}  // namespace daas::cli
