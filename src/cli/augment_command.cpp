// `daas augment`: applies one op (at a level or an exact value) or a policy to
// PNG files or the first images of a data set, and writes PNGs or one preview
// grid (images × samples). With --value the op runs at exactly that value, so
// its output can be checked against torchvision from outside.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cmath>
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
      .add("input", &AugmentOptions::input, "comma-separated PNG/JPEG files, or a data set (FORMAT or FORMAT:DIR)")
      .add("output", &AugmentOptions::output, "folder for the PNGs (or grid.png)")
      .add("count", &AugmentOptions::count, "data set input: how many training images", {1, 1024})
      .add("channels", &AugmentOptions::channels, "image-file input: 1 = grayscale, 3 = RGB", {1, 3})
      .add("grid", &AugmentOptions::grid, "write one grid.png: a row per image, the original then --samples draws")
      .add("samples", &AugmentOptions::samples, "grid: augmented samples per image", {1, 64});
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

struct Inputs {
  torch::Tensor images;  // uint8 [N, C, H, W]
  std::vector<std::string> names;
  std::vector<std::string> paths;  // image-file input: the files (names are their stems); else empty
  std::vector<double> mean;        // Cutout fill in [0, 1]
};

Inputs read_inputs(const AugmentOptions& options) {
  check(!options.input.empty(), "--input: none given; expected PNG files or a data set such as fashion-mnist");
  const auto items = split(options.input);
  Inputs in;
  const bool any_image = std::any_of(items.begin(), items.end(), is_image_file);
  for (const auto& item : items) {
    check(!std::filesystem::is_directory(item),
          "--input {}: is a folder; expected PNG/JPEG files (comma-separated) or a data set FORMAT[:DIR] (folder:{} "
          "for a folder of class folders)",
          item, item);
    check(!any_image || is_image_file(item), "--input {}: not a .png, .jpg or .jpeg file; expected image files only",
          item);
  }
  if (items.size() == 1 && !any_image && item_is_file(items.front())) {
    fail("--input {}: not a .png, .jpg or .jpeg file; expected PNG/JPEG files or a data set FORMAT[:DIR]",
         items.front());
  }
  if (any_image) {
    std::vector<torch::Tensor> images;
    for (const auto& path : items) {
      images.push_back(read_image(path, options.channels));
      check(images.back().sizes() == images.front().sizes(), "{}: image of size {}×{}; expected {}×{} like {}", path,
            images.back().size(1), images.back().size(2), images.front().size(1), images.front().size(2),
            items.front());
      in.names.push_back(std::filesystem::path(path).stem().string());
      in.paths.push_back(path);
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
  check(value >= allowed.low && value <= allowed.high && (!allowed.integer || value == std::floor(value)),
        "--op {} --value {}: expected {} in [{}, {}]", augment::op_name(op), value, allowed.what, allowed.low,
        allowed.high);
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
  if (!op_info(op).has_magnitude) {
    // 0 is accepted: it is what torchvision's _apply_op passes these ops.
    const std::string given = options.value.empty() ? options.level : options.value;
    check(given.empty() || parse_number(given, options.value.empty() ? "level" : "value") == 0,
          "--op {} takes no value (got '{}'); expected no --level or --value, or 0", options.op, given);
    return [op](const torch::Tensor& images, at::Generator& g) {
      OpContext context{&g, {}};
      return apply_op(op, images, torch::zeros({images.size(0)}, torch::kDouble), {}, context);
    };
  }
  check(options.level.empty() != options.value.empty(), "--op {}: expected exactly one of --level and --value",
        options.op);
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
  check(level >= 0 && level <= 1, "--level {}: out of range; expected a level in [0, 1]", options.level);
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

/// What augment writes must not replace its own inputs, nor two outputs
/// each other; checked before anything is written.
void check_outputs(const AugmentOptions& options, const Inputs& in) {
  namespace fs = std::filesystem;
  std::vector<std::string> outputs;
  if (options.grid) {
    outputs.push_back((fs::path(options.output) / "grid.png").string());
  } else {
    for (const auto& name : in.names) outputs.push_back((fs::path(options.output) / (name + ".png")).string());
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      check(outputs[i] != outputs[j],
            "--output {}: inputs {} and {} would both be written to {}; expected distinct "
            "file names",
            options.output, in.paths[j], in.paths[i], outputs[i]);
    }
    std::error_code ec;
    for (const auto& input : in.paths) {
      check(!fs::equivalent(outputs[i], input, ec),
            "--output {}: would overwrite the input {}; expected another folder", options.output, input);
    }
  }
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
  check_outputs(options, in);
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
