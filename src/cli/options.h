#pragma once
// Binds an OptionTable to a CLI11 subcommand: every key becomes --key VALUE
// (also --key-with-dashes), plus --profile, --config-out and --dry-run.
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

template <typename T>
struct Invocation {
  OptionTable<T> table;
  std::string section;  // profile section read besides the top level
  std::string profile = kDefaultProfile;
  bool dry_run = false;
  Settings overrides;

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
    YAML::Emitter out;
    out << table.to_yaml(values);
    return fmt::format("# daas {} (profile {})\n{}\n", command, profile, out.c_str());
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
  invocation.profile = config.string();
  invocation.overrides.set("out", resume_dir, "--resume");
}

/// The run folder of `options`, with config.yaml written (rewritten when
/// resuming, since --epochs may have grown). A new run refuses a folder that
/// already holds one.
template <typename T>
std::string prepare_run_folder(const Invocation<T>& invocation, const T& options, const std::string& command,
                               bool resume) {
  namespace fs = std::filesystem;
  const std::string run_dir = run_folder(options, command);
  if (!resume) {
    check(!fs::exists(fs::path(run_dir) / "checkpoint.pt"),
          "{}: already holds a {} run (checkpoint.pt); use --resume {} to continue it or another --out", run_dir,
          command, run_dir);
    make_dirs(run_dir);
  }
  write_file_atomic((fs::path(run_dir) / "config.yaml").string(), invocation.to_yaml_text(options, command));
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
