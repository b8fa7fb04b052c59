#include "daas/search/search.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>

#include "daas/augment/policy.h"
#include "daas/augment/searchable_policy.h"
#include "daas/core/checkpoint.h"
#include "daas/core/error.h"
#include "daas/core/files.h"
#include "daas/core/interrupt.h"
#include "daas/core/json.h"
#include "daas/core/metrics.h"
#include "daas/core/progress.h"
#include "daas/data/loader.h"
#include "daas/nas/genotype.h"
#include "daas/nas/network.h"
#include "daas/nas/supernet.h"
#include "daas/search/history.h"
#include "daas/search/model.h"
#include "daas/search/step.h"
#include "daas/train/loop.h"
#include "daas/train/loss.h"
#include "daas/train/schedule.h"

namespace fs = std::filesystem;

namespace daas::search {
namespace {

constexpr std::array<SearchModeRow, static_cast<size_t>(SearchMode::kCount)> kModes = {{
    {SearchMode::kJoint, "joint", /*searches_architecture=*/true, /*searches_policy=*/true, "α and β"},
    {SearchMode::kArch, "arch", /*searches_architecture=*/true, /*searches_policy=*/false,
     "β fixed to fixed_policy (GDAS with augmentation)"},
    {SearchMode::kPolicy, "policy", /*searches_architecture=*/false, /*searches_policy=*/true,
     "α fixed to genotype (DADA-like)"},
}};

constexpr bool modes_in_enum_order() {
  for (size_t i = 0; i < kModes.size(); ++i) {
    if (static_cast<size_t>(kModes[i].mode) != i) return false;
  }
  return true;
}
static_assert(modes_in_enum_order(), "one row of kModes per SearchMode, in enum order");

double entropy_of_rows(const torch::Tensor& logits) {
  const auto log_p = torch::log_softmax(logits.detach().to(torch::kCPU, torch::kFloat64), -1);
  return -(log_p.exp() * log_p).sum(-1).mean().item<double>();
}

/// Everything one search holds; saved whole in the checkpoint.
struct SearchState {
  std::unique_ptr<SearchModel> model;
  augment::SearchablePolicy policy{nullptr};
  std::shared_ptr<const augment::Policy> fixed_policy;
  std::unique_ptr<torch::optim::SGD> weight_optimizer;
  std::unique_ptr<torch::optim::Adam> arch_optimizer;
  std::unique_ptr<torch::optim::Adam> policy_optimizer;
  at::Generator rng;
  int64_t next_epoch = 0;
  // A run stopped within an epoch: the next step, the epoch's sums and seconds so far.
  int64_t next_step = 0;
  StepTotals partial;
  double partial_seconds = 0;
};

SearchState build_state(const SearchOptions& options, const data::Dataset& data, const c10::Device& device) {
  SearchState state;
  state.model = make_search_model(options, data, device);
  state.rng = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(options.seed));
  state.weight_optimizer = std::make_unique<torch::optim::SGD>(
      state.model->weight_parameters(),
      torch::optim::SGDOptions(options.lr).momentum(options.momentum).weight_decay(options.weight_decay));
  const SearchModeRow& mode = search_mode(options.mode);
  if (mode.searches_architecture) {
    state.arch_optimizer = std::make_unique<torch::optim::Adam>(state.model->arch_parameters(),
                                                                torch::optim::AdamOptions(options.arch_lr)
                                                                    .betas({options.arch_beta1, options.arch_beta2})
                                                                    .weight_decay(options.arch_weight_decay));
  }
  const auto policy_options = augment::default_policy_options(data);
  if (!mode.searches_policy) {
    state.fixed_policy = augment::make_policy(options.fixed_policy, policy_options);
  } else {
    state.policy = augment::SearchablePolicy(
        augment::SearchablePolicyOptions().levels(options.magnitude_levels).fill(policy_options.fill));
    state.policy->to(device);
    state.policy_optimizer = std::make_unique<torch::optim::Adam>(state.policy->policy_parameters(),
                                                                  torch::optim::AdamOptions(options.policy_lr));
  }
  return state;
}

/// The settings that define the run, as text, for the resume check.
nlohmann::json defining_settings(const SearchOptions& options) {
  const auto table = settings_table();
  nlohmann::json settings = nlohmann::json::object();
  for (const auto& option : table.options()) {
    if (!core::may_change_on_resume(option.key)) settings[option.key] = table.value_text(options, option);
  }
  return settings;
}

void save_checkpoint(SearchState& state, const SearchOptions& options, const std::string& path) {
  core::CheckpointWriter writer;
  writer.module("model", state.model->module());
  writer.optimizer("weight_optimizer", *state.weight_optimizer);
  if (state.arch_optimizer) writer.optimizer("arch_optimizer", *state.arch_optimizer);
  if (state.policy) {
    writer.module("policy", *state.policy);
    writer.optimizer("policy_optimizer", *state.policy_optimizer);
  }
  writer.generator("rng", state.rng);
  writer.generator("torch_rng", at::detail::getDefaultCPUGenerator());
  writer.json("state", {{"version", core::kCheckpointVersion},
                        {"next_epoch", state.next_epoch},
                        {"next_step", state.next_step},
                        {"partial", state.next_step > 0 ? nlohmann::json{{"sums", state.partial.sums()},
                                                                         {"seconds", state.partial_seconds}}
                                                        : nlohmann::json::object()},
                        {"mode", options.mode},
                        {"settings", defining_settings(options)}});
  writer.save(path);
}

void load_checkpoint(SearchState& state, const SearchOptions& options, const std::string& path) {
  core::CheckpointReader reader(path);
  const auto meta = reader.json("state");
  core::check(meta.is_object() && meta.contains("settings") && meta.contains("mode"),
              "{}: not a daas search checkpoint (no search settings in it; a daas train checkpoint?)", path);
  core::check_checkpoint_version(meta, path);
  const auto saved = meta.value("settings", nlohmann::json::object());
  const auto current = defining_settings(options);
  // A setting added after the run was started: its default is what that run used.
  const auto defaults = defining_settings(SearchOptions{});
  for (const auto& [key, value] : current.items()) {
    const std::string before =
        saved.contains(key) ? (saved[key].is_string() ? saved[key].get<std::string>() : core::json_excerpt(saved[key]))
        : defaults.contains(key) ? defaults[key].get<std::string>()
                                 : std::string("(unset)");
    core::check(
        before == value.get<std::string>(),
        "{}: setting '{}' is {} but the run was started with {}; a resumed run keeps its settings (only epochs, "
        "threads, device and log_level may change)",
        path, key, value.get<std::string>(), before);
  }
  // The counters first: a damaged record fails before the weights are read.
  const auto position = core::read_position(meta, path);
  state.next_epoch = position.next_epoch;
  state.next_step = position.next_step;
  if (state.next_step > 0) {
    const std::string source = path + ": state";
    const auto& partial = core::child_field(meta, "partial", source);
    state.partial =
        StepTotals::from_sums(core::child_field(partial, "sums", source + ".partial"), source + ".partial.sums");
    state.partial_seconds = core::number_field(partial, "seconds", source + ".partial");
  }
  reader.module("model", state.model->module());
  reader.optimizer("weight_optimizer", *state.weight_optimizer);
  if (state.arch_optimizer) reader.optimizer("arch_optimizer", *state.arch_optimizer);
  if (state.policy) {
    reader.module("policy", *state.policy);
    reader.optimizer("policy_optimizer", *state.policy_optimizer);
  }
  reader.generator("rng", state.rng);
  auto torch_rng = at::detail::getDefaultCPUGenerator();
  reader.generator("torch_rng", torch_rng);
}

/// A policy list as text: one sub-policy a line, as Fast-AA and DADA print theirs.
std::string policy_list_text(const nlohmann::json& list) {
  std::string text = "[\n";
  for (size_t i = 0; i < list.size(); ++i) text += "  " + list[i].dump() + (i + 1 < list.size() ? ",\n" : "\n");
  return text + "]\n";
}

/// Writes genotype.{json,txt}, policy.json (the Fast-AA / DADA list of
/// sub-policies: the top-k of β, or the fixed policy of --mode arch when it is
/// such a list) and policy_search.json (the mode and the full β, or the fixed
/// policy's name); returns the metrics fields they give.
nlohmann::json write_results(SearchState& state, const SearchOptions& options, const std::string& run_dir) {
  nlohmann::json fields;
  if (const auto genotype = state.model->genotype()) {
    core::write_file_atomic((fs::path(run_dir) / "genotype.txt").string(), genotype->to_darts_string() + "\n");
    core::write_file_atomic((fs::path(run_dir) / "genotype.json").string(), genotype->to_json().dump(2) + "\n");
    fields["genotype"] = genotype->to_darts_string();
  }
  const auto alphas = state.model->arch_parameters();
  if (!alphas.empty()) {
    fields["alpha_entropy"] = {{"normal", entropy_of_rows(alphas[0])}, {"reduce", entropy_of_rows(alphas[1])}};
  }
  const std::string policy_path = (fs::path(run_dir) / "policy.json").string();
  const std::string search_path = (fs::path(run_dir) / "policy_search.json").string();
  if (state.fixed_policy) {
    nlohmann::json record = {{"mode", options.mode}, {"fixed_policy", options.fixed_policy}};
    if (options.fixed_policy.rfind("file:", 0) == 0) {
      const auto list = augment::policy_to_json(augment::read_policy_file(options.fixed_policy.substr(5)));
      core::write_file_atomic(policy_path, policy_list_text(list));
    }
    core::write_file_atomic(search_path, record.dump(2) + "\n");
  }
  if (state.policy) {
    auto exported = state.policy->to_json(options.top_k);
    core::write_file_atomic(policy_path, policy_list_text(exported.at("sub_policies")));
    exported["mode"] = options.mode;
    exported["top_k"] = options.top_k;
    core::write_file_atomic(search_path, exported.dump(2) + "\n");
    fields["phi_entropy"] = entropy_of_rows(state.policy->phi);
    fields["top_sub_policies"] = augment::policy_to_json(state.policy->top_k(std::min<int64_t>(5, options.top_k)));
  }
  return fields;
}

}  // namespace

const std::array<SearchModeRow, static_cast<size_t>(SearchMode::kCount)>& search_modes() { return kModes; }

const SearchModeRow& search_mode(const std::string& name) {
  for (const auto& row : kModes) {
    if (name == row.name) return row;
  }
  std::vector<std::string> names;
  for (const auto& row : kModes) names.push_back(row.name);
  core::fail("unknown search mode '{}'; expected one of {}", name, fmt::join(names, ", "));
}

core::OptionTable<SearchOptions> settings_table() {
  core::OptionTable<SearchOptions> table;
  core::add_runtime_options(table);
  data::add_data_options(table);
  add_search_options(table);
  return table;
}

void validate(const SearchOptions& options) {
  settings_table().check_values(options);
  train::validate_loop(options);
  core::check(options.tau_min <= options.tau_max, "tau_min {} is above tau_max {}; expected tau_min <= tau_max",
              options.tau_min, options.tau_max);
  core::check(options.warmup_epochs < options.epochs,
              "warmup_epochs {} leaves no epoch of the {} to search in; expected warmup_epochs < epochs",
              options.warmup_epochs, options.epochs);
  core::resolve_device(options.device);
  const SearchModeRow& mode = search_mode(options.mode);
  if (!mode.searches_policy) augment::make_policy(options.fixed_policy);
  if (!mode.searches_architecture) nas::load_genotype(options.genotype);
}

SearchResult run_search(const SearchOptions& options, const std::string& run_dir, bool resume,
                        const EpochHook& after_epoch) {
  core::setup_runtime(options);
  const data::DataSplits splits = data::load_data(options, static_cast<uint64_t>(options.seed));
  auto [weights_half, arch_half] = data::split_halves(splits.train, static_cast<uint64_t>(options.seed));
  return search_halves(options, weights_half, arch_half, run_dir, resume, after_epoch);
}

namespace {

/// A search's state on `device`, from the run folder's checkpoint when resuming.
SearchState start_search(const SearchOptions& options, const data::Dataset& train_half, const c10::Device& device,
                         const std::string& run_dir, bool resume) {
  // The initial weights and α are a function of the seed alone.
  core::seed_everything(static_cast<uint64_t>(options.seed));
  SearchState state = build_state(options, train_half, device);
  if (resume) {
    load_checkpoint(state, options, (fs::path(run_dir) / "checkpoint.pt").string());
    train::announce_resume(run_dir, state.next_epoch, state.next_step, options.epochs);
  }
  return state;
}

/// The two halves' loaders; a step draws one batch of each.
struct HalfLoaders {
  HalfLoaders(const SearchOptions& options, const data::Dataset& train_half, const data::Dataset& val_half)
      : train(train_half,
              {options.batch_size, /*shuffle=*/true, /*drop_last=*/true, static_cast<uint64_t>(options.seed)}),
        val(val_half, {options.batch_size, true, true, static_cast<uint64_t>(options.seed) + 1}),
        steps(train::epoch_steps(options, std::min(train.batches_per_epoch(), val.batches_per_epoch()))) {}
  data::BatchLoader train;
  data::BatchLoader val;
  int64_t steps;
};

/// One epoch of search steps, from `state.next_step` in the epoch a run was
/// stopped in; returns the epoch's record for metrics.jsonl. A stop asked for
/// (Ctrl-C, SIGTERM) saves a checkpoint after the step in progress and throws
/// Interrupted.
nlohmann::json search_epoch(SearchState& state, StepContext& context, HalfLoaders& loaders, int64_t epoch,
                            const std::string& run_dir) {
  const auto& options = context.options;
  const double lr = train::cosine_schedule(options.lr, options.lr_min, epoch, options.epochs);
  // τ anneals over the epochs that move α: from tau_max at the first epoch after the warm-up.
  const int64_t warmup = options.warmup_epochs;
  const double tau = train::linear_schedule(options.tau_max, options.tau_min, std::max<int64_t>(epoch - warmup, 0),
                                            options.epochs - warmup);
  const bool warming_up = epoch < warmup;
  train::set_learning_rate(*state.weight_optimizer, lr);
  state.model->set_tau(tau);
  const int64_t first_step = epoch == state.next_epoch ? std::min(state.next_step, loaders.steps) : 0;
  loaders.train.start_epoch(epoch, first_step);
  loaders.val.start_epoch(epoch, first_step);
  StepTotals totals = first_step > 0 ? state.partial : StepTotals{};
  const double earlier_seconds = first_step > 0 ? state.partial_seconds : 0.0;
  const int64_t earlier_images = totals.images;
  core::ProcessGroup* group = core::process_group();
  const double communication_start = group != nullptr ? group->seconds() : 0.0;
  core::Progress progress(fmt::format("search epoch {}/{}", epoch + 1, options.epochs), loaders.steps);
  progress.skip(first_step);
  for (int64_t step = first_step; step < loaders.steps; ++step) {
    auto train_batch = loaders.train.next();
    auto val_batch = loaders.val.next();
    totals.add(search_step(context, *train_batch, *val_batch, lr, epoch, step, *state.weight_optimizer,
                           warming_up ? nullptr : state.arch_optimizer.get(),
                           warming_up ? nullptr : state.policy_optimizer.get()));
    progress.advance(1, fmt::format("{} | {:.0f} img/s", totals.summary(),
                                    (totals.images - earlier_images) / std::max(progress.elapsed_seconds(), 1e-9)));
    // Agreed over the processes of a run, which then all stop after this step.
    if (core::agreed_interrupt() != 0 && step + 1 < loaders.steps) {
      state.next_epoch = epoch;
      state.next_step = step + 1;
      state.partial = totals;
      state.partial_seconds = earlier_seconds + progress.elapsed_seconds();
      const std::string checkpoint_path = (fs::path(run_dir) / "checkpoint.pt").string();
      save_checkpoint(state, options, checkpoint_path);
      core::throw_if_interrupted("search",
                                 fmt::format("at epoch {}, step {} of {}", epoch + 1, step + 1, loaders.steps),
                                 checkpoint_path, run_dir);
    }
  }
  progress.finish(totals.summary());
  // Images per second count training images; each step runs as many validation images.
  auto record =
      train::epoch_record(epoch, lr, loaders.steps, totals.images, earlier_seconds + progress.elapsed_seconds());
  record.update(totals.to_json());
  record["tau"] = tau;
  // Seconds this process spent in all-reduces with the others (this session's
  // part of the epoch): the communication share of a step.
  if (group != nullptr) record["communication_seconds"] = group->seconds() - communication_start;
  return record;
}

SearchResult search_result(SearchState& state, nlohmann::json last_record) {
  SearchResult result;
  result.last_record = std::move(last_record);
  result.alphas = state.model->arch_parameters();
  result.weights = state.model->weight_parameters();
  if (state.policy) result.beta = state.policy->policy_parameters();
  result.genotype = state.model->genotype();
  return result;
}

}  // namespace

SearchResult search_halves(const SearchOptions& options, const data::Dataset& train_half, const data::Dataset& val_half,
                           const std::string& run_dir, bool resume, const EpochHook& after_epoch) {
  validate(options);
  const c10::Device device = core::resolve_device(options.device);
  spdlog::info("search ({}): {} images for the weights, {} for the architecture and policy, {}×{}×{}, {} classes",
               options.mode, train_half.size(), val_half.size(), train_half.channels(), train_half.height(),
               train_half.width(), train_half.num_classes());
  SearchState state = start_search(options, train_half, device, run_dir, resume);
  const std::string checkpoint_path = (fs::path(run_dir) / "checkpoint.pt").string();
  core::MetricsLog metrics((fs::path(run_dir) / "metrics.jsonl").string(), resume ? state.next_epoch : -1);
  SearchHistory history(run_dir, resume ? state.next_epoch : -1, !state.model->arch_parameters().empty(),
                        static_cast<bool>(state.policy));
  HalfLoaders loaders(options, train_half, val_half);
  StepRanks ranks(*state.model, core::data_parallel_ranks(options.parallel, device));
  StepContext context{options,        *state.model, state.policy, state.fixed_policy, state.rng, train_half.mean,
                      train_half.std, device,       &ranks};
  nlohmann::json record;
  for (int64_t epoch = state.next_epoch; epoch < options.epochs; ++epoch) {
    record = search_epoch(state, context, loaders, epoch, run_dir);
    record.update(write_results(state, options, run_dir));
    metrics.append(record);
    history.append(epoch + 1, state.model->arch_parameters(), state.policy);
    state.next_epoch = epoch + 1;
    state.next_step = 0;
    save_checkpoint(state, options, checkpoint_path);
    spdlog::info("epoch {}/{}: train loss {:.4f} acc {:.2f}%, val loss {:.4f} acc {:.2f}%, {:.1f} s", epoch + 1,
                 options.epochs, record["train_loss"].get<double>(), 100 * record["train_acc"].get<double>(),
                 record["val_loss"].get<double>(), 100 * record["val_acc"].get<double>(),
                 record["seconds"].get<double>());
    if (after_epoch) after_epoch(epoch + 1, state.model->module());
    if (epoch + 1 < options.epochs && core::agreed_interrupt() != 0) {
      core::throw_if_interrupted("search", fmt::format("after epoch {}", epoch + 1), checkpoint_path, run_dir);
    }
  }
  core::clear_interrupt();  // a stop asked for during the last step: the run is complete
  if (record.is_null()) record = write_results(state, options, run_dir);
  return search_result(state, record);
}

}  // namespace daas::search
