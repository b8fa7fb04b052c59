#pragma once
// The sections of one run in a report. Each returns HTML and adds its
// charts to the page; what a run lacks becomes a note, never an error.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "daas/data/dataset.h"
#include "daas/report/html.h"
#include "daas/report/report.h"
#include "daas/report/run.h"

namespace daas::report {

/// A run as the page shows it.
struct RunView {
  const RunFolder* run = nullptr;
  std::optional<data::DataSplits> data;  // read for the preview grid and the network size
  bool data_tried = false;               // whether reading it was tried
  std::vector<std::string> notes;        // the run's own notes, then the report's
  std::string anchor;                    // id of its section ("run-1")
  std::string link;                      // the run folder relative to the report file
  int64_t cell_graphs = 0;
};

/// Reads the run's data set (notes why when it cannot).
void load_view_data(RunView& view);

/// The whole section of one run: findings, summary, curves, and the
/// architecture, policy and evaluation parts its kind has.
std::string run_sections(RunView& view, Page& page, const ReportOptions& options);

// Parts shared by both kinds (common_sections.cpp).

/// A two-column table of (label, HTML value) rows.
std::string key_value_table(const std::vector<std::pair<std::string, std::string>>& rows);
/// The settings that differ from the profile, and every setting folded away.
std::string settings_html(const RunFolder& run);
/// Parameters and multiply-adds of the network `genotype` is built into at C, layers.
std::string network_size_html(const RunView& view, int64_t C, int64_t layers, bool auxiliary,
                              const std::string& network, const std::string& where);
/// The two cells drawn by graphviz (or their dot source when dot cannot run).
std::string cells_html(RunView& view, const nas::Genotype& genotype);
/// The preview grid of the run's policy on the first image of each class.
std::string preview_html(RunView& view, const ReportOptions& options);
/// The files of the run folder, linked.
std::string files_html(const RunView& view);
/// "What this report could not show".
std::string notes_html(const std::vector<std::string>& notes);
/// `part()`, or a note and nothing when it throws: a record damaged in a way
/// no check foresaw costs one part of the page, never the report.
std::string guarded(RunView& view, const std::string& what, const std::function<std::string()>& part);
/// A run's page below its title: the findings (bullets), the notes of what
/// could not be shown, the summary, then `sections` (heading, HTML) in order
/// and the files. The sections are built first, since they add notes.
std::string run_page(RunView& view, const std::function<std::vector<std::string>()>& findings,
                     const std::function<std::string()>& summary,
                     const std::vector<std::pair<std::string, std::string>>& sections);
/// Sum of the records' "seconds".
double wall_seconds(const Records& metrics);

// The kinds (search_sections.cpp, train_sections.cpp).
std::string search_sections(RunView& view, Page& page, const ReportOptions& options);
std::string train_sections(RunView& view, Page& page, const ReportOptions& options);

}  // namespace daas::report
