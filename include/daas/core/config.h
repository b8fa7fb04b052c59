#pragma once
// Typed configuration: every setting is declared once (key, field, help,
// allowed values) in an OptionTable, filled from a YAML profile in configs/
// and then from `--key value` overrides, and written back as YAML.
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

namespace daas {

/// Raw settings before typing: key -> (text value, where it came from).
class Settings {
 public:
  struct Entry {
    std::string value;
    std::string origin;  // "profile fashion", "--epochs", ...
  };

  /// Reads a profile: `name` is a file path or a name under configs/. Takes the
  /// top-level scalars and the scalars of section `section` (e.g. "search").
  /// Fails naming the key path ("search.epochs") on a duplicate key, a key
  /// without a value or with a list or mapping, and an unknown section or key.
  static Settings from_profile(const std::string& name, const std::string& section);

  void set(const std::string& key, const std::string& value, const std::string& origin);
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

/// Folder holding the profiles: $DAAS_CONFIGS, else <source>/configs.
std::string configs_dir();

/// Finds a profile file by name or path; fails naming the known profiles.
std::string resolve_profile(const std::string& name);

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

  const std::vector<Option>& options() const { return options_; }

  /// Sets every field named in `settings`; unknown keys, bad types and values
  /// out of range fail with the key, the value, its origin and what is allowed.
  void apply(const Settings& settings, T& target) const {
    for (const auto& [key, entry] : settings.entries()) {
      const Option* option = find(key);
      if (option == nullptr) fail("unknown setting '{}' (from {}); known settings: {}", key, entry.origin, key_list());
      std::visit([&](auto member) { assign(*option, entry, target.*member); }, option->field);
    }
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

  static std::string to_text(int64_t v) { return std::to_string(v); }
  static std::string to_text(double v) { return fmt::format("{}", v); }
  static std::string to_text(bool v) { return v ? "true" : "false"; }
  static std::string to_text(const std::string& v) { return v; }

  static void check_range(const Option& option, const Settings::Entry& entry, double v) {
    if (v < option.range.min || v > option.range.max) {
      fail("setting '{}' = {} (from {}) is out of range; expected a value {}", option.key, entry.value, entry.origin,
           allowed(option));
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
      fail("setting '{}' = '{}' (from {}) is not an integer", option.key, entry.value, entry.origin);
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
      fail("setting '{}' = '{}' (from {}) is not a finite number", option.key, entry.value, entry.origin);
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
      fail("setting '{}' = '{}' (from {}) is not a boolean; expected true or false", option.key, v, entry.origin);
    }
  }

  static void assign(const Option& option, const Settings::Entry& entry, std::string& out) {
    if (!option.choices.empty()) {
      bool known = false;
      for (const auto& choice : option.choices) known = known || choice == entry.value;
      if (!known) {
        fail("setting '{}' = '{}' (from {}) is not allowed; expected {}", option.key, entry.value, entry.origin,
             allowed(option));
      }
    }
    out = entry.value;
  }

  std::vector<Option> options_;
};

}  // namespace daas
