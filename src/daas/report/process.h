#pragma once
// Running a helper program (graphviz's dot) with text in and text out.
#include <string>
#include <vector>

namespace daas::report {

struct ProcessResult {
  int exit_code = -1;  // 127: the program could not be started
  std::string output;  // stdout
  std::string errors;  // stderr
};

/// Runs `argv` (argv[0] looked up in PATH), writes `input` to its stdin and
/// collects stdout and stderr until it exits.
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input);

}  // namespace daas::report
