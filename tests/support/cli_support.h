#pragma once
// Runs the daas binary as a user would and captures exit code and output.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace daas::testing {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

/// Runs `daas <args>` through the shell (args are passed verbatim).
inline CommandResult run_daas(const std::string& args) {
  const std::string command = std::string(DAAS_BINARY) + " " + args + " 2>&1";
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) result.output += buffer.data();
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace daas::testing
