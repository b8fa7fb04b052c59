#pragma once
// Binds an OptionTable to a CLI11 subcommand: every key becomes --key VALUE
// (also --key-with-dashes), plus --profile and --dry-run.
// Values resolve as: struct default < profile file < command line.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <filesystem>
#include <memory>
#include <string>

#include "daas/core/config.h"
#include "daas/core/files.h"
#include "daas/core/runtime.h"

namespace daas::cli {

constexpr const char* kDefaultProfile = "fashion";

/// The command ("search", "train") whose run `dir` holds, read from the first
/// line of its config.yaml ("# daas search (profile ...)"); empty if none.
inline std::string run_kind(const std::string& dir) {
  namespace fs = std::filesystem;
  const auto config = fs::path(dir) / "config.yaml";
  if (!fs::is_regular_file(config)) return {};
  const std::string head = read_file_head(config.string(), 64);
  const std::string prefix = "# daas ";
  if (head.rfind(prefix, 0) != 0) return {};
  const auto end = head.find_first_of(" \n", prefix.size());
  return head.substr(prefix.size(), end == std::string::npos ? std::string::npos : end - prefix.size());
}

template <typename T>
struct Invocation {
  OptionTable<T> table;
  std::string section;  // profile section read besides the top level
  std::string profile = kDefaultProfile;
  bool dry_run = false;
  Settings overrides;
  std::string resume_dir;  // set by resume_from

  /// The typed options: struct defaults, then the profile, then the command line.
  T resolve() const {
    Settings settings = Settings::from_profile(profile, section);
    for (const auto& [key, entry] : overrides.entries()) settings.set(key, entry.value, entry.origin);
    T values;
    table.apply(settings, values);
    return values;
  }

  /// YAML text of the resolved options, as written into the run folder; it
  /// reads back as a profile (--resume uses it so).
  std::string to_yaml_text(const T& values, const std::string& command) const {
    return fmt::format("# daas {} (profile {})\n{}\n", command, profile, table.to_yaml(values));
  }
};

/// `--resume RUN_DIR`: the run's own config.yaml becomes the profile (later
/// `--key value` still override it) and the folder its output. `command` is
/// "search" or "train", for the messages.
template <typename T>
void resume_from(Invocation<T>& invocation, const std::string& resume_dir, const std::string& command) {
  namespace fs = std::filesystem;
  const auto config = fs::path(resume_dir) / "config.yaml";
  check(fs::exists(config), "--resume {}: no config.yaml there; expected a daas {} run folder", resume_dir, command);
  check(fs::exists(fs::path(resume_dir) / "checkpoint.pt"),
        "--resume {}: no checkpoint.pt yet (the run stopped before its first epoch ended); start it again", resume_dir);
  const std::string kind = run_kind(resume_dir);
  check(kind == command, "--resume {}: holds a daas {} run (config.yaml); expected a daas {} run folder", resume_dir,
        kind.empty() ? "unknown" : kind, command);
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
  invocation.table.apply(Settings::from_profile(config, invocation.section), saved);
  for (const auto& option : invocation.table.options()) {
    if (may_change_on_resume(option.key)) continue;
    const std::string was = invocation.table.value_text(saved, option);
    const std::string now = invocation.table.value_text(options, option);
    check(was == now,
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
  const std::string run_dir = run_folder(options, command);
  T written = options;
  if (resume) {
    written = check_resume_settings(invocation, options);
    for (const auto& option : invocation.table.options()) {
      if (option.key == "epochs") std::visit([&](auto member) { written.*member = options.*member; }, option.field);
    }
  } else if (fs::exists(run_dir)) {
    check(fs::is_directory(run_dir), "--out {}: exists and is not a folder; expected a new or empty folder", run_dir);
    const std::string kind = run_kind(run_dir);
    check(fs::is_empty(run_dir) || kind == command,
          "--out {}: the folder is not empty and holds {}; expected a new or empty folder (nothing in it was changed)",
          run_dir, kind.empty() ? "no daas run" : "a daas " + kind + " run");
    check(!fs::exists(fs::path(run_dir) / "checkpoint.pt"),
          "{}: already holds a {} run (checkpoint.pt); use --resume {} to continue it or another --out", run_dir,
          command, run_dir);
  }
  make_dirs(run_dir);
  write_file_atomic((fs::path(run_dir) / "config.yaml").string(), invocation.to_yaml_text(written, command));
  return run_dir;
}

/// What --help shows as the value of an option: INT, FLOAT, BOOL or TEXT.
template <typename T>
std::string type_name(const typename OptionTable<T>::Option& option) {
  struct Name {
    std::string operator()(int64_t T::*) const { return "INT"; }
    std::string operator()(double T::*) const { return "FLOAT"; }
    std::string operator()(bool T::*) const { return "BOOL"; }
    std::string operator()(std::string T::*) const { return "TEXT"; }
  };
  return std::visit(Name{}, option.field);
}

/// Registers the options of `invocation` on `command`. Help texts show the
/// default profile's value when that profile can be read.
template <typename T>
void bind_options(CLI::App* command, const std::shared_ptr<Invocation<T>>& invocation) {
  T shown;
  try {
    invocation->table.apply(Settings::from_profile(kDefaultProfile, invocation->section), shown);
  } catch (const std::exception&) {
    shown = T{};
  }
  command
      ->add_option("--profile", invocation->profile,
                   "profile: a name under configs/ (smoke, fashion, ...) or a YAML file")
      ->capture_default_str();
  command->add_flag("--dry-run", invocation->dry_run, "print the resolved settings and stop");
  if (!invocation->section.empty()) {
    std::vector<std::string> keys;
    for (const auto& option : invocation->table.options()) keys.push_back(option.key);
    register_profile_section(invocation->section, keys);
  }
  for (const auto& option : invocation->table.options()) {
    std::string names = "--" + option.key;
    std::string dashed = option.key;
    std::replace(dashed.begin(), dashed.end(), '_', '-');
    if (dashed != option.key) names += ",--" + dashed;
    std::string help = option.help + " [" + invocation->table.value_text(shown, option) + "]";
    const std::string allowed = OptionTable<T>::allowed(option);
    if (!allowed.empty()) help += " (" + allowed + ")";
    const std::string key = option.key;
    command
        ->add_option_function<std::string>(
            names, [invocation, key](const std::string& value) { invocation->overrides.set(key, value, "--" + key); },
            help)
        ->type_name(type_name<T>(option));
  }
}

}  // namespace daas::cli
