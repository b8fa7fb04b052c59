#pragma once
// Vega-Lite specs of the report's charts, data inline. Each function takes
// the records as a run wrote them and skips values that are missing or not
// numbers (and records whose "epoch" is not a whole number, report/run.h:
// whole_number), so damaged records give a thinner chart, never an error.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace daas::report::charts {

/// One line of a line chart: (epoch, value) points.
struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;
};

/// The values of `key` (or of `key`.`sub`) over `records`, by their "epoch".
Series series_of(const std::string& name, const std::vector<nlohmann::json>& records, const std::string& key,
                 const std::string& sub = "");

struct LineOptions {
  LineOptions(std::string y = "") : y_title(std::move(y)) {}  // NOLINT: "title" converts
  std::string y_title;
  bool percent = false;             // y as a percentage
  bool log_scale = false;           // y on a log scale
  std::optional<double> reference;  // a dashed horizontal rule (a uniform value, say)
  std::string x_title = "epoch";
};

/// Lines over epochs, one colour per series; null when no series has a point.
nlohmann::json lines(const std::string& title, const std::vector<Series>& series, const LineOptions& options);

/// α of one cell over the epochs: a small heat map per edge (op × epoch),
/// from alpha.jsonl records; `cell` is "normal" or "reduce". Null when no
/// record holds that cell's matrix.
nlohmann::json alpha_heatmap(const std::vector<nlohmann::json>& records, const std::string& cell,
                             const std::vector<std::string>& edge_names);

/// Op × op heat map of sub-policy selection probability (one policy_history record).
nlohmann::json op_pair_heatmap(const nlohmann::json& record);

/// Per-op application probability over the epochs (policy_history records).
nlohmann::json application_lines(const std::vector<nlohmann::json>& records);

/// Op × level heat map of P(level | op applied) (one policy_history record).
nlohmann::json level_heatmap(const nlohmann::json& record);

/// Per-class accuracy bars and the confusion matrix (an evaluation.json).
nlohmann::json per_class_bars(const nlohmann::json& evaluation, const std::vector<std::string>& classes);
nlohmann::json confusion_heatmap(const nlohmann::json& evaluation, const std::vector<std::string>& classes);

/// One run's result in a comparison.
struct Outcome {
  std::string group;    // runs that differ only in their seed share a group
  std::string measure;  // "search: validation accuracy", "train: test top-1"
  std::string run;
  double accuracy = 0;
};
/// Mean ± standard deviation per group (with every run as a dot).
nlohmann::json accuracy_error_bars(const std::vector<Outcome>& outcomes);

}  // namespace daas::report::charts
