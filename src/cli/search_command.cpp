// `daas search`: the joint architecture and augmentation policy search.
#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "commands.h"
#include "daas/core/files.h"
#include "daas/core/json.h"
#include "daas/core/metrics.h"
#include "daas/core/parallel.h"
#include "daas/nas/genotype.h"
#include "daas/search/history.h"
#include "daas/search/search.h"
#include "distributed.h"
#include "options.h"

namespace fs = std::filesystem;

namespace daas::cli {
namespace {

/// "Rotate (0.62, 0.7)": an op with its application probability and level,
/// at most 3 significant digits.
std::string slot_text(const nlohmann::json& op, const nlohmann::json& p, const nlohmann::json& level) {
  return fmt::format("{} ({:.3g}, {:.3g})", op.get<std::string>(), p.get<double>(), level.get<double>());
}

/// The top sub-policies: from the last policy_history.jsonl record (with the
/// chance each is chosen), else from policy.json.
std::string top_sub_policies(const std::string& run_dir) {
  const auto history = fs::path(run_dir) / search::SearchHistory::kPolicyFile;
  std::string text;
  if (fs::exists(history)) {
    const auto records = core::read_metrics(history.string());
    if (!records.empty() && records.back().contains("top")) {
      text += "top sub-policies (P chosen: op (P applied, level) + op (P applied, level)):\n";
      for (const auto& sub : records.back().at("top")) {
        text += fmt::format("  {:>6.3g}%  {} + {}\n", 100 * sub.at("probability").get<double>(),
                            slot_text(sub.at("ops")[0], sub.at("apply")[0], sub.at("level")[0]),
                            slot_text(sub.at("ops")[1], sub.at("apply")[1], sub.at("level")[1]));
      }
      return text;
    }
  }
  const auto policy = fs::path(run_dir) / "policy.json";
  if (!fs::exists(policy)) {
    // An arch-only search trains with a fixed policy and writes no policy.json.
    const auto search = fs::path(run_dir) / "policy_search.json";
    if (!fs::exists(search)) return text;
    const auto json = core::parse_json(core::read_file(search.string()), search.string());
    if (json.contains("fixed_policy"))
      text += fmt::format("policy (fixed): {}\n", json.at("fixed_policy").get<std::string>());
    return text;
  }
  // policy.json is Fast-AutoAugment's format: a list of sub-policies.
  const auto json = core::parse_json(core::read_file(policy.string()), policy.string());
  text += "top sub-policies (op (P applied, level) + op (P applied, level)):\n";
  int shown = 0;
  for (const auto& sub : json) {
    if (shown++ == 10) break;
    text += fmt::format("  {} + {}\n", slot_text(sub[0][0], sub[0][1], sub[0][2]),
                        slot_text(sub[1][0], sub[1][1], sub[1][2]));
  }
  return text;
}

void print_results(const std::string& run_dir, core::RunLog& log) {
  const auto genotype = fs::path(run_dir) / "genotype.txt";
  std::string text;
  if (fs::exists(genotype)) text += "genotype: " + core::read_file(genotype.string());
  try {
    text += top_sub_policies(run_dir);
  } catch (const std::exception& e) {
    spdlog::warn("{}: the top sub-policies cannot be shown ({})", run_dir, e.what());
  }
  text += fmt::format("run folder: {}\n", run_dir);
  log.print(text);
}

void run(Invocation<search::SearchOptions>& invocation, const std::string& resume_dir, const DistArguments& dist) {
  if (!resume_dir.empty()) resume_from(invocation, resume_dir, "search");
  auto options = invocation.resolve();
  search::validate(options);
  if (invocation.dry_run) {
    fmt::print("{}", invocation.to_yaml_text(options, "search"));
    return;
  }
  // The data set is checked here, not by --dry-run: a profile's data may be
  // on another machine (cifar10-paper's), its settings still print.
  data::check_data_source(options);
  if (launch_workers(dist, options, "search")) return;
  join_process_group(dist, options);
  // Over several processes rank 0 alone checks and writes the run folder.
  const std::string run_dir =
      core::writes_run_files() ? prepare_run_folder(invocation, options, "search", !resume_dir.empty()) : options.out;
  options.threads = threads_per_process(options.threads);
  core::RunLog log((fs::path(run_dir) / core::RunLog::kFileName).string(), /*append=*/!resume_dir.empty());
  run_logged(run_dir, log, [&] {
    spdlog::info("daas search, profile {}; run folder {}", invocation.profile_name(), run_dir);
    search::run_search(options, run_dir, !resume_dir.empty());
    if (core::writes_run_files()) print_results(run_dir, log);  // rank 0 reports the results
  });
}

}  // namespace

void register_search(CLI::App& app) {
  auto invocation = std::make_shared<Invocation<search::SearchOptions>>();
  invocation->section = "search";
  invocation->table = search::settings_table();
  invocation->normalize = [](search::SearchOptions& options) {
    options.out = absolute_path(options.out);
    absolute_data_paths(options);
    const auto builtins = nas::builtin_genotype_names();
    if (std::find(builtins.begin(), builtins.end(), options.genotype) == builtins.end()) {
      options.genotype = absolute_if_exists(options.genotype);
    }
    options.fixed_policy = absolute_policy_spec(options.fixed_policy);
  };
  auto* command = app.add_subcommand(
      "search", "search an architecture and an augmentation policy together (DAAS); writes genotype and policy");
  auto resume = std::make_shared<std::string>();
  command->add_option("--resume", *resume, "continue the search in this run folder from its last checkpoint");
  auto dist = std::make_shared<DistArguments>();
  add_dist_options(command, *dist);
  bind_options(command, invocation);
  command->callback([invocation, resume, dist] { run(*invocation, *resume, *dist); });
}

}  // namespace daas::cli
