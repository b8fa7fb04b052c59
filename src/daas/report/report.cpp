#include "daas/report/report.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>
#include <set>

#include "charts.h"
#include "daas/core/error.h"
#include "daas/core/files.h"
#include "daas/report/html.h"
#include "daas/report/run.h"
#include "sections.h"

namespace fs = std::filesystem;

namespace daas::report {
namespace {

using json = nlohmann::json;

/// Settings that never define a group of runs: the seed (the spread is
/// what the error bars show) and where or how a run was computed.
bool is_incidental(const std::string& key) {
  static const std::set<std::string> kIncidental = {"seed", "out", "threads", "device", "log_level", "parallel"};
  return kIncidental.count(key) != 0;
}

/// The final accuracy a comparison uses: a search's validation accuracy, a
/// retraining's test top-1.
std::optional<std::pair<std::string, double>> final_accuracy(const RunFolder& run) {
  if (run.metrics.lines.empty()) return std::nullopt;
  if (run.kind == "search") {
    const auto v = number(run.metrics.lines.back(), "val_acc");
    if (v) return std::make_pair(std::string("search: supernet validation accuracy"), *v);
    return std::nullopt;
  }
  auto v = number(run.evaluation, "top1");
  if (!v) v = number(run.metrics.lines.back(), "test_acc");
  if (v) return std::make_pair(std::string("train: test top-1"), *v);
  return std::nullopt;
}

/// "kind: key=value, ..." over the settings that differ among runs of the same kind.
std::vector<std::string> group_labels(const std::vector<RunFolder>& runs) {
  std::map<std::string, std::set<std::string>> differing;  // kind -> keys
  for (const auto& a : runs) {
    for (const auto& b : runs) {
      if (a.kind != b.kind) continue;
      for (const auto& [key, value] : a.settings) {
        if (!is_incidental(key) && b.setting(key) != value) differing[a.kind].insert(key);
      }
    }
  }
  std::vector<std::string> labels;
  for (const auto& run : runs) {
    std::string label = run.kind;
    std::string sep = ": ";
    for (const auto& key : differing[run.kind]) {
      label += sep + key + "=" + run.setting(key);
      sep = ", ";
    }
    labels.push_back(label);
  }
  return labels;
}

/// A run's genotype in the comparison table: folded away, or a pointer to
/// the earlier run that has the same one.
std::string genotype_cell(const std::vector<RunFolder>& runs, size_t i) {
  if (!runs[i].genotype) return "—";
  for (size_t j = 0; j < i; ++j) {
    if (runs[j].genotype == runs[i].genotype) return fmt::format("same as {}", escape_html(runs[j].label()));
  }
  return fmt::format("<details><summary>show</summary><code>{}</code></details>",
                     escape_html(runs[i].genotype->to_darts_string()));
}

std::string comparison(const std::vector<RunFolder>& runs, const std::vector<RunView>& views, Page& page) {
  const auto labels = group_labels(runs);
  std::string html =
      "<h2>Comparison</h2>\n<table class=\"comparison\"><tr><th>run</th><th>group</th><th>seed</th>"
      "<th>epochs</th><th>final accuracy</th><th>wall time</th><th>genotype</th></tr>\n";
  std::vector<charts::Outcome> outcomes;
  std::vector<charts::Series> curves;
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& run = runs[i];
    const auto accuracy = final_accuracy(run);
    if (accuracy) outcomes.push_back({labels[i], accuracy->first, run.label(), accuracy->second});
    curves.push_back(charts::series_of(run.label(), run.metrics.lines, run.kind == "search" ? "val_acc" : "test_acc"));
    html += fmt::format(
        "<tr><td><a href=\"#{}\">{}</a></td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{} of "
        "{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>\n",
        views[i].anchor, escape_html(run.label()), escape_html(labels[i]), escape_html(run.setting("seed")),
        run.metrics.lines.size(), run.planned_epochs(),
        accuracy ? fmt::format("{} ({})", percent(accuracy->second), accuracy->first) : "—",
        run.metrics.lines.empty() ? "—" : duration(wall_seconds(run.metrics)), genotype_cell(runs, i));
  }
  html += "</table>\n<div class=\"charts\">\n";
  if (auto spec = charts::accuracy_error_bars(outcomes); !spec.is_null()) {
    html += page.chart("comparison", spec,
                       "Runs whose settings differ only in their seed (and threads, device) form "
                       "one group; the bar spans the mean ± one standard deviation.");
  }
  charts::LineOptions options{"accuracy"};
  options.percent = true;
  if (auto spec = charts::lines("Accuracy per epoch (search: validation half; train: test split)", curves, options);
      !spec.is_null()) {
    html += page.chart("comparison-curves", spec, "One line per run.");
  }
  return html + "</div>\n";
}

void check_output(const std::string& out) {
  core::check(!out.empty(), "no report file given; expected --out FILE");
  core::check(!fs::is_directory(out), "--out {}: is a folder; expected a file name such as {}/report.html", out, out);
  if (fs::exists(out)) {
    const std::string head = core::read_file_head(out, 64);
    core::check(head.rfind(Page::kSignature, 0) == 0,
                "--out {}: exists and is not a daas report; expected a new file or an earlier report (nothing was "
                "changed)",
                out);
  }
}

}  // namespace

std::string default_report_path(const std::vector<std::string>& paths) {
  if (paths.size() != 1) return {};
  return (fs::path(paths.front()) / "report.html").string();
}

ReportResult write_report(const std::vector<std::string>& paths, const std::string& out, const ReportOptions& options) {
  core::check(!paths.empty(), "no run folder given; expected one or more daas run folders");
  core::check(options.preview_images >= 1 && options.preview_samples >= 1,
              "preview of {} images × {} samples; expected at least 1 × 1", options.preview_images,
              options.preview_samples);
  check_output(out);
  ReportResult result;
  result.path = out;
  result.runs = find_run_folders(paths);
  std::vector<RunFolder> runs;
  for (const auto& dir : result.runs) runs.push_back(read_run(dir));

  const fs::path out_dir = fs::absolute(out).parent_path();
  Page page;
  std::vector<RunView> views(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    views[i].run = &runs[i];
    views[i].notes = runs[i].notes;
    views[i].anchor = fmt::format("run-{}", i + 1);
    views[i].link = fs::proximate(fs::absolute(runs[i].dir), out_dir).string();
  }
  std::vector<std::string> bodies;
  for (auto& view : views) bodies.push_back(run_sections(view, page, options));

  std::string title;
  std::string body;
  if (runs.size() == 1) {
    title = fmt::format("daas {} report: {}", runs[0].kind, runs[0].label());
    body += fmt::format("<h1>{}</h1>\n<p class=\"sub\">daas {} run in <code>{}</code></p>\n", escape_html(title),
                        escape_html(runs[0].kind), escape_html(runs[0].dir));
    body += fmt::format("<section class=\"run\" id=\"{}\" data-kind=\"{}\">\n{}</section>\n", views[0].anchor,
                        runs[0].kind, bodies[0]);
  } else {
    title = fmt::format("daas report: {} runs", runs.size());
    body += fmt::format("<h1>{}</h1>\n", escape_html(title));
    body += comparison(runs, views, page);
    for (size_t i = 0; i < runs.size(); ++i) {
      body +=
          fmt::format("<section class=\"run\" id=\"{}\" data-kind=\"{}\">\n<h1>Run {}: {} ({})</h1>\n{}</section>\n",
                      views[i].anchor, runs[i].kind, i + 1, escape_html(runs[i].label()), runs[i].kind, bodies[i]);
    }
  }
  for (const auto& view : views) {
    result.cell_graphs += view.cell_graphs;
    for (const auto& note : view.notes) result.notes.push_back(view.run->label() + ": " + note);
  }
  result.charts = page.charts();
  if (out_dir.has_relative_path() && !fs::exists(out_dir)) core::make_dirs(out_dir.string());
  core::write_file_atomic(out, page.document(title, body));
  return result;
}

}  // namespace daas::report
