#include "daas/train/train.h"

#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <tuple>

#include "daas/augment/pipeline.h"
#include "daas/augment/searchable_policy.h"
#include "daas/core/checkpoint.h"
#include "daas/core/error.h"
#include "daas/core/files.h"
#include "daas/core/interrupt.h"
#include "daas/core/json.h"
#include "daas/core/metrics.h"
#include "daas/core/parallel.h"
#include "daas/core/progress.h"
#include "daas/core/runtime.h"
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

constexpr const char* kPolicyList = "policy.json";
constexpr const char* kPolicySearch = "policy_search.json";

/// Whether a policy spec names files (a run folder or file:PATH) rather than
/// a built-in policy.
bool names_policy_files(const std::string& spec) { return fs::is_directory(spec) || spec.rfind("file:", 0) == 0; }

/// The JSON of a policy file that holds a full β: policy_search.json, or an
/// older daas policy.json (an object with "sub_policies" and "beta").
bool holds_beta(const nlohmann::json& json) { return json.is_object() && json.contains("beta"); }

/// The file holding the full β that a spec names: a run folder's
/// policy_search.json (or its older policy.json with "beta"), or file:PATH.
std::string beta_path(const std::string& spec) {
  if (!fs::is_directory(spec)) return spec.substr(5);
  const auto search = fs::path(spec) / kPolicySearch;
  if (fs::exists(search)) return search.string();
  const auto list = fs::path(spec) / kPolicyList;
  core::check(fs::exists(list),
              "policy '{}': the folder has no {} or {}; expected a daas search run folder (joint or policy mode)", spec,
              kPolicySearch, kPolicyList);
  return list.string();
}

std::shared_ptr<const augment::Policy> learned_policy(const std::string& path, const std::vector<double>& fill) {
  const nlohmann::json json = core::parse_json(core::read_file(path), path);
  core::check(holds_beta(json),
              "{}: no \"beta\"; policy_sampling learned needs the policy_search.json of a daas search (joint or policy "
              "mode)",
              path);
  augment::SearchablePolicy policy(
      augment::SearchablePolicyOptions().levels(augment::beta_levels(json.at("beta"), path)).fill(fill));
  policy->load_json(json, path);
  for (auto& parameter : policy->parameters()) parameter.requires_grad_(false);
  return std::make_shared<LearnedPolicy>(policy, "learned:" + path);
}

/// What a run folder's policy files say for sub-policy sampling: the list of
/// policy.json, or (a --mode arch search with a built-in policy) the name in
/// policy_search.json. Empty list and name: neither file.
struct FolderPolicy {
  std::vector<augment::SubPolicy> list;
  std::string fixed;
};

FolderPolicy folder_policy(const std::string& dir) {
  FolderPolicy out;
  const auto list = fs::path(dir) / kPolicyList;
  if (fs::exists(list)) {
    out.list = augment::read_policy_file(list.string());
    return out;
  }
  const auto search = fs::path(dir) / kPolicySearch;
  if (fs::exists(search)) {
    const auto json = core::parse_json(core::read_file(search.string()), search.string());
    core::check(json.is_object() && json.contains("fixed_policy") && json.at("fixed_policy").is_string(),
                "{}: neither a {} beside it nor a \"fixed_policy\" in it; expected the files of a daas search run",
                search.string(), kPolicyList);
    out.fixed = json.at("fixed_policy").get<std::string>();
    return out;
  }
  core::fail("policy '{}': the folder has no {} (nor {}); expected a daas search or train run folder", dir, kPolicyList,
             kPolicySearch);
}

/// Copies the policy files a spec names into the run folder, so that it
/// holds what it trains with: policy.json (the sub-policy list) and
/// policy_search.json (β, or a fixed policy's name) as far as they exist.
void copy_policy_files(const std::string& spec, const std::string& run_dir) {
  const auto write = [&](const char* name, const std::string& text) {
    core::write_file_atomic((fs::path(run_dir) / name).string(), text);
  };
  if (fs::is_directory(spec)) {
    for (const char* name : {kPolicyList, kPolicySearch}) {
      const auto from = fs::path(spec) / name;
      std::error_code ec;
      if (fs::exists(from) && !fs::equivalent(from, fs::path(run_dir) / name, ec))
        write(name, core::read_file(from.string()));
    }
    return;
  }
  const std::string path = spec.substr(5);
  const auto json = core::parse_json(core::read_file(path), path);
  write(kPolicyList, augment::policy_to_json(augment::parse_policy(json, path)).dump() + "\n");
  if (holds_beta(json)) write(kPolicySearch, json.dump(2) + "\n");
}

struct EpochTotals {
  double loss = 0;
  int64_t correct = 0;
  int64_t images = 0;
  int64_t steps = 0;
  double seconds = 0;
  std::string summary() const {
    if (steps == 0) return {};
    return fmt::format("loss {:.3f} acc {:.1f}%", loss / steps, 100.0 * correct / images);
  }
  nlohmann::json sums() const {
    return {{"loss", loss}, {"correct", correct}, {"images", images}, {"steps", steps}, {"seconds", seconds}};
  }
  /// The sums of a checkpoint taken within an epoch; fails naming `source`
  /// and the field when one is missing or not a number of its kind.
  static EpochTotals from_sums(const nlohmann::json& sums, const std::string& source) {
    return {core::number_field(sums, "loss", source), core::integer_field(sums, "correct", source, 0),
            core::integer_field(sums, "images", source, 0), core::integer_field(sums, "steps", source, 0),
            core::number_field(sums, "seconds", source)};
  }
};

struct TrainState {
  std::unique_ptr<Network> net;
  std::unique_ptr<torch::optim::SGD> optimizer;
  int64_t next_epoch = 0;
  // A run stopped within an epoch: the next step and the epoch's sums so far.
  int64_t next_step = 0;
  EpochTotals partial;
};

ModelInfo model_info(const TrainOptions& options, const data::Dataset& train, const nas::Genotype& genotype) {
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
  core::CheckpointWriter writer;
  writer.module("model", state.net->module());
  writer.optimizer("optimizer", *state.optimizer);
  writer.generator("torch_rng", at::detail::getDefaultCPUGenerator());
  writer.json("state", {{"version", core::kCheckpointVersion},
                        {"next_epoch", state.next_epoch},
                        {"next_step", state.next_step},
                        {"partial", state.next_step > 0 ? state.partial.sums() : nlohmann::json::object()},
                        {"genotype", state.net->info().genotype.to_darts_string()},
                        {"seed", options.seed}});
  writer.save(path);
}

void load_checkpoint(TrainState& state, const std::string& path) {
  core::CheckpointReader reader(path);
  const auto meta = reader.json("state");
  core::check(meta.is_object() && meta.contains("genotype") && !meta.contains("settings"),
              "{}: not a daas train checkpoint (no trained genotype in it; a daas search checkpoint?)", path);
  core::check_checkpoint_version(meta, path);
  const std::string genotype = state.net->info().genotype.to_darts_string();
  const auto& saved = meta["genotype"];
  core::check(saved == genotype, "{}: checkpoint of genotype {}, but this run trains {}; expected the same genotype",
              path, saved.is_string() ? saved.get<std::string>() : core::json_excerpt(saved), genotype);
  // The counters first: a damaged record fails before the weights are read.
  const auto position = core::read_position(meta, path);
  state.next_epoch = position.next_epoch;
  state.next_step = position.next_step;
  if (state.next_step > 0) {
    const std::string source = path + ": state";
    state.partial = EpochTotals::from_sums(core::child_field(meta, "partial", source), source + ".partial");
  }
  reader.module("model", state.net->module());
  reader.optimizer("optimizer", *state.optimizer);
  auto torch_rng = at::detail::getDefaultCPUGenerator();
  reader.generator("torch_rng", torch_rng);
}

/// One training epoch over `loader`, from `state.next_step` when the run was
/// stopped within this epoch; returns its totals. A stop request after a
/// step (not the epoch's last) saves the checkpoint through `save` and throws.
EpochTotals train_epoch(TrainState& state, const TrainOptions& options, data::BatchLoader& loader, TrainRanks& ranks,
                        int64_t epoch, int64_t steps, const c10::Device& device,
                        const std::function<void(const std::string&)>& stop) {
  state.net->module().train();
  const int64_t first_step = epoch == state.next_epoch ? std::min(state.next_step, steps) : 0;
  loader.start_epoch(epoch, first_step);
  EpochTotals totals = first_step > 0 ? state.partial : EpochTotals{};
  const EpochTotals earlier = totals;
  core::Progress progress(fmt::format("train epoch {}/{}", epoch + 1, options.epochs), steps);
  progress.skip(first_step);
  const auto start = std::chrono::steady_clock::now();
  auto seconds_since_start = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  for (int64_t step = first_step; step < steps; ++step) {
    auto batch = loader.next();
    if (!batch) break;
    const auto labels = batch->labels.to(device);
    const auto result = train_step(ranks, *state.optimizer, options, batch->images, labels, epoch, step);
    totals.loss += result.loss;
    totals.correct += result.correct;
    totals.images += labels.size(0);
    totals.steps += 1;
    const double seconds = seconds_since_start();
    progress.advance(1, fmt::format("{} | {:.0f} img/s", totals.summary(),
                                    (totals.images - earlier.images) / std::max(seconds, 1e-9)));
    // Agreed over the processes of a run, which then all stop after this step.
    if (core::agreed_interrupt() != 0 && step + 1 < steps) {
      state.next_epoch = epoch;
      state.next_step = step + 1;
      totals.seconds = earlier.seconds + seconds;
      state.partial = totals;
      stop(fmt::format("epoch {}, step {} of {}", epoch + 1, step + 1, steps));
    }
  }
  progress.finish(totals.summary());
  totals.seconds = earlier.seconds + seconds_since_start();
  return totals;
}

/// Adds an evaluation as <split>_loss, <split>_acc (, <split>_top5), <split>_images, <split>_seconds.
void add_evaluation(nlohmann::json& record, const std::string& split, const Evaluation& evaluation, int64_t num_classes,
                    double seconds) {
  record[split + "_images"] = evaluation.images;
  record[split + "_loss"] = evaluation.loss;
  record[split + "_acc"] = evaluation.top1();
  if (num_classes > 10) record[split + "_top5"] = evaluation.top5();
  record[split + "_seconds"] = seconds;
}

/// Cuts a stratified `fraction` of `train` off as a validation share (fixed
/// by `seed`); returns (the rest, the share). The test split is not touched.
std::pair<data::Dataset, data::Dataset> split_validation(const data::Dataset& train, double fraction, uint64_t seed) {
  const auto count = static_cast<int64_t>(std::llround(fraction * static_cast<double>(train.size())));
  core::check(count >= 1 && count < train.size(),
              "val_fraction {}: {} of {} training images; expected a share leaving at least one image on each side",
              fraction, count, train.size());
  // Another stream than the subset's (seed) and the test subset's (seed + 1).
  const auto held = data::stratified_indices(train.labels, train.num_classes(), count, seed + 2);
  auto mask = torch::ones({train.size()}, torch::kBool);
  mask.index_fill_(0, held, false);
  return {train.select(mask.nonzero().flatten(), "[train share]"), train.select(held, "[validation share]")};
}

}  // namespace

nas::Genotype resolve_genotype(const std::string& spec) {
  if (fs::is_directory(spec)) {
    for (const char* name : {"genotype.json", "genotype.txt"}) {
      const auto path = fs::path(spec) / name;
      if (fs::exists(path)) return nas::load_genotype(path.string());
    }
    core::fail(
        "genotype '{}': the folder has no genotype.json or genotype.txt; expected a daas search or train run folder",
        spec);
  }
  return nas::load_genotype(spec);
}

std::shared_ptr<const augment::Policy> resolve_policy(const std::string& spec, const std::string& sampling,
                                                      const augment::PolicyOptions& options) {
  if (sampling == "learned") {
    core::check(names_policy_files(spec),
                "policy '{}' with policy_sampling learned: expected a searched policy (a daas search run folder, or "
                "file:PATH of its policy_search.json), whose full β is drawn from",
                spec);
    return learned_policy(beta_path(spec), options.fill);
  }
  core::check(sampling == "sub-policies", "policy_sampling '{}': expected sub-policies or learned", sampling);
  if (fs::is_directory(spec)) {
    auto folder = folder_policy(spec);
    if (!folder.fixed.empty()) return augment::make_policy(folder.fixed, options);
    return augment::make_sub_policy_policy(std::move(folder.list), options.fill, "search:" + spec);
  }
  return augment::make_policy(spec, options);
}

core::OptionTable<TrainOptions> settings_table() {
  core::OptionTable<TrainOptions> table;
  core::add_runtime_options(table);
  data::add_data_options(table);
  add_train_options(table);
  return table;
}

void validate(const TrainOptions& options, bool resume) {
  // The declared ranges and choices, which only the command line and
  // profiles would check otherwise (eval_every 0 was a division by zero).
  settings_table().check_values(options);
  validate_loop(options);
  core::resolve_device(options.device);
  if (options.base_policy != "none") augment::make_policy(options.base_policy);
  if (resume) return;
  resolve_genotype(options.genotype);
  resolve_policy(options.policy, options.policy_sampling, {});
}

TrainResult run_train(const TrainOptions& options, const std::string& run_dir, bool resume,
                      const EpochHook& after_epoch) {
  core::setup_runtime(options);
  const data::DataSplits splits = data::load_data(options, static_cast<uint64_t>(options.seed));
  return train_splits(options, splits, run_dir, resume, after_epoch);
}

namespace {

/// The network and optimiser of a run on `device`, from its checkpoint when resuming.
TrainState start_training(const TrainOptions& options, const data::Dataset& train, const nas::Genotype& genotype,
                          const c10::Device& device, const std::string& run_dir, bool resume) {
  // The initial weights are a function of the seed alone; drop-path draws
  // from the same global generator, saved in every checkpoint.
  core::seed_everything(static_cast<uint64_t>(options.seed));
  TrainState state;
  state.net = std::make_unique<Network>(model_info(options, train, genotype), options.channels_last);
  state.net->module().to(device);
  state.optimizer = std::make_unique<torch::optim::SGD>(
      state.net->module().parameters(),
      torch::optim::SGDOptions(options.lr).momentum(options.momentum).weight_decay(options.weight_decay));
  if (core::writes_run_files()) core::make_dirs(run_dir);  // rank 0 alone writes the run folder
  if (resume) {
    load_checkpoint(state, (fs::path(run_dir) / "checkpoint.pt").string());
    announce_resume(run_dir, state.next_epoch, state.next_step, options.epochs);
  }
  return state;
}

/// The training loader over `share` (the training split, less a validation
/// share): batches through the augmentation pipeline on its prefetch thread,
/// normalised with the whole split's statistics.
std::unique_ptr<data::BatchLoader> training_loader(const TrainOptions& options, const data::Dataset& train,
                                                   const data::Dataset& share,
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
  auto loader =
      std::make_unique<data::BatchLoader>(share,
                                          data::LoaderOptions{options.batch_size, /*shuffle=*/true, /*drop_last=*/true,
                                                              static_cast<uint64_t>(options.seed)},
                                          pipeline.transform());
  core::check(loader->batches_per_epoch() > 0,
              "{}: {} training images make no full batch of batch_size {}; lower batch_size", train.name, share.size(),
              options.batch_size);
  return loader;
}

/// Writes model.pt with what the run was and how it scored, and
/// evaluation.json (per-class accuracy and the confusion matrix, as `daas
/// eval --json` writes them; daas report reads them).
std::string finish_training(TrainState& state, const TrainOptions& options, const Evaluation& test,
                            const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / "model.pt").string();
  save_model(*state.net, path,
             {{"data", options.data},
              {"subset", options.subset},
              {"seed", options.seed},
              {"data_settings", data::data_options_to_json(options)},
              {"epochs", options.epochs},
              {"genotype_source", options.genotype},
              {"policy", options.policy},
              {"policy_sampling", options.policy_sampling},
              {"test_images", test.images},
              {"test_top1", test.top1()},
              {"test_top5", test.top5()}});
  core::write_file_atomic((fs::path(run_dir) / "evaluation.json").string(),
                          test.to_json(state.net->info().classes).dump(2) + "\n");
  spdlog::info("model written to {} (test top-1 {:.2f}% on {} images)", path, 100 * test.top1(), test.images);
  return path;
}

}  // namespace

TrainResult train_splits(const TrainOptions& options, const data::DataSplits& data, const std::string& run_dir,
                         bool resume, const EpochHook& after_epoch) {
  validate(options, resume);
  const c10::Device device = core::resolve_device(options.device);
  // The run folder keeps what it trains: genotype.json and the policy files.
  // A resumed run reads them there, wherever its sources went since; a new
  // run reads the sources and copies them.
  const bool own_genotype = resume && fs::exists(fs::path(run_dir) / "genotype.json");
  const nas::Genotype genotype = resolve_genotype(own_genotype ? run_dir : options.genotype);
  const bool policy_files = names_policy_files(options.policy);
  // Copies exist only when the policy came from files (a built-in name is
  // recorded in config.yaml alone); the source may be gone by now.
  const bool own_policy =
      resume && (fs::exists(fs::path(run_dir) / kPolicyList) || fs::exists(fs::path(run_dir) / kPolicySearch));
  const auto policy = resolve_policy(own_policy ? run_dir : options.policy, options.policy_sampling,
                                     augment::default_policy_options(data.train));

  data::Dataset train_share = data.train;
  data::Dataset validation;
  const bool validate = options.val_fraction > 0;
  if (validate) {
    std::tie(train_share, validation) =
        split_validation(data.train, options.val_fraction, static_cast<uint64_t>(options.seed));
  }
  TrainState state = start_training(options, data.train, genotype, device, run_dir, resume);
  const ModelInfo& info = state.net->info();
  spdlog::info("train: {} ({} C {}, {} layers{}) on {} images {}×{}×{}, {} classes; policy {} ({}) after {}",
               genotype.to_darts_string(), network_kind_name(info.network), info.C, info.layers,
               info.auxiliary ? ", auxiliary head" : "", train_share.size(), info.in_channels, info.height, info.width,
               info.num_classes(), policy->name(), options.policy_sampling, options.base_policy);
  if (validate) spdlog::info("validation share: {} training images held out", validation.size());
  core::write_file_atomic((fs::path(run_dir) / "genotype.txt").string(), genotype.to_darts_string() + "\n");
  core::write_file_atomic((fs::path(run_dir) / "genotype.json").string(), genotype.to_json().dump(2) + "\n");
  if (policy_files && !own_policy) copy_policy_files(options.policy, run_dir);
  core::MetricsLog metrics((fs::path(run_dir) / "metrics.jsonl").string(), resume ? state.next_epoch : -1);
  const auto loader = training_loader(options, data.train, train_share, policy, device);
  const int64_t steps = epoch_steps(options, loader->batches_per_epoch());
  const std::string checkpoint_path = (fs::path(run_dir) / "checkpoint.pt").string();

  TrainRanks ranks(*state.net, core::data_parallel_ranks(options.parallel, device), options.channels_last, device);
  TrainResult result;
  bool evaluated = false;
  for (int64_t epoch = state.next_epoch; epoch < options.epochs; ++epoch) {
    const double lr = cosine_schedule(options.lr, options.lr_min, epoch, options.epochs);
    const double drop_prob = drop_path_schedule(options.drop_path, epoch, options.epochs);
    set_learning_rate(*state.optimizer, lr);
    state.net->set_drop_path_prob(drop_prob);
    core::ProcessGroup* group = core::process_group();
    const double communication_start = group != nullptr ? group->seconds() : 0.0;
    const EpochTotals totals =
        train_epoch(state, options, *loader, ranks, epoch, steps, device, [&](const std::string& at) {
          save_checkpoint(state, options, checkpoint_path);
          core::throw_if_interrupted("train", "at " + at, checkpoint_path, run_dir);
        });
    const double train_seconds = totals.seconds;
    const auto after_training = std::chrono::steady_clock::now();
    nlohmann::json record = epoch_record(epoch, lr, totals.steps, totals.images, train_seconds);
    record["drop_path"] = drop_prob;
    record["train_loss"] = totals.loss / std::max<int64_t>(totals.steps, 1);
    record["train_acc"] = static_cast<double>(totals.correct) / std::max<int64_t>(totals.images, 1);
    record["train_seconds"] = train_seconds;
    // Seconds in all-reduces with the other processes during the training steps.
    if (group != nullptr) record["communication_seconds"] = group->seconds() - communication_start;
    // With a validation share, the epochs are monitored on it and the test
    // split is evaluated once, after the last epoch.
    const bool last = epoch + 1 == options.epochs;
    const bool monitored = (epoch + 1) % options.eval_every == 0 || last;
    if (monitored && validate) {
      const auto eval_start = std::chrono::steady_clock::now();
      const Evaluation val = evaluate(*state.net, validation, options.eval_batch_size, device);
      add_evaluation(record, "val", val, info.num_classes(),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - eval_start).count());
    }
    evaluated = last || (monitored && !validate);
    if (evaluated) {
      const auto eval_start = std::chrono::steady_clock::now();
      result.test = evaluate(*state.net, data.test, options.eval_batch_size, device);
      add_evaluation(record, "test", result.test, info.num_classes(),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - eval_start).count());
    }
    record["seconds"] =
        train_seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - after_training).count();
    metrics.append(record);
    state.next_epoch = epoch + 1;
    state.next_step = 0;
    save_checkpoint(state, options, checkpoint_path);
    spdlog::info(
        "epoch {}/{}: lr {:.4g}, drop-path {:.3f}, train loss {:.4f} acc {:.2f}%{}{}, {:.1f} s", epoch + 1,
        options.epochs, lr, drop_prob, record["train_loss"].get<double>(), 100 * record["train_acc"].get<double>(),
        record.contains("val_acc") ? fmt::format(", val loss {:.4f} top-1 {:.2f}%", record["val_loss"].get<double>(),
                                                 100 * record["val_acc"].get<double>())
                                   : std::string(),
        evaluated ? fmt::format(", test loss {:.4f} top-1 {:.2f}%", result.test.loss, 100 * result.test.top1())
                  : std::string(),
        record["seconds"].get<double>());
    result.last_record = record;
    if (after_epoch) after_epoch(epoch + 1);
    if (epoch + 1 < options.epochs && core::agreed_interrupt() != 0) {
      core::throw_if_interrupted("train", fmt::format("after epoch {}", epoch + 1), checkpoint_path, run_dir);
    }
  }
  core::clear_interrupt();  // a stop asked for during the last epoch: the run is complete
  // A resumed run that had already finished evaluates here.
  if (!evaluated) result.test = evaluate(*state.net, data.test, options.eval_batch_size, device);
  result.model_path = finish_training(state, options, result.test, run_dir);
  return result;
}

}  // namespace daas::train
