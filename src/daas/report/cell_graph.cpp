#include "daas/report/cell_graph.h"

#include <fmt/format.h>

#include "daas/core/error.h"
#include "process.h"

namespace daas::report {
namespace {

/// A dot double-quoted string.
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string cell_input_name(int64_t index) {
  if (index == 0) return "c_{k-2}";
  if (index == 1) return "c_{k-1}";
  return std::to_string(index - 2);
}

std::string cell_dot(const std::vector<nas::GenotypeEdge>& edges, const std::vector<int64_t>& concat,
                     const std::string& title) {
  core::check(edges.size() % 2 == 0, "cell_dot: {} edges; expected two per intermediate node", edges.size());
  const int64_t nodes = static_cast<int64_t>(edges.size() / 2);
  std::string dot = "digraph cell {\n";
  dot += "  rankdir=LR;\n";
  dot += fmt::format("  label={}; labelloc=t; fontname=\"Helvetica\"; fontsize=14;\n", quoted(title));
  dot += "  node [style=filled, shape=rect, fontname=\"Helvetica\", fontsize=14, penwidth=1.5, height=0.4];\n";
  dot += "  edge [fontname=\"Helvetica\", fontsize=11, color=gray35];\n";
  for (int64_t input : {0, 1}) dot += fmt::format("  {} [fillcolor=darkseagreen2];\n", quoted(cell_input_name(input)));
  for (int64_t node = 0; node < nodes; ++node)
    dot += fmt::format("  {} [fillcolor=lightblue];\n", quoted(std::to_string(node)));
  dot += fmt::format("  {} [fillcolor=palegoldenrod];\n", quoted("c_{k}"));
  for (size_t e = 0; e < edges.size(); ++e) {
    const int64_t node = static_cast<int64_t>(e / 2);
    dot += fmt::format("  {} -> {} [label={}];\n", quoted(cell_input_name(edges[e].input)),
                       quoted(std::to_string(node)), quoted(nas::primitive_name(edges[e].op)));
  }
  for (int64_t index : concat) {
    dot += fmt::format("  {} -> {};\n", quoted(cell_input_name(index)), quoted("c_{k}"));
  }
  return dot + "}\n";
}

std::string render_svg(const std::string& dot_source) {
  const auto result = run_process({"dot", "-Tsvg"}, dot_source);
  core::check(result.exit_code != 127,
              "graphviz's dot cannot be run ({}); install graphviz (scripts/setup.sh does) to draw the cells",
              result.errors.empty() ? "not found" : result.errors);
  std::string errors = result.errors;
  if (const auto end = errors.find('\n'); end != std::string::npos) errors.resize(end);
  core::check(result.exit_code == 0, "graphviz's dot failed with exit code {}: {}", result.exit_code, errors);
  const auto start = result.output.find("<svg");
  core::check(start != std::string::npos, "graphviz's dot wrote no <svg> element ({} bytes)", result.output.size());
  return result.output.substr(start);
}

}  // namespace daas::report
