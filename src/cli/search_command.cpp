// `daas search`: the joint architecture and augmentation policy search.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "commands.h"
#include "daas/core/files.h"
#include "daas/core/interrupt.h"
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
    for (const auto& sub : json.at("sub_policies")) {
      if (shown++ == 10) break;
      fmt::print("  {}\n", sub.dump());
    }
  }
  fmt::print("run folder: {}\n", run_dir);
}

void run(Invocation<search::SearchOptions>& invocation, const std::string& resume_dir) {
  if (!resume_dir.empty()) resume_from(invocation, resume_dir, "search");
  const auto options = invocation.resolve();
  search::validate(options);
  if (invocation.dry_run) {
    fmt::print("{}", invocation.to_yaml_text(options, "search"));
    return;
  }
  const std::string run_dir = prepare_run_folder(invocation, options, "search", !resume_dir.empty());
  spdlog::info("run folder {}", run_dir);
  const InterruptHandlers stop_on_signal;  // Ctrl-C: checkpoint after this step, exit 130
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
  auto* command = app.add_subcommand(
      "search", "search an architecture and an augmentation policy together (DAAS); writes genotype and policy");
  auto resume = std::make_shared<std::string>();
  command->add_option("--resume", *resume, "continue the search in this run folder from its last checkpoint");
  bind_options(command, invocation);
  command->callback([invocation, resume] { run(*invocation, *resume); });
}

}  // namespace daas::cli
