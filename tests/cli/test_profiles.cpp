// Every profile shipped in configs/ goes through what a command does with it:
// every section and key checked against the commands' option tables, the
// values typed and ranged, and the command's own validation (schedules,
// device, genotype, policies), as `--dry-run` runs it.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "cli_support.h"
#include "test_support.h"

namespace daas {
namespace {

using testing::run_daas;

/// The names of the profiles in configs/.
std::vector<std::string> shipped_profiles() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(testing::source_dir() + "/configs")) {
    if (entry.path().extension() == ".yaml") names.push_back(entry.path().stem().string());
  }
  return names;
}

/// The commands a profile configures: search and train (the commands that
/// take profiles), plus every command named by a section of the file.
std::set<std::string> commands_of(const std::string& name) {
  std::set<std::string> commands = {"search", "train"};
  std::ifstream file(testing::source_dir() + "/configs/" + name + ".yaml");
  const std::regex section(R"(^([a-z_]+):\s*(#.*)?$)");
  std::smatch match;
  for (std::string line; std::getline(file, line);) {
    if (std::regex_match(line, match, section)) commands.insert(match[1]);
  }
  return commands;
}

TEST(ShippedProfiles, ResolveAndValidateForEveryCommand) {
  const auto profiles = shipped_profiles();
  // The three the README names, at least; a profile added later is checked too.
  for (const char* name : {"smoke", "fashion", "cifar10-paper"}) {
    EXPECT_NE(std::find(profiles.begin(), profiles.end(), name), profiles.end()) << name;
  }
  for (const auto& profile : profiles) {
    for (const auto& command : commands_of(profile)) {
      const auto result = run_daas(command + " --profile " + profile + " --dry-run");
      EXPECT_EQ(result.exit_code, 0) << "daas " << command << " --profile " << profile << "\n" << result.output;
    }
  }
}

}  // namespace
}  // namespace daas
