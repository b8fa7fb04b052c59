// `daas search`: the joint architecture and augmentation policy search.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "commands.h"
#include "daas/core/files.h"
#include "daas/nas/genotype.h"
#include "daas/search/search.h"
#include "options.h"

namespace fs = std::filesystem;

namespace daas::cli {
namespace {

void print_results(const std::string& run_dir) {
  const auto genotype = fs::path(run_dir) / "genotype.txt";
  const auto policy = fs::path(run_dir) / "policy.json";
  if (fs::exists(genotype)) fmt::print("genotype: {}", read_file(genotype.string()));
  if (fs::exists(policy)) {
    const auto json = nlohmann::json::parse(read_file(policy.string()));
    fmt::print("top sub-policies ([op, probability, level]):\n");
    int shown = 0;
    for (const auto& sub : json) {
      if (shown++ == 10) break;
      fmt::print("  {}\n", sub.dump());
    }
  }
  const auto search = fs::path(run_dir) / "policy_search.json";
  if (!fs::exists(policy) && fs::exists(search)) {
    const auto json = nlohmann::json::parse(read_file(search.string()));
    if (json.contains("fixed_policy")) fmt::print("policy (fixed): {}\n", json.at("fixed_policy").get<std::string>());
  }
  fmt::print("run folder: {}\n", run_dir);
}

void run(Invocation<search::SearchOptions>& invocation, const std::string& resume_dir) {
  if (!resume_dir.empty()) resume_from(invocation, resume_dir, "search");
  const auto options = invocation.resolve();
  if (invocation.dry_run) {
    fmt::print("{}", invocation.to_yaml_text(options, "search"));
    return;
  }
  search::validate(options);
  const std::string run_dir = prepare_run_folder(invocation, options, "search", !resume_dir.empty());
  spdlog::info("run folder {}", run_dir);
  search::run_search(options, run_dir, !resume_dir.empty());
  print_results(run_dir);
}

}  // namespace

void register_search(CLI::App& app) {
  auto invocation = std::make_shared<Invocation<search::SearchOptions>>();
  invocation->section = "search";
  add_runtime_options(invocation->table);
  add_data_options(invocation->table);
  search::add_search_options(invocation->table);
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
  bind_options(command, invocation);
  command->callback([invocation, resume] { run(*invocation, *resume); });
}

}  // namespace daas::cli
