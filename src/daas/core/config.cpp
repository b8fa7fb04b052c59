#include "daas/core/config.h"

#include <cstdlib>
#include <filesystem>

#include "daas/core/files.h"

namespace fs = std::filesystem;

namespace daas {
namespace {

void take_scalars(const YAML::Node& node, const std::string& origin, Settings& settings) {
  for (const auto& item : node) {
    const auto key = item.first.as<std::string>();
    if (item.second.IsScalar()) settings.set(key, item.second.as<std::string>(), origin);
    if (item.second.IsSequence()) fail("{}: setting '{}' is a list; expected a single value", origin, key);
  }
}

}  // namespace

void Settings::set(const std::string& key, const std::string& value, const std::string& origin) {
  entries_[key] = {value, origin};
}

std::string configs_dir() {
  if (const char* dir = std::getenv("DAAS_CONFIGS")) return dir;
#ifdef DAAS_DEFAULT_CONFIGS
  return DAAS_DEFAULT_CONFIGS;
#else
  return "configs";
#endif
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
  fail("profile '{}': no file {}; known profiles: {}", name, path.string(), known.empty() ? "(none)" : known);
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
  take_scalars(root, origin, settings);
  if (!section.empty() && root[section]) {
    if (!root[section].IsMap()) fail("profile {}: section '{}' is not a mapping", path, section);
    take_scalars(root[section], origin + " [" + section + "]", settings);
  }
  return settings;
}

}  // namespace daas
