#pragma once
// `daas report`: one self-contained HTML file about one or several runs.
// For a search: summary, curves per epoch, the derived cells (graphviz) and
// α per edge over the epochs, the learned policy (top sub-policies, op × op
// and level heat maps, how often each op is applied, a preview grid of the
// policy on training images). For a retraining: summary, curves, per-class
// accuracy and the confusion matrix, the trained cells and the policy it
// used. For several runs: a comparison table and a chart of final accuracy
// with error bars, then each run. Charts are Vega-Lite specs drawn by the
// Vega libraries inlined into the file; it opens from file:// offline.
#include <cstdint>
#include <string>
#include <vector>

namespace daas::report {

struct ReportOptions {
  int64_t preview_images = 8;   // preview rows: the first image of each of the first classes
  int64_t preview_samples = 8;  // augmented draws per image
};

struct ReportResult {
  std::string path;                // the file written
  std::vector<std::string> runs;   // the run folders it covers
  std::vector<std::string> notes;  // what it could not show, and why ("run: sentence")
  int64_t charts = 0;              // Vega-Lite charts on the page
  int64_t cell_graphs = 0;         // cells drawn by graphviz
};

/// The report file used when no --out is given: <folder>/report.html when
/// `paths` names one folder; empty (an --out is needed) for several.
std::string default_report_path(const std::vector<std::string>& paths);

/// Reads the runs that `paths` name (run folders, or folders of runs) and
/// writes the report to `out` atomically. Fails with one clear message when a
/// path holds no run, or when `out` exists and is not a daas report (it is
/// never overwritten then). Anything a run lacks (no epoch finished yet, a
/// damaged record, a data set that cannot be read here, graphviz missing)
/// is said in the report and in the notes, not raised.
ReportResult write_report(const std::vector<std::string>& paths, const std::string& out,
                          const ReportOptions& options = {});

}  // namespace daas::report
