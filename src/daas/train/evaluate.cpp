#include "daas/train/evaluate.h"

#include <torch/torch.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "daas/augment/pipeline.h"
#include "daas/core/error.h"
#include "daas/core/parallel.h"
#include "daas/data/loader.h"
#include "daas/train/loss.h"
#include "daas/train/ranks.h"

namespace daas::train {

std::vector<double> Evaluation::per_class_accuracy() const {
  std::vector<double> out;
  if (!confusion.defined()) return out;
  const auto rows = confusion.sum(1);
  const auto diagonal = confusion.diagonal();
  for (int64_t k = 0; k < confusion.size(0); ++k) {
    const auto total = rows[k].item<int64_t>();
    out.push_back(total > 0 ? static_cast<double>(diagonal[k].item<int64_t>()) / static_cast<double>(total)
                            : std::numeric_limits<double>::quiet_NaN());
  }
  return out;
}

nlohmann::json Evaluation::to_json(const std::vector<std::string>& classes) const {
  nlohmann::json per_class = nlohmann::json::object();
  const auto accuracy = per_class_accuracy();
  for (size_t k = 0; k < accuracy.size() && k < classes.size(); ++k) {
    per_class[classes[k]] = std::isnan(accuracy[k]) ? nlohmann::json(nullptr) : nlohmann::json(accuracy[k]);
  }
  nlohmann::json matrix = nlohmann::json::array();
  for (int64_t i = 0; confusion.defined() && i < confusion.size(0); ++i) {
    const auto row = confusion[i].contiguous();
    matrix.push_back(std::vector<int64_t>(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel()));
  }
  return {{"images", images},   {"loss", loss},           {"top1", top1()},     {"top5", top5()},
          {"classes", classes}, {"per_class", per_class}, {"confusion", matrix}};
}

namespace {

/// Runs `net` in eval mode without gradients over every image of `data` in
/// order, each batch normalised with the network's own mean and std; calls
/// `use(batch, logits)` per batch. evaluate() and predict() share it, so that
/// a prediction is exactly what the evaluation counts.
template <typename Use>
void for_each_batch(Network& net, const data::Dataset& data, int64_t batch_size, const c10::Device& device, Use&& use) {
  core::check(batch_size >= 1, "evaluate: batch size {}; expected >= 1", batch_size);
  const ModelInfo& info = net.info();
  auto& module = net.module();
  const bool was_training = module.is_training();
  module.eval();
  torch::NoGradGuard no_grad;
  TrainRanks ranks(net, core::data_parallel_ranks("batch", device), net.channels_last(), device);
  ranks.follow_master();

  augment::PipelineOptions pipeline_options;
  pipeline_options.mean = info.mean;
  pipeline_options.std = info.std;
  pipeline_options.device = device;
  const augment::Pipeline pipeline(nullptr, nullptr, pipeline_options);
  data::BatchLoader loader(data, {batch_size, /*shuffle=*/false, /*drop_last=*/false, /*seed=*/0},
                           pipeline.transform());
  loader.start_epoch(0);
  while (auto batch = loader.next()) use(*batch, ranks.infer(batch->images));
  module.train(was_training);
}

}  // namespace

Evaluation evaluate(Network& net, const data::Dataset& data, int64_t batch_size, const c10::Device& device) {
  const int64_t k = net.info().num_classes();
  Evaluation result;
  auto confusion = torch::zeros({k * k}, torch::kLong);
  double loss_sum = 0;
  for_each_batch(net, data, batch_size, device, [&](const data::Batch& batch, const torch::Tensor& logits) {
    const auto labels = batch.labels.to(device);
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    result.top1_correct += correct_top_k(logits, labels, 1);
    result.top5_correct += correct_top_k(logits, labels, 5);
    const auto predicted = logits.argmax(1).to(torch::kCPU);
    confusion += torch::bincount(batch.labels * k + predicted, {}, k * k);
    result.images += labels.size(0);
  });
  result.loss = result.images > 0 ? loss_sum / static_cast<double>(result.images) : 0.0;
  result.confusion = confusion.view({k, k});
  return result;
}

torch::Tensor predict(Network& net, const torch::Tensor& images, int64_t batch_size, const c10::Device& device) {
  const ModelInfo& info = net.info();
  core::check(images.dim() == 4 && images.scalar_type() == torch::kUInt8 && images.size(1) == info.in_channels &&
                  images.size(2) == info.height && images.size(3) == info.width,
              "predict: images of shape [{}]; expected uint8 [N, {}, {}, {}], the model's input",
              fmt::join(images.sizes(), ", "), info.in_channels, info.height, info.width);
  data::Dataset data;
  data.name = "predict";
  data.images = images;
  data.labels = torch::zeros({images.size(0)}, torch::kLong);
  data.classes = info.classes;
  std::vector<torch::Tensor> parts;
  for_each_batch(net, data, batch_size, device, [&](const data::Batch&, const torch::Tensor& logits) {
    parts.push_back(logits.to(torch::kCPU, torch::kFloat32));
  });
  return torch::cat(parts);
}

std::string format_evaluation(const Evaluation& evaluation, const std::vector<std::string>& classes) {
  std::string out = fmt::format("{} images: top-1 {:.2f}%, top-5 {:.2f}%, loss {:.4f}\n", evaluation.images,
                                100.0 * evaluation.top1(), 100.0 * evaluation.top5(), evaluation.loss);
  size_t width = 5;
  for (const auto& name : classes) width = std::max(width, name.size());
  out += fmt::format("\nper-class accuracy\n");
  const auto accuracy = evaluation.per_class_accuracy();
  for (size_t i = 0; i < accuracy.size(); ++i) {
    const std::string name = i < classes.size() ? classes[i] : std::to_string(i);
    out += std::isnan(accuracy[i]) ? fmt::format("  {:>3} {:<{}}      -\n", i, name, width)
                                   : fmt::format("  {:>3} {:<{}} {:6.2f}%\n", i, name, width, 100.0 * accuracy[i]);
  }
  out += "\nconfusion matrix (row = true class, column = predicted)\n      ";
  const int64_t k = evaluation.confusion.defined() ? evaluation.confusion.size(0) : 0;
  for (int64_t j = 0; j < k; ++j) out += fmt::format(" {:>5}", j);
  out += "\n";
  for (int64_t i = 0; i < k; ++i) {
    out += fmt::format("  {:>3} ", i);
    for (int64_t j = 0; j < k; ++j) out += fmt::format(" {:>5}", evaluation.confusion[i][j].item<int64_t>());
    out += "\n";
  }
  return out;
}

}  // namespace daas::train
