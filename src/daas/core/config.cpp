#include "daas/core/config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "daas/core/files.h"

namespace fs = std::filesystem;

namespace daas::core {
namespace {

std::map<std::string, std::set<std::string>>& section_registry() {
  static std::map<std::string, std::set<std::string>> registry;
  return registry;
}

std::string joined(const std::set<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// The settings of one mapping (the top level, or a section): every value must
// be a single scalar, every key appear once. `prefix` is "" or "search.".
void take_scalars(const YAML::Node& node, const std::string& path, const std::string& prefix, const std::string& origin,
                  Settings* settings) {
  std::set<std::string> seen;
  for (const auto& item : node) {
    check(item.first.IsScalar(), "profile {}: a key of {} is not a name", path,
          prefix.empty() ? "the top level" : prefix);
    const auto key = item.first.as<std::string>();
    const std::string name = prefix + key;
    check(seen.insert(key).second, "profile {}: setting '{}' is given twice; expected each setting once", path, name);
    // At the top level a mapping is a section, checked by the caller.
    if (prefix.empty() && item.second.IsMap()) continue;
    check(!item.second.IsNull(), "profile {}: setting '{}' has no value", path, name);
    check(!item.second.IsSequence(), "profile {}: setting '{}' is a list; expected a single value", path, name);
    check(item.second.IsScalar(), "profile {}: setting '{}' is a mapping; expected a single value", path, name);
    if (settings != nullptr) settings->set(key, item.second.as<std::string>(), origin, prefix.empty());
  }
}

}  // namespace

std::string yaml_mapping(const std::vector<std::pair<std::string, std::string>>& entries) {
  YAML::Node node(YAML::NodeType::Map);
  for (const auto& [key, value] : entries) node[key] = value;
  YAML::Emitter out;
  out << node;
  return out.c_str();
}

void register_profile_section(const std::string& section, const std::vector<std::string>& keys) {
  section_registry()[section].insert(keys.begin(), keys.end());
}

void clear_profile_sections() { section_registry().clear(); }

bool is_registered_setting(const std::string& key) {
  for (const auto& [name, keys] : section_registry()) {
    if (keys.count(key) != 0) return true;
  }
  return false;
}

void Settings::set(const std::string& key, const std::string& value, const std::string& origin, bool top_level) {
  entries_[key] = {value, origin, top_level};
}

std::vector<std::string> configs_search_path() {
  std::vector<std::string> path;
  if (const char* dir = std::getenv("DAAS_CONFIGS"); dir != nullptr && *dir != '\0') path.emplace_back(dir);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) path.push_back((exe.parent_path().parent_path() / "share" / "daas" / "configs").string());
#ifdef DAAS_SOURCE_CONFIGS
  path.emplace_back(DAAS_SOURCE_CONFIGS);
#endif
  return path;
}

std::string configs_dir() {
  // A folder named by DAAS_CONFIGS is used even when missing: the error then
  // names it, rather than silently reading other profiles.
  if (const char* dir = std::getenv("DAAS_CONFIGS"); dir != nullptr && *dir != '\0') return dir;
  const auto path = configs_search_path();
  for (const auto& dir : path) {
    if (fs::is_directory(dir)) return dir;
  }
  return path.empty() ? "configs" : path.front();
}

std::string resolve_profile(const std::string& name) {
  if (name.find('/') != std::string::npos || (name.size() > 5 && name.substr(name.size() - 5) == ".yaml")) {
    if (!fs::exists(name)) fail("profile file {}: not found", name);
    return name;
  }
  const fs::path path = fs::path(configs_dir()) / (name + ".yaml");
  if (fs::exists(path)) return path.string();
  std::string known;
  if (fs::is_directory(configs_dir())) {
    for (const auto& entry : fs::directory_iterator(configs_dir())) {
      if (entry.path().extension() == ".yaml") known += (known.empty() ? "" : ", ") + entry.path().stem().string();
    }
  }
  std::string searched;
  for (const auto& dir : configs_search_path()) searched += (searched.empty() ? "" : ", ") + dir;
  fail(
      "profile '{}': no file {}; known profiles: {} (profiles are looked up in: {}; DAAS_CONFIGS=DIR names another "
      "folder)",
      name, path.string(), known.empty() ? "(none)" : known, searched);
}

Settings Settings::from_profile(const std::string& name, const std::string& section) {
  const std::string path = resolve_profile(name);
  YAML::Node root;
  try {
    root = YAML::Load(read_file(path));
  } catch (const YAML::Exception& e) {
    fail("profile {}: invalid YAML ({})", path, e.what());
  }
  Settings settings;
  settings.profile_path = path;
  if (root.IsNull()) return settings;
  if (!root.IsMap()) fail("profile {}: expected a mapping of settings at the top level", path);
  const std::string origin = "profile " + path;
  take_scalars(root, path, "", origin, &settings);
  // Every section is checked, not only this command's: a misspelt section or
  // key must not be ignored silently until the command that reads it runs.
  // (Without registered sections, as in unit tests, only this one is read.)
  const auto& registry = section_registry();
  std::set<std::string> sections;
  for (const auto& [name, keys] : registry) sections.insert(name);
  for (const auto& item : root) {
    if (!item.second.IsMap()) continue;
    const auto name = item.first.as<std::string>();
    const auto known = registry.find(name);
    check(known != registry.end() || name == section || registry.empty(),
          "profile {}: unknown section '{}'; expected one of {}", path, name, joined(sections));
    take_scalars(item.second, path, name + ".", origin + " [" + name + "]", name == section ? &settings : nullptr);
    if (known == registry.end()) continue;
    for (const auto& entry : item.second) {
      const auto key = entry.first.as<std::string>();
      check(known->second.count(key) != 0, "profile {}: unknown setting '{}.{}'; known settings of {}: {}", path, name,
            key, name, joined(known->second));
    }
  }
  return settings;
}

std::string run_header_line(const RunHeader& header) {
  return "# daas " + header.kind + " (profile " + header.profile + ")";
}

RunHeader read_run_header(const std::string& dir) {
  const auto config = std::filesystem::path(dir) / "config.yaml";
  if (!std::filesystem::is_regular_file(config)) return {};
  const std::string head = read_file_head(config.string(), 4096);
  const std::string line = head.substr(0, head.find('\n'));
  const std::string prefix = "# daas ";
  if (line.rfind(prefix, 0) != 0) return {};
  RunHeader header;
  const auto end = line.find(' ', prefix.size());
  header.kind = line.substr(prefix.size(), end == std::string::npos ? std::string::npos : end - prefix.size());
  const std::string marker = " (profile ";
  const auto start = line.find(marker);
  if (start != std::string::npos && line.back() == ')') {
    header.profile = line.substr(start + marker.size(), line.size() - 1 - start - marker.size());
  }
  return header;
}

}  // namespace daas::core
