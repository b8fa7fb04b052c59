#include "daas/train/train.h"

#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <filesystem>

#include "daas/augment/pipeline.h"
#include "daas/augment/searchable_policy.h"
#include "daas/core/checkpoint.h"
#include "daas/core/error.h"
#include "daas/core/files.h"
#include "daas/core/json.h"
#include "daas/core/metrics.h"
#include "daas/core/parallel.h"
#include "daas/core/progress.h"
#include "daas/data/loader.h"
#include "daas/train/loss.h"
#include "daas/train/model.h"
#include "daas/train/ranks.h"
#include "daas/train/schedule.h"

namespace fs = std::filesystem;

namespace daas::train {
namespace {

/// A searched policy applied from its full β: each image draws its
/// sub-policy, application and levels from the learned distributions.
class LearnedPolicy : public augment::Policy {
 public:
  LearnedPolicy(augment::SearchablePolicy policy, std::string name)
      : policy_(std::move(policy)), name_(std::move(name)) {}
  torch::Tensor apply(const torch::Tensor& images, at::Generator& generator) const override {
    torch::NoGradGuard no_grad;
    const auto sample = policy_->sample(images.size(0), generator);
    return policy_->apply(images, sample, generator);
  }
  std::string name() const override { return name_; }

 private:
  augment::SearchablePolicy policy_;
  std::string name_;
};

/// The policy file a spec names: a search run folder's policy.json, the PATH
/// of file:PATH, or empty for a built-in name.
std::string searched_policy_path(const std::string& spec) {
  if (fs::is_directory(spec)) {
    const auto path = fs::path(spec) / "policy.json";
    check(fs::exists(path), "policy '{}': the folder has no policy.json; expected a daas search run folder", spec);
    return path.string();
  }
  if (spec.rfind("file:", 0) == 0) return spec.substr(5);
  return {};
}

std::shared_ptr<const augment::Policy> learned_policy(const std::string& path, const std::vector<double>& fill) {
  const nlohmann::json json = parse_json(read_file(path), path);
  check(json.is_object() && json.contains("beta") && json.at("beta").contains("levels") &&
            json.at("beta").at("levels").is_number_integer(),
        "{}: no \"beta\" with integer \"levels\"; policy_sampling learned needs the policy.json a daas search wrote",
        path);
  augment::SearchablePolicy policy(
      augment::SearchablePolicyOptions().levels(json.at("beta").at("levels").get<int64_t>()).fill(fill));
  policy->load_json(json, path);
  for (auto& parameter : policy->parameters()) parameter.requires_grad_(false);
  return std::make_shared<LearnedPolicy>(policy, "learned:" + path);
}

struct TrainState {
  std::unique_ptr<Network> net;
  std::unique_ptr<torch::optim::SGD> optimizer;
  int64_t next_epoch = 0;
};

ModelInfo model_info(const TrainOptions& options, const Dataset& train, const nas::Genotype& genotype) {
  ModelInfo info;
  info.genotype = genotype;
  info.network =
      options.network == "auto" ? network_kind_for(train.height(), train.width()) : parse_network_kind(options.network);
  info.C = options.channels;
  info.layers = options.layers;
  info.auxiliary = options.auxiliary_weight > 0;
  info.in_channels = train.channels();
  info.height = train.height();
  info.width = train.width();
  info.classes = train.classes;
  info.mean = train.mean;
  info.std = train.std;
  return info;
}

void save_checkpoint(TrainState& state, const TrainOptions& options, const std::string& path) {
  CheckpointWriter writer;
  writer.module("model", state.net->module());
  writer.optimizer("optimizer", *state.optimizer);
  writer.generator("torch_rng", at::detail::getDefaultCPUGenerator());
  writer.json("state", {{"version", kCheckpointVersion},
                        {"next_epoch", state.next_epoch},
                        {"genotype", state.net->info().genotype.to_darts_string()},
                        {"seed", options.seed}});
  writer.save(path);
}

void load_checkpoint(TrainState& state, const std::string& path) {
  CheckpointReader reader(path);
  const auto meta = reader.json("state");
  check(meta.is_object() && meta.contains("genotype") && !meta.contains("settings"),
        "{}: not a daas train checkpoint (no trained genotype in it; a daas search checkpoint?)", path);
  check_checkpoint_version(meta, path);
  const std::string genotype = state.net->info().genotype.to_darts_string();
  check(meta.value("genotype", std::string()) == genotype,
        "{}: checkpoint of genotype {}, but this run trains {}; expected the same genotype", path,
        meta.value("genotype", std::string()), genotype);
  reader.module("model", state.net->module());
  reader.optimizer("optimizer", *state.optimizer);
  auto torch_rng = at::detail::getDefaultCPUGenerator();
  reader.generator("torch_rng", torch_rng);
  state.next_epoch = meta.at("next_epoch").get<int64_t>();
}

struct EpochTotals {
  double loss = 0;
  int64_t correct = 0;
  int64_t images = 0;
  int64_t steps = 0;
  std::string summary() const {
    if (steps == 0) return {};
    return fmt::format("loss {:.3f} acc {:.1f}%", loss / steps, 100.0 * correct / images);
  }
};

/// One training epoch over `loader`; returns its totals.
EpochTotals train_epoch(TrainState& state, const TrainOptions& options, BatchLoader& loader, TrainRanks& ranks,
                        int64_t epoch, int64_t steps, const c10::Device& device) {
  state.net->module().train();
  loader.start_epoch(epoch);
  EpochTotals totals;
  Progress progress(fmt::format("train epoch {}/{}", epoch + 1, options.epochs), steps);
  const auto start = std::chrono::steady_clock::now();
  for (int64_t step = 0; step < steps; ++step) {
    auto batch = loader.next();
    if (!batch) break;
    const auto labels = batch->labels.to(device);
    const auto result = train_step(ranks, *state.optimizer, options, batch->images, labels, epoch, step);
    totals.loss += result.loss;
    totals.correct += result.correct;
    totals.images += labels.size(0);
    totals.steps += 1;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    progress.advance(1, fmt::format("{} | {:.0f} img/s", totals.summary(), totals.images / std::max(seconds, 1e-9)));
  }
  progress.finish(totals.summary());
  return totals;
}

void add_evaluation(nlohmann::json& record, const Evaluation& test, int64_t num_classes, double seconds) {
  record["test_loss"] = test.loss;
  record["test_acc"] = test.top1();
  if (num_classes > 10) record["test_top5"] = test.top5();
  record["test_seconds"] = seconds;
}

}  // namespace

nas::Genotype resolve_genotype(const std::string& spec) {
  if (fs::is_directory(spec)) {
    const auto path = fs::path(spec) / "genotype.json";
    check(fs::exists(path), "genotype '{}': the folder has no genotype.json; expected a daas search run folder", spec);
    return nas::load_genotype(path.string());
  }
  return nas::load_genotype(spec);
}

std::shared_ptr<const augment::Policy> resolve_policy(const std::string& spec, const std::string& sampling,
                                                      const augment::PolicyOptions& options) {
  const std::string path = searched_policy_path(spec);
  if (sampling == "learned") {
    check(!path.empty(),
          "policy '{}' with policy_sampling learned: expected a searched policy (a daas search run folder or "
          "file:PATH of its policy.json), whose full β is drawn from",
          spec);
    return learned_policy(path, options.fill);
  }
  check(sampling == "sub-policies", "policy_sampling '{}': expected sub-policies or learned", sampling);
  if (fs::is_directory(spec)) {
    return augment::make_sub_policy_policy(augment::read_policy_file(path), options.fill, "search:" + spec);
  }
  return augment::make_policy(spec, options);
}

void validate(const TrainOptions& options) {
  validate_loop(options);
  resolve_device(options.device);
  resolve_genotype(options.genotype);
  if (options.base_policy != "none") augment::make_policy(options.base_policy);
  resolve_policy(options.policy, options.policy_sampling, {});
}

TrainResult run_train(const TrainOptions& options, const std::string& run_dir, bool resume) {
  setup_runtime(options);
  const DataSplits splits = load_data(options, static_cast<uint64_t>(options.seed));
  return train_splits(options, splits, run_dir, resume);
}

namespace {

/// The network and optimiser of a run on `device`, from its checkpoint when resuming.
TrainState start_training(const TrainOptions& options, const Dataset& train, const nas::Genotype& genotype,
                          const c10::Device& device, const std::string& run_dir, bool resume) {
  // The initial weights are a function of the seed alone; drop-path draws
  // from the same global generator, saved in every checkpoint.
  seed_everything(static_cast<uint64_t>(options.seed));
  TrainState state;
  state.net = std::make_unique<Network>(model_info(options, train, genotype), options.channels_last);
  state.net->module().to(device);
  state.optimizer = std::make_unique<torch::optim::SGD>(
      state.net->module().parameters(),
      torch::optim::SGDOptions(options.lr).momentum(options.momentum).weight_decay(options.weight_decay));
  make_dirs(run_dir);
  if (resume) {
    load_checkpoint(state, (fs::path(run_dir) / "checkpoint.pt").string());
    announce_resume(run_dir, state.next_epoch, options.epochs);
  }
  return state;
}

/// The training loader: batches through the augmentation pipeline on its
/// prefetch thread.
std::unique_ptr<BatchLoader> training_loader(const TrainOptions& options, const Dataset& train,
                                             const std::shared_ptr<const augment::Policy>& policy,
                                             const c10::Device& device) {
  const auto policy_options = augment::default_policy_options(train);
  const auto base = options.base_policy == "none" ? nullptr : augment::make_policy(options.base_policy, policy_options);
  augment::PipelineOptions pipeline_options;
  pipeline_options.mean = train.mean;
  pipeline_options.std = train.std;
  pipeline_options.cutout = options.cutout;
  pipeline_options.seed = static_cast<uint64_t>(options.seed);
  pipeline_options.device = device;
  const augment::Pipeline pipeline(base, policy, pipeline_options);
  auto loader = std::make_unique<BatchLoader>(
      train,
      LoaderOptions{options.batch_size, /*shuffle=*/true, /*drop_last=*/true, static_cast<uint64_t>(options.seed)},
      pipeline.transform());
  check(loader->batches_per_epoch() > 0, "{}: {} training images make no full batch of batch_size {}; lower batch_size",
        train.name, train.size(), options.batch_size);
  return loader;
}

/// Writes model.pt with what the run was and how it scored.
std::string finish_training(TrainState& state, const TrainOptions& options, const Evaluation& test,
                            const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / "model.pt").string();
  save_model(*state.net, path,
             {{"data", options.data},
              {"subset", options.subset},
              {"seed", options.seed},
              {"epochs", options.epochs},
              {"genotype_source", options.genotype},
              {"policy", options.policy},
              {"policy_sampling", options.policy_sampling},
              {"test_images", test.images},
              {"test_top1", test.top1()},
              {"test_top5", test.top5()}});
  spdlog::info("model written to {} (test top-1 {:.2f}% on {} images)", path, 100 * test.top1(), test.images);
  return path;
}

}  // namespace

TrainResult train_splits(const TrainOptions& options, const DataSplits& data, const std::string& run_dir, bool resume,
                         const EpochHook& after_epoch) {
  validate(options);
  const c10::Device device = resolve_device(options.device);
  const nas::Genotype genotype = resolve_genotype(options.genotype);
  const auto policy =
      resolve_policy(options.policy, options.policy_sampling, augment::default_policy_options(data.train));
  TrainState state = start_training(options, data.train, genotype, device, run_dir, resume);
  const ModelInfo& info = state.net->info();
  spdlog::info("train: {} ({} C {}, {} layers{}) on {} images {}×{}×{}, {} classes; policy {} ({}) after {}",
               genotype.to_darts_string(), network_kind_name(info.network), info.C, info.layers,
               info.auxiliary ? ", auxiliary head" : "", data.train.size(), info.in_channels, info.height, info.width,
               info.num_classes(), policy->name(), options.policy_sampling, options.base_policy);
  write_file_atomic((fs::path(run_dir) / "genotype.txt").string(), genotype.to_darts_string() + "\n");
  MetricsLog metrics((fs::path(run_dir) / "metrics.jsonl").string(), resume ? state.next_epoch : -1);
  const auto loader = training_loader(options, data.train, policy, device);
  const int64_t steps = epoch_steps(options, loader->batches_per_epoch());

  TrainRanks ranks(*state.net, data_parallel_ranks(options.parallel, device), options.channels_last, device);
  TrainResult result;
  bool evaluated = false;
  for (int64_t epoch = state.next_epoch; epoch < options.epochs; ++epoch) {
    const double lr = cosine_schedule(options.lr, options.lr_min, epoch, options.epochs);
    const double drop_prob = drop_path_schedule(options.drop_path, epoch, options.epochs);
    set_learning_rate(*state.optimizer, lr);
    state.net->set_drop_path_prob(drop_prob);
    const auto start = std::chrono::steady_clock::now();
    const EpochTotals totals = train_epoch(state, options, *loader, ranks, epoch, steps, device);
    const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    nlohmann::json record = epoch_record(epoch, lr, totals.steps, totals.images, train_seconds);
    record["drop_path_prob"] = drop_prob;
    record["train_loss"] = totals.loss / std::max<int64_t>(totals.steps, 1);
    record["train_acc"] = static_cast<double>(totals.correct) / std::max<int64_t>(totals.images, 1);
    record["train_seconds"] = train_seconds;
    evaluated = (epoch + 1) % options.eval_every == 0 || epoch + 1 == options.epochs;
    if (evaluated) {
      const auto eval_start = std::chrono::steady_clock::now();
      result.test = evaluate(*state.net, data.test, options.eval_batch_size, device);
      add_evaluation(record, result.test, info.num_classes(),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - eval_start).count());
    }
    record["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    metrics.append(record);
    state.next_epoch = epoch + 1;
    save_checkpoint(state, options, (fs::path(run_dir) / "checkpoint.pt").string());
    spdlog::info("epoch {}/{}: lr {:.4g}, drop-path {:.3f}, train loss {:.4f} acc {:.2f}%{}, {:.1f} s", epoch + 1,
                 options.epochs, lr, drop_prob, record["train_loss"].get<double>(),
                 100 * record["train_acc"].get<double>(),
                 evaluated ? fmt::format(", test loss {:.4f} top-1 {:.2f}%", result.test.loss, 100 * result.test.top1())
                           : std::string(),
                 record["seconds"].get<double>());
    result.last_record = record;
    if (after_epoch) after_epoch(epoch + 1);
  }
  // A resumed run that had already finished evaluates here.
  if (!evaluated) result.test = evaluate(*state.net, data.test, options.eval_batch_size, device);
  result.model_path = finish_training(state, options, result.test, run_dir);
  return result;
}

}  // namespace daas::train
