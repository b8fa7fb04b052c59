#pragma once
// Typed configuration: every setting is declared once (key, field, help,
// allowed values) in an OptionTable, filled from a YAML profile in configs/
// and then from `--key value` overrides, and written back as YAML.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "daas/core/error.h"

namespace daas::core {

/// Raw settings before typing: key -> (text value, where it came from).
class Settings {
 public:
  struct Entry {
    std::string value;
    std::string origin;      // "profile fashion", "profile fashion [train]", "--epochs", ...
    bool top_level = false;  // from a profile's top level, shared by every command
    /// Given on the command line: a bad value is a usage error (exit 2).
    bool from_command_line() const { return origin.rfind("--", 0) == 0; }
  };

  /// Reads a profile: `name` is a file path or a name under configs/. Takes the
  /// top-level scalars and the scalars of section `section` (e.g. "search").
  /// Fails naming the key path ("search.epochs") on a duplicate key, a key
  /// without a value or with a list or mapping, and an unknown section or key.
  static Settings from_profile(const std::string& name, const std::string& section);

  void set(const std::string& key, const std::string& value, const std::string& origin, bool top_level = false);
  const std::map<std::string, Entry>& entries() const { return entries_; }
  std::string profile_path;

 private:
  std::map<std::string, Entry> entries_;
};

/// Declares the keys a profile section (a command's name) may hold. Every
/// command registers its section at start-up, so that from_profile refuses an
/// unknown section or key in any section, not only the one it reads.
void register_profile_section(const std::string& section, const std::vector<std::string>& keys);
/// Forgets every registered section (tests that register their own).
void clear_profile_sections();
/// Whether some registered section declares `key`: a profile's top-level
/// setting that the running command lacks is then meant for another command.
bool is_registered_setting(const std::string& key);

/// Folder holding the profiles, the first of: $DAAS_CONFIGS; share/daas/configs
/// next to the binary's folder (an installed daas: <prefix>/bin/daas reads
/// <prefix>/share/daas/configs); the source tree's configs/ (a build tree).
std::string configs_dir();
/// Every folder configs_dir() looks in, in order, for messages and --help.
std::vector<std::string> configs_search_path();

/// Finds a profile file by name or path; fails naming the known profiles.
std::string resolve_profile(const std::string& name);

/// The first line of a run folder's config.yaml, "# daas train (profile
/// fashion)": the command whose run the folder holds and the profile it was
/// started with. Written by run_header_line, read back by read_run_header.
struct RunHeader {
  std::string kind;
  std::string profile;
};
std::string run_header_line(const RunHeader& header);
/// The header of `dir`'s config.yaml; both fields empty when `dir` has no
/// config.yaml or its first line is not a daas header.
RunHeader read_run_header(const std::string& dir);

/// `entries` (key, value text) as a YAML mapping, in order; what to_yaml
/// writes. (yaml-cpp stays inside core's sources.)
std::string yaml_mapping(const std::vector<std::pair<std::string, std::string>>& entries);

/// A numeric range; both ends inclusive.
struct Range {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
};

/// The declared options of one options struct T.
template <typename T>
class OptionTable {
 public:
  using Field = std::variant<int64_t T::*, double T::*, bool T::*, std::string T::*>;
  struct Option {
    std::string key;
    Field field;
    std::string help;
    Range range;
    std::vector<std::string> choices;  // for strings; empty = any
  };

  OptionTable& add(std::string key, Field field, std::string help, Range range = {}) {
    options_.push_back({std::move(key), field, std::move(help), range, {}});
    return *this;
  }
  OptionTable& add_choice(std::string key, std::string T::*field, std::string help, std::vector<std::string> choices) {
    options_.push_back({std::move(key), field, std::move(help), {}, std::move(choices)});
    return *this;
  }
  /// A key that was renamed: giving it fails naming the new key.
  OptionTable& add_renamed(std::string old_key, std::string new_key) {
    renamed_.emplace_back(std::move(old_key), std::move(new_key));
    return *this;
  }
  /// Drops a declared key (a shared group of settings holds one this command
  /// has no use for); giving it is then an error rather than being ignored.
  OptionTable& remove(const std::string& key) {
    for (auto it = options_.begin(); it != options_.end(); ++it) {
      if (it->key == key) {
        options_.erase(it);
        break;
      }
    }
    return *this;
  }

  const std::vector<Option>& options() const { return options_; }
  const std::vector<std::pair<std::string, std::string>>& renamed() const { return renamed_; }
  bool has(const std::string& key) const { return find(key) != nullptr; }

  /// Sets every field named in `settings`; unknown keys, bad types and values
  /// out of range fail with the key, the value, its origin and what is allowed
  /// (a usage error when the value came from the command line). A profile's
  /// top-level key that another command declares is left to that command.
  void apply(const Settings& settings, T& target) const {
    for (const auto& item : settings.entries()) {
      const auto& key = item.first;
      const auto& entry = item.second;  // a named reference: C++17 lambdas cannot capture structured bindings
      for (const auto& [old_key, new_key] : renamed_) {
        if (key == old_key) {
          raise(entry, fmt::format("setting '{}' (from {}) was renamed; use '{}' (--{})", key, entry.origin, new_key,
                                   dashed(new_key)));
        }
      }
      const Option* option = find(key);
      if (option == nullptr && entry.top_level && is_registered_setting(key)) continue;
      if (option == nullptr) {
        raise(entry, fmt::format("unknown setting '{}' (from {}); known settings: {}", key, entry.origin, key_list()));
      }
      std::visit([&](auto member) { assign(*option, entry, target.*member); }, option->field);
    }
  }

  /// Fails naming the first option whose value in `source` lies outside its
  /// declared range or choices (or is not finite): apply() checks the values
  /// that settings give, this the values a library caller set directly.
  void check_values(const T& source) const {
    for (const auto& option : options_) {
      std::visit([&](auto member) { check_value(option, source.*member); }, option.field);
    }
  }

  /// "--key-with-dashes" spelling of a key.
  static std::string dashed(std::string key) {
    for (auto& c : key) {
      if (c == '_') c = '-';
    }
    return key;
  }

  /// The current value of an option as text.
  std::string value_text(const T& source, const Option& option) const {
    return std::visit([&](auto member) { return to_text(source.*member); }, option.field);
  }

  /// All settings as YAML text, a mapping in declaration order; it reads
  /// back as a profile. Numbers are their shortest round-trip text (0.2, not
  /// 0.20000000000000001).
  std::string to_yaml(const T& source) const {
    std::vector<std::pair<std::string, std::string>> entries;
    for (const auto& option : options_) entries.emplace_back(option.key, value_text(source, option));
    return yaml_mapping(entries);
  }

  /// One line per option: key, value, help; used by --dry-run and logs.
  std::string describe(const T& source) const {
    std::string out;
    for (const auto& option : options_) out += option.key + ": " + value_text(source, option) + "\n";
    return out;
  }

  /// "allowed" part of a help text: the range or choices.
  static std::string allowed(const Option& option) {
    if (!option.choices.empty()) return "one of " + join(option.choices);
    if (option.range.min > -std::numeric_limits<double>::infinity() ||
        option.range.max < std::numeric_limits<double>::infinity()) {
      return fmt::format("in [{}, {}]", option.range.min, option.range.max);
    }
    return {};
  }

 private:
  const Option* find(const std::string& key) const {
    for (const auto& option : options_) {
      if (option.key == key) return &option;
    }
    return nullptr;
  }

  std::string key_list() const {
    std::vector<std::string> keys;
    for (const auto& option : options_) keys.push_back(option.key);
    return join(keys);
  }

  static std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
    return out;
  }

  /// The two rules every value obeys, wherever it comes from: a number lies
  /// in the option's range; a text is one of its choices, if it has any.
  static bool in_range(const Option& option, double v) { return v >= option.range.min && v <= option.range.max; }
  static bool allows(const Option& option, const std::string& v) {
    return option.choices.empty() || std::find(option.choices.begin(), option.choices.end(), v) != option.choices.end();
  }

  static void check_value(const Option& option, double v) {
    if (!std::isfinite(v) || !in_range(option, v)) {
      throw Error(fmt::format("setting '{}' = {} is out of range; expected a finite value{}", option.key, v,
                              allowed(option).empty() ? std::string() : " " + allowed(option)));
    }
  }
  static void check_value(const Option& option, int64_t v) {
    if (!in_range(option, static_cast<double>(v))) {
      throw Error(
          fmt::format("setting '{}' = {} is out of range; expected a value {}", option.key, v, allowed(option)));
    }
  }
  static void check_value(const Option& /*option*/, bool /*v*/) {}
  static void check_value(const Option& option, const std::string& v) {
    if (!allows(option, v)) {
      throw Error(fmt::format("setting '{}' = '{}' is not allowed; expected {}", option.key, v, allowed(option)));
    }
  }

  static std::string to_text(int64_t v) { return std::to_string(v); }
  static std::string to_text(double v) { return fmt::format("{}", v); }
  static std::string to_text(bool v) { return v ? "true" : "false"; }
  static std::string to_text(const std::string& v) { return v; }

  /// Throws the message as a usage error when the value came from the
  /// command line, else as an error of the profile.
  [[noreturn]] static void raise(const Settings::Entry& entry, const std::string& message) {
    if (entry.from_command_line()) throw UsageError(message);
    throw Error(message);
  }

  static void check_range(const Option& option, const Settings::Entry& entry, double v) {
    if (!in_range(option, v)) {
      raise(entry, fmt::format("setting '{}' = {} (from {}) is out of range; expected a value {}", option.key,
                               entry.value, entry.origin, allowed(option)));
    }
  }

  static void assign(const Option& option, const Settings::Entry& entry, int64_t& out) {
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(entry.value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != entry.value.size()) {
      raise(entry,
            fmt::format("setting '{}' = '{}' (from {}) is not an integer", option.key, entry.value, entry.origin));
    }
    check_range(option, entry, static_cast<double>(v));
    out = v;
  }

  static void assign(const Option& option, const Settings::Entry& entry, double& out) {
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(entry.value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != entry.value.size() || !std::isfinite(v)) {
      raise(entry,
            fmt::format("setting '{}' = '{}' (from {}) is not a finite number", option.key, entry.value, entry.origin));
    }
    check_range(option, entry, v);
    out = v;
  }

  static void assign(const Option& option, const Settings::Entry& entry, bool& out) {
    const std::string& v = entry.value;
    if (v == "true" || v == "1" || v == "yes" || v == "on") {
      out = true;
    } else if (v == "false" || v == "0" || v == "no" || v == "off") {
      out = false;
    } else {
      raise(entry, fmt::format("setting '{}' = '{}' (from {}) is not a boolean; expected true or false", option.key, v,
                               entry.origin));
    }
  }

  static void assign(const Option& option, const Settings::Entry& entry, std::string& out) {
    if (!allows(option, entry.value)) {
      raise(entry, fmt::format("setting '{}' = '{}' (from {}) is not allowed; expected {}", option.key, entry.value,
                               entry.origin, allowed(option)));
    }
    out = entry.value;
  }

  std::vector<Option> options_;
  std::vector<std::pair<std::string, std::string>> renamed_;
};

}  // namespace daas::core
