#pragma once
// Binds an OptionTable to a CLI11 subcommand: every key becomes --key VALUE
// (also --key-with-dashes), plus --profile and --dry-run.
// Values resolve as: struct default < profile file < command line.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <type_traits>

#include "daas/core/checkpoint.h"
#include "daas/core/config.h"
#include "daas/core/files.h"
#include "daas/core/runtime.h"
#include "daas/data/dataset.h"

namespace daas::cli {

constexpr const char* kDefaultProfile = "fashion";

/// The profile whose values `--help` shows: the one the command line names
/// (main() reads --profile before the options are registered), else the default.
inline std::string& help_profile() {
  static std::string profile = kDefaultProfile;
  return profile;
}

/// `path` made absolute (and normalised) when it names something that
/// exists, else as given: a run's config.yaml must mean the same from any
/// folder (`cd / && daas train --resume /abs/run`).
inline std::string absolute_if_exists(const std::string& path) {
  namespace fs = std::filesystem;
  if (path.empty() || !fs::exists(path)) return path;
  return fs::absolute(path).lexically_normal().string();
}

/// `path` made absolute (empty stays empty).
inline std::string absolute_path(const std::string& path) {
  return path.empty() ? path : std::filesystem::absolute(path).lexically_normal().string();
}

/// A policy spec with its file or folder made absolute (file:PATH, RUN_DIR).
inline std::string absolute_policy_spec(const std::string& spec) {
  if (spec.rfind("file:", 0) == 0) return "file:" + absolute_if_exists(spec.substr(5));
  return std::filesystem::is_directory(spec) ? absolute_if_exists(spec) : spec;
}

/// The folder of a FORMAT:DIR data spec made absolute.
inline void absolute_data_paths(data::DataOptions& data) {
  const auto colon = data.data.find(':');
  if (colon != std::string::npos)
    data.data = data.data.substr(0, colon + 1) + absolute_if_exists(data.data.substr(colon + 1));
}

/// The model file of `--model FILE|RUN_DIR`: the file, or a run folder's
/// model.pt. Fails (usage) when none is given.
inline std::string model_file(const std::string& model, const std::string& command) {
  core::usage_check(!model.empty(), "daas {}: no --model; expected the model.pt of a daas train run (or its folder)",
                    command);
  namespace fs = std::filesystem;
  if (fs::is_directory(model)) {
    const std::string kind = core::read_run_header(model).kind;
    core::check(kind.empty() || kind == "train",
                "--model {}: holds a daas {} run, which has no model.pt; expected a daas train run folder (or its "
                "model.pt)",
                model, kind);
    return (fs::path(model) / "model.pt").string();
  }
  // A run's checkpoint.pt is for --resume; its model.pt sits beside it.
  const fs::path beside = fs::path(model).parent_path();
  core::check(fs::path(model).filename() != "checkpoint.pt" ||
                  core::read_run_header(beside.empty() ? "." : beside.string()).kind.empty(),
              "--model {}: a daas run's checkpoint (for --resume), not a model; expected the model.pt of a daas train "
              "run",
              model);
  return model;
}

template <typename T>
struct Invocation {
  core::OptionTable<T> table;
  std::string section;  // profile section read besides the top level
  std::string profile = kDefaultProfile;
  bool dry_run = false;
  core::Settings overrides;
  std::string resume_dir;       // set by resume_from
  std::string started_profile;  // a resumed run's own profile, named in its config.yaml and the log
  /// Applied to the resolved options (and to a resumed run's saved ones
  /// before comparing): makes the paths in them absolute.
  std::function<void(T&)> normalize;

  /// The typed options: struct defaults, then the profile, then the command
  /// line. The log level applies at once, so that it governs every line.
  T resolve() const {
    core::Settings settings = core::Settings::from_profile(profile, section);
    for (const auto& [key, entry] : overrides.entries()) settings.set(key, entry.value, entry.origin);
    T values;
    table.apply(settings, values);
    if (normalize) normalize(values);
    if constexpr (std::is_base_of_v<core::RuntimeOptions, T>) core::apply_log_level(values.log_level);
    return values;
  }

  /// The keys this call sets itself: on the command line or in the profile's
  /// section of this command (not the profile's shared top level).
  std::set<std::string> explicit_keys() const {
    std::set<std::string> keys;
    const core::Settings from_profile = core::Settings::from_profile(profile, section);
    for (const auto& [key, entry] : from_profile.entries()) {
      if (!entry.top_level) keys.insert(key);
    }
    for (const auto& [key, entry] : overrides.entries()) keys.insert(key);
    return keys;
  }

  /// YAML text of the resolved options, as written into the run folder; it
  /// reads back as a profile (--resume uses it so).
  std::string to_yaml_text(const T& values, const std::string& command) const {
    return core::run_header_line({command, profile_name()}) + "\n" + table.to_yaml(values) + "\n";
  }

  /// The profile this run's settings came from: for a resumed run the one
  /// it was started with, not its own config.yaml.
  std::string profile_name() const { return started_profile.empty() ? profile : started_profile; }
};

/// `--resume RUN_DIR`: the run's own config.yaml becomes the profile (later
/// `--key value` still override it) and the folder its output. `command` is
/// "search" or "train", for the messages.
template <typename T>
void resume_from(Invocation<T>& invocation, const std::string& resume_dir, const std::string& command) {
  namespace fs = std::filesystem;
  const auto config = fs::path(resume_dir) / "config.yaml";
  core::check(fs::exists(config), "--resume {}: no config.yaml there; expected a daas {} run folder", resume_dir,
              command);
  core::check(fs::exists(fs::path(resume_dir) / "checkpoint.pt"),
              "--resume {}: no checkpoint.pt yet (the run stopped before its first epoch ended); start it again",
              resume_dir);
  const core::RunHeader header = core::read_run_header(resume_dir);
  core::check(header.kind == command, "--resume {}: holds a daas {} run (config.yaml); expected a daas {} run folder",
              resume_dir, header.kind.empty() ? "unknown" : header.kind, command);
  // The run's folder and settings are its own: another --out or --profile
  // would be ignored, so they are refused rather than dropped silently.
  const auto out = invocation.overrides.entries().find("out");
  if (out != invocation.overrides.entries().end()) {
    const std::string& given = out->second.value;
    core::usage_check(fs::weakly_canonical(given) == fs::weakly_canonical(resume_dir),
                      "--out {} with --resume {}: a resumed run stays in its own folder; expected no --out", given,
                      resume_dir);
  }
  core::usage_check(invocation.profile == kDefaultProfile,
                    "--profile {} with --resume {}: a resumed run keeps the settings in its config.yaml; expected no "
                    "--profile (settings that may change, such as --epochs, are given as options)",
                    invocation.profile, resume_dir);
  invocation.started_profile = header.profile;
  invocation.profile = config.string();
  invocation.resume_dir = resume_dir;
  invocation.overrides.set("out", resume_dir, "--resume");
}

/// The settings a resumed run was started with (its config.yaml); fails
/// naming the first setting `options` changes that a resumed run must keep.
template <typename T>
T check_resume_settings(const Invocation<T>& invocation, const T& options) {
  namespace fs = std::filesystem;
  const std::string config = (fs::path(invocation.resume_dir) / "config.yaml").string();
  T saved;
  invocation.table.apply(core::Settings::from_profile(config, invocation.section), saved);
  if (invocation.normalize) invocation.normalize(saved);
  for (const auto& option : invocation.table.options()) {
    if (core::may_change_on_resume(option.key)) continue;
    const std::string was = invocation.table.value_text(saved, option);
    const std::string now = invocation.table.value_text(options, option);
    core::check(
        was == now,
        "--resume {}: setting '{}' is {} but the run was started with {} ({}); a resumed run keeps its settings "
        "(only epochs, threads, device and log_level may change); nothing was changed",
        invocation.resume_dir, option.key, now, was, config);
  }
  return saved;
}

/// The run folder of `options`, with config.yaml written. Nothing in a folder
/// changes before it is known to be ours: a new run takes a new or empty
/// folder, or one holding a run of the same command that never reached its
/// first checkpoint; a resumed run must keep its settings, and only a grown
/// (or shrunk) --epochs is written back.
template <typename T>
std::string prepare_run_folder(const Invocation<T>& invocation, const T& options, const std::string& command,
                               bool resume) {
  namespace fs = std::filesystem;
  const std::string run_dir = core::run_folder(options, command);
  T written = options;
  if (resume) {
    written = check_resume_settings(invocation, options);
    // Fewer epochs than the run has finished would leave a config.yaml that
    // contradicts its metrics.jsonl and model.
    const std::string checkpoint = (fs::path(run_dir) / "checkpoint.pt").string();
    const auto state = core::CheckpointReader(checkpoint).json("state");
    // A record without the counter is not a checkpoint of this kind; loading it says so.
    const int64_t finished =
        state.is_object() && state.contains("next_epoch") ? core::read_position(state, checkpoint).next_epoch : 0;
    core::check(options.epochs >= finished,
                "--resume {}: epochs {} is fewer than the {} the run has finished; expected at least {} (nothing "
                "was changed)",
                run_dir, options.epochs, finished, finished);
    for (const auto& option : invocation.table.options()) {
      if (option.key == "epochs") std::visit([&](auto member) { written.*member = options.*member; }, option.field);
    }
  } else if (fs::exists(run_dir)) {
    core::check(fs::is_directory(run_dir), "--out {}: exists and is not a folder; expected a new or empty folder",
                run_dir);
    const std::string kind = core::read_run_header(run_dir).kind;
    core::check(
        fs::is_empty(run_dir) || kind == command,
        "--out {}: the folder is not empty and holds {}; expected a new or empty folder (nothing in it was changed)",
        run_dir, kind.empty() ? "no daas run" : "a daas " + kind + " run");
    core::check(!fs::exists(fs::path(run_dir) / "checkpoint.pt"),
                "{}: already holds a {} run (checkpoint.pt); use --resume {} to continue it or another --out", run_dir,
                command, run_dir);
  }
  core::make_dirs(run_dir);
  core::write_file_atomic((fs::path(run_dir) / "config.yaml").string(), invocation.to_yaml_text(written, command));
  return run_dir;
}

/// What --help shows as the value of an option: INT, FLOAT, BOOL or TEXT.
template <typename T>
std::string type_name(const typename core::OptionTable<T>::Option& option) {
  struct Name {
    std::string operator()(int64_t T::*) const { return "INT"; }
    std::string operator()(double T::*) const { return "FLOAT"; }
    std::string operator()(bool T::*) const { return "BOOL"; }
    std::string operator()(std::string T::*) const { return "TEXT"; }
  };
  return std::visit(Name{}, option.field);
}

/// Registers the options of `invocation` on `command`: every key as --key
/// (and --key-with-dashes); a BOOL key as a flag (--key, --key=false,
/// --no-key). Help texts show the values of the profile the command line
/// names (else the default profile) when it can be read.
template <typename T>
void bind_options(CLI::App* command, const std::shared_ptr<Invocation<T>>& invocation) {
  T shown;
  try {
    invocation->table.apply(core::Settings::from_profile(help_profile(), invocation->section), shown);
  } catch (const std::exception& e) {
    // --help still works, and says whose values it shows.
    shown = T{};
    command->footer(fmt::format("The values in [] are the built-in defaults: profile {} could not be read ({}).",
                                help_profile(), e.what()));
  }
  command
      ->add_option("--profile", invocation->profile,
                   "profile: a name (smoke, fashion, cifar10-paper: YAML files of the profile folder) or a YAML file")
      ->capture_default_str();
  command->add_flag("--dry-run", invocation->dry_run, "print the resolved settings and stop");
  if (invocation->table.has("log_level")) {
    command->add_flag_callback(
        "-q,--quiet", [invocation] { invocation->overrides.set("log_level", "warn", "--quiet"); },
        "warnings and errors only: no info lines, no progress line (log_level warn)");
  }
  if (!invocation->section.empty()) {
    std::vector<std::string> keys;
    for (const auto& option : invocation->table.options()) keys.push_back(option.key);
    for (const auto& renamed : invocation->table.renamed()) keys.push_back(renamed.first);
    core::register_profile_section(invocation->section, keys);
  }
  for (const auto& option : invocation->table.options()) {
    const std::string dashed = core::OptionTable<T>::dashed(option.key);
    std::string names = "--" + option.key;
    if (dashed != option.key) names += ",--" + dashed;
    std::string help = option.help + " [" + invocation->table.value_text(shown, option) + "]";
    const std::string allowed = core::OptionTable<T>::allowed(option);
    if (!allowed.empty()) help += " (" + allowed + ")";
    const std::string key = option.key;
    // Errors name the option as the README and --help spell it (dashes).
    const std::string origin = "--" + dashed;
    if (std::holds_alternative<bool T::*>(option.field)) {
      // --key alone is true. --key=VALUE hands VALUE to the setting's own
      // check (true/false, 1/0, yes/no, on/off), so a bad one fails naming
      // the option like any other setting; CLI11's own flag parsing would
      // answer "stoll". --no-key is false and takes no value.
      const CLI::callback_t take = [invocation, key, origin](const CLI::results_t& results) {
        const std::string& text = results.back();
        invocation->overrides.set(key, text.empty() ? "true" : text, origin);
        return true;
      };
      command->add_option(names, take, help + "; --no-" + dashed + " for false", false)
          ->expected(0)
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
      const std::string negated = "--no-" + dashed;
      const CLI::callback_t negate = [invocation, key, negated](const CLI::results_t& results) {
        const std::string& text = results.back();
        core::usage_check(text.empty() || text == "true", "{}={}: {} takes no value; expected {} alone or {}=false",
                          negated, text, negated, negated, negated.substr(0, 2) + negated.substr(5));
        invocation->overrides.set(key, "false", negated);
        return true;
      };
      command->add_option(negated, negate, "", false)
          ->expected(0)
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
          ->group("");
      continue;
    }
    command
        ->add_option_function<std::string>(
            names,
            [invocation, key, origin](const std::string& value) { invocation->overrides.set(key, value, origin); },
            help)
        ->type_name(type_name<T>(option));
  }
  // A renamed key is still recognised, to fail naming its new name.
  for (const auto& [old_key, new_key] : invocation->table.renamed()) {
    const std::string dashed = core::OptionTable<T>::dashed(old_key);
    std::string names = "--" + old_key;
    if (dashed != old_key) names += ",--" + dashed;
    const std::string key = old_key;
    const std::string origin = "--" + dashed;
    command
        ->add_option_function<std::string>(
            names,
            [invocation, key, origin](const std::string& value) { invocation->overrides.set(key, value, origin); },
            "renamed: --" + core::OptionTable<T>::dashed(new_key))
        ->group("");
  }
}

}  // namespace daas::cli
