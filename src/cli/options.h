#pragma once
// Binds an OptionTable to a CLI11 subcommand: every key becomes --key VALUE
// (also --key-with-dashes), plus --profile, --config-out and --dry-run.
// Values resolve as: struct default < profile file < command line.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "daas/core/config.h"
#include "daas/core/files.h"

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
    command->add_option_function<std::string>(
        names, [invocation, key](const std::string& value) { invocation->overrides.set(key, value, "--" + key); },
        help);
  }
}

}  // namespace daas::cli
