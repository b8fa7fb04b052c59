// `daas predict`: class probabilities of image files under a trained model,
// the images decoded, resized and normalised as its training data was.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "daas/core/runtime.h"
#include "daas/data/image_io.h"
#include "daas/train/evaluate.h"
#include "daas/train/model.h"
#include "options.h"

namespace fs = std::filesystem;

namespace daas::cli {
namespace {

struct PredictOptions : core::RuntimeOptions {
  std::string model;
  int64_t top_k = 5;
  bool json = false;
  int64_t batch_size = 256;
  std::string image_resize = "crop";
  std::string image_background = "white";
};

void add_predict_options(core::OptionTable<PredictOptions>& table) {
  table.add("model", &PredictOptions::model, "model file written by daas train (model.pt), or its run folder")
      .add("top_k", &PredictOptions::top_k, "classes shown per image, most probable first", {1, 100000})
      .add("json", &PredictOptions::json, "print the predictions as JSON on stdout instead of text")
      .add("batch_size", &PredictOptions::batch_size, "images per batch", {1, 65536})
      .add_choice("image_resize", &PredictOptions::image_resize,
                  "how an image of another size is brought to the model's; default: as the model's training data "
                  "(crop = shorter side, then the centre; stretch = both sides)",
                  {"crop", "stretch"})
      .add_choice("image_background", &PredictOptions::image_background,
                  "images with transparency: composited on white or black, or error; default: as the model's "
                  "training data",
                  {"white", "black", "error"});
}

bool has_image_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

/// The image files: each file as given, each folder's .png/.jpg/.jpeg files
/// (all subfolders too) in sorted order.
std::vector<std::string> image_files(const std::vector<std::string>& inputs) {
  core::usage_check(!inputs.empty(), "daas predict: no images; expected image files or folders after the options");
  std::vector<std::string> files;
  for (const auto& input : inputs) {
    if (fs::is_directory(input)) {
      std::vector<std::string> found;
      for (const auto& entry : fs::recursive_directory_iterator(input)) {
        if (entry.is_regular_file() && has_image_extension(entry.path())) found.push_back(entry.path().string());
      }
      core::check(!found.empty(), "{}: no .png, .jpg or .jpeg files in the folder or its subfolders", input);
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      core::check(fs::is_regular_file(input), "{}: no such image file or folder", input);
      files.push_back(input);
    }
  }
  return files;
}

/// Whether `text` is valid UTF-8, which JSON text must be (nlohmann's strict
/// dump refuses anything else).
bool is_utf8(const std::string& text) {
  try {
    (void)nlohmann::json(text).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

/// How the model's training images were brought to size and made opaque,
/// unless given here.
void apply_model_image_settings(const nlohmann::json& extra, const std::set<std::string>& given,
                                const std::string& path, PredictOptions& options) {
  if (!extra.contains("data_settings")) return;
  data::DataOptions data;
  data::data_options_from_json(extra.at("data_settings"), {}, path + ": model record", data);
  if (given.count("image_resize") == 0) options.image_resize = data.image_resize;
  if (given.count("image_background") == 0) options.image_background = data.image_background;
}

void run_predict(const Invocation<PredictOptions>& invocation, const std::vector<std::string>& inputs) {
  auto options = invocation.resolve();
  if (invocation.dry_run) {
    fmt::print("{}", invocation.to_yaml_text(options, "predict"));
    return;
  }
  const std::string path = model_file(options.model, "predict");
  const auto files = image_files(inputs);
  const c10::Device device = core::setup_runtime(options);
  auto loaded = train::load_model(path, device);
  const auto& info = loaded.network->info();
  apply_model_image_settings(loaded.extra, invocation.explicit_keys(), path, options);

  std::vector<torch::Tensor> images;
  images.reserve(files.size());
  for (const auto& file : files) {
    const auto image = data::read_image(file, info.in_channels, options.image_background);
    images.push_back(data::resize_image(image, info.height, info.width, options.image_resize));
  }
  const auto logits = train::predict(*loaded.network, torch::stack(images), options.batch_size, device);
  const auto probabilities = torch::softmax(logits.to(torch::kDouble), 1);
  const int64_t k = std::min(options.top_k, info.num_classes());
  const auto [top_p, top_i] = probabilities.topk(k, 1);

  nlohmann::json predictions = nlohmann::json::array();
  for (size_t n = 0; n < files.size(); ++n) {
    const auto row = static_cast<int64_t>(n);
    nlohmann::json top = nlohmann::json::array();
    std::string line = files[n] + ":";
    for (int64_t j = 0; j < k; ++j) {
      const auto index = top_i[row][j].item<int64_t>();
      const double p = top_p[row][j].item<double>();
      const std::string& name = info.classes[static_cast<size_t>(index)];
      top.push_back({{"class", name}, {"index", index}, {"probability", p}});
      line += fmt::format("{} {} {:.2f}%", j == 0 ? "" : ",", name, 100.0 * p);
    }
    if (options.json) {
      predictions.push_back({{"image", files[n]}, {"top", top}});
    } else {
      fmt::print("{}\n", line);
    }
  }
  if (options.json) {
    // File names are bytes, and JSON text is UTF-8: a byte that is not UTF-8
    // (a name from another encoding, e.g. Latin-1) becomes U+FFFD instead of
    // failing the whole output, and the text output keeps the exact bytes.
    // Entries are in the order of the files, so each still matches its file.
    const auto not_utf8 = std::count_if(files.begin(), files.end(), [](const auto& f) { return !is_utf8(f); });
    if (not_utf8 > 0) {
      spdlog::warn(
          "{} image file name(s) not valid UTF-8; the JSON shows their invalid bytes as U+FFFD (the text "
          "output keeps them)",
          not_utf8);
    }
    fmt::print("{}\n", nlohmann::json({{"model", path}, {"classes", info.classes}, {"predictions", predictions}})
                           .dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  spdlog::info("{} images predicted by {} ({}×{}×{}, resize {}, background {})", files.size(), path, info.in_channels,
               info.height, info.width, options.image_resize, options.image_background);
}

}  // namespace

void register_predict(CLI::App& app) {
  auto invocation = std::make_shared<Invocation<PredictOptions>>();
  invocation->section = "predict";
  core::add_runtime_options(invocation->table);
  invocation->table.remove("out").remove("seed");  // writes nothing, draws nothing
  add_predict_options(invocation->table);
  auto* command = app.add_subcommand(
      "predict",
      "class probabilities of images (files or folders) under a trained model, read as its training data was");
  auto inputs = std::make_shared<std::vector<std::string>>();
  command->add_option("images", *inputs, "PNG/JPEG files, or folders of them (searched with their subfolders)");
  bind_options(command, invocation);
  command->callback([invocation, inputs] { run_predict(*invocation, *inputs); });
}

}  // namespace daas::cli
