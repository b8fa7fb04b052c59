// `daas report` as a user meets it: a smoke search and a smoke retraining
// each end with a report, which headless Chromium opens from file:// with no
// console message, every chart drawn and both cells on the page; bad input
// is one clear error, or a report that says what is missing.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>

#include "cli_support.h"
#include "daas/core/files.h"
#include "daas/core/metrics.h"
#include "daas/data/image_io.h"
#include "test_support.h"

namespace daas {
namespace {

namespace fs = std::filesystem;
using testing::run_daas;
using testing::TempDir;

/// Runs a shell command and returns its stdout.
std::string capture(const std::string& command, int* exit_code) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return output;
  char buffer[65536];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  const int status = ::pclose(pipe);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return output;
}

bool have_chromium() {
  int code = 0;
  capture("command -v chromium >/dev/null 2>&1", &code);
  return code == 0;
}

struct Page {
  std::string dom;       // after the page's scripts ran
  std::string console;   // the page's console messages, one per line
  std::string problems;  // what is wrong with the page, empty when nothing
};

/// Opens `report` in headless Chromium from file://, lets its scripts run,
/// and writes a screenshot next to it (report.png for report.html).
Page open_in_chromium(const std::string& report, const TempDir& scratch) {
  const std::string path = fs::absolute(report).string();
  const std::string screenshot = fs::path(path).replace_extension(".png").string();
  const std::string log = scratch.file("chromium.log");
  // The flags keep Chromium off the network (none here) and out of the user's profile.
  const std::string command =
      "timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
      "--disable-background-networking --disable-component-update --disable-sync --hide-scrollbars "
      "--user-data-dir=" +
      scratch.file("profile") +
      " --enable-logging=stderr --v=0 --window-size=1280,3000 "
      "--virtual-time-budget=15000 --screenshot=" +
      screenshot + " --dump-dom file://" + path + " 2>" + log;
  int code = 0;
  Page page;
  page.dom = capture(command, &code);
  if (code != 0) page.problems += fmt::format("chromium exited with {}\n", code);
  std::istringstream lines(core::file_exists(log) ? core::read_file(log) : "");
  for (std::string line; std::getline(lines, line);) {
    if (line.find(":CONSOLE") != std::string::npos) page.console += line + "\n";
  }
  if (!page.console.empty()) page.problems += "console messages:\n" + page.console;
  if (!core::file_exists(screenshot)) {
    page.problems += "no screenshot " + screenshot + "\n";
  } else {
    const auto image = data::read_image(screenshot, 3).to(torch::kFloat);
    if (image.std().item<double>() < 1.0) page.problems += "the screenshot is blank\n";
  }
  // The DOM is large (the inlined libraries): plain searches, std::regex only on the <body> tag.
  // The inlined libraries hold "</head>" and "<body" in strings: the element follows the last </head>.
  const auto body_at = page.dom.find("<body", page.dom.rfind("</head>"));
  const std::string body =
      body_at == std::string::npos ? "" : page.dom.substr(body_at, page.dom.find('>', body_at) - body_at + 1);
  std::smatch match;
  int64_t charts = 0;
  for (auto at = page.dom.find("data-chart=\""); at != std::string::npos; at = page.dom.find("data-chart=\"", at + 1)) {
    ++charts;
  }
  if (!std::regex_search(body, match, std::regex(R"re(data-charts-rendered="(\d+)")re"))) {
    page.problems += "the page did not finish drawing its charts (no data-charts-rendered)\n";
  } else if (std::stol(match[1].str()) != charts) {
    page.problems += fmt::format("{} of {} charts drawn\n", match[1].str(), charts);
  }
  if (std::regex_search(body, match, std::regex(R"re(data-chart-errors="([^"]*)")re"))) {
    page.problems += "chart errors: " + match[1].str() + "\n";
  }
  return page;
}

/// Names of the charts whose element holds a drawn <svg>.
std::vector<std::string> drawn_charts(const std::string& dom) {
  std::vector<std::string> names;
  const std::string marker = "data-chart=\"";
  for (auto at = dom.find(marker); at != std::string::npos; at = dom.find(marker, at + 1)) {
    const auto name_end = dom.find('"', at + marker.size());
    const auto figure_end = dom.find("</figure>", at);
    if (dom.substr(name_end, figure_end - name_end).find("<svg") != std::string::npos) {
      names.push_back(dom.substr(at + marker.size(), name_end - at - marker.size()));
    }
  }
  return names;
}

bool has_cell(const std::string& dom, const std::string& cell) {
  const auto at = dom.find("data-cell=\"" + cell + "\"");
  return at != std::string::npos && dom.compare(dom.find('>', at) + 1, 4, "<svg") == 0;
}

/// The most significant digits of any number in `text` ("0.0957" has 3).
int most_significant_digits(const std::string& text) {
  int most = 0;
  const std::regex number(R"(\d+(\.\d+)?)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), number); it != std::sregex_iterator(); ++it) {
    std::string digits;
    for (char c : it->str()) {
      if (c != '.') digits += c;
    }
    digits.erase(0, digits.find_first_not_of('0'));
    most = std::max(most, static_cast<int>(digits.size()));
  }
  return most;
}

/// The report path a command printed ("report: PATH" or "report of N runs: PATH").
std::string printed_report(const std::string& output) {
  std::smatch match;
  return std::regex_search(output, match, std::regex(R"re(report(?: of \d+ runs?)?: (\S+report\.html))re"))
             ? match[1].str()
             : "";
}

TEST(ReportCommand, SmokeSearchAndRetrainReportsOpenInChromium) {
  if (!have_chromium()) GTEST_SKIP() << "chromium is not installed (scripts/setup.sh installs Debian's chromium)";
  TempDir dir;
  const std::string search = dir.file("run/search");
  const auto searched = run_daas("search --profile smoke --threads 2 --steps-per-epoch 2 --out " + search);
  ASSERT_EQ(searched.exit_code, 0) << searched.output;
  EXPECT_EQ(printed_report(searched.output), search + "/report.html") << searched.output;
  EXPECT_EQ(core::read_metrics(search + "/alpha.jsonl").size(), 2u);
  EXPECT_EQ(core::read_metrics(search + "/policy_history.jsonl").size(), 2u);
  // The console log is in run.log, results and report path included.
  const std::string log = core::read_file(search + "/run.log");
  for (const char* text :
       {"search epoch 2/2", "epoch 2/2: train loss", "genotype: Genotype(", "top sub-policies", "report: "}) {
    EXPECT_NE(log.find(text), std::string::npos) << text << "\n" << log;
  }
  // Printed probabilities have at most 3 significant digits.
  const auto start = searched.output.find("top sub-policies");
  const auto table = searched.output.substr(start, searched.output.find("run folder:") - start);
  EXPECT_EQ(most_significant_digits(table), 3) << table;

  const std::string train = dir.file("run/train");
  const auto trained = run_daas("train --profile smoke --threads 2 --steps-per-epoch 2 --genotype " + search +
                                " --policy " + search + " --out " + train);
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  EXPECT_EQ(printed_report(trained.output), train + "/report.html") << trained.output;
  EXPECT_TRUE(core::file_exists(train + "/evaluation.json"));
  EXPECT_NE(core::read_file(train + "/run.log").find("test top-1"), std::string::npos);

  const auto both = run_daas("report " + dir.file("run") + " --out " + dir.file("run/report.html"));
  ASSERT_EQ(both.exit_code, 0) << both.output;
  EXPECT_EQ(printed_report(both.output), dir.file("run/report.html")) << both.output;

  TempDir scratch;
  const auto search_page = open_in_chromium(search + "/report.html", scratch);
  EXPECT_EQ(search_page.problems, "");
  EXPECT_EQ(drawn_charts(search_page.dom),
            (std::vector<std::string>{"loss", "accuracy", "tau", "lr", "entropy", "alpha-normal", "alpha-reduce",
                                      "op-pairs", "application", "levels"}));
  EXPECT_TRUE(has_cell(search_page.dom, "normal"));
  EXPECT_TRUE(has_cell(search_page.dom, "reduce"));
  EXPECT_NE(search_page.dom.find("data:image/png;base64,"), std::string::npos);

  const auto train_page = open_in_chromium(train + "/report.html", scratch);
  EXPECT_EQ(train_page.problems, "");
  EXPECT_EQ(drawn_charts(train_page.dom),
            (std::vector<std::string>{"loss", "accuracy", "lr", "per-class", "confusion"}));
  EXPECT_TRUE(has_cell(train_page.dom, "normal"));
  EXPECT_TRUE(has_cell(train_page.dom, "reduce"));

  const auto both_page = open_in_chromium(dir.file("run/report.html"), scratch);
  EXPECT_EQ(both_page.problems, "");
  const auto names = drawn_charts(both_page.dom);
  ASSERT_GE(names.size(), 2u);
  EXPECT_EQ(names[0], "comparison");
  EXPECT_EQ(names.size(), 2u + 10u + 5u);
  for (const char* file : {"run/search/report.png", "run/train/report.png", "run/report.png"}) {
    EXPECT_TRUE(core::file_exists(dir.file(file))) << file;
  }
}

TEST(ReportCommand, BadInputIsOneClearErrorOrAReportThatSaysWhatIsMissing) {
  TempDir dir;
  const auto missing = run_daas("report " + dir.file("nothing"));
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_NE(missing.output.find("nothing: not found; expected a daas run folder"), std::string::npos) << missing.output;
  fs::create_directories(dir.file("empty"));
  const auto empty = run_daas("report " + dir.file("empty"));
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_NE(empty.output.find("empty: not a daas run folder"), std::string::npos) << empty.output;
  const auto usage = run_daas("report " + dir.file("empty") + " " + dir.file("nothing"));
  EXPECT_EQ(usage.exit_code, 2) << usage.output;
  EXPECT_NE(usage.output.find("expected --out FILE"), std::string::npos) << usage.output;

  // A run killed before its first epoch ended: config.yaml and nothing else.
  const std::string killed = dir.file("killed");
  fs::create_directories(killed);
  core::write_file_atomic(killed + "/config.yaml", "# daas search (profile smoke)\ndata: fashion-mnist\nsubset: 200\n");
  const auto early = run_daas("report " + killed);
  ASSERT_EQ(early.exit_code, 0) << early.output;
  EXPECT_NE(early.output.find("no epoch has finished"), std::string::npos) << early.output;
  EXPECT_NE(core::read_file(killed + "/report.html").find("No curves: no epoch has finished."), std::string::npos);

  // Its last metrics line cut short: the report says so and keeps what it can.
  core::write_file_atomic(killed + "/metrics.jsonl",
                          "{\"epoch\": 1, \"train_loss\": 2.3, \"val_acc\": 0.2}\n{\"epoch\": 2, \"tr");
  const auto cut = run_daas("report " + killed);
  ASSERT_EQ(cut.exit_code, 0) << cut.output;
  EXPECT_NE(cut.output.find("metrics.jsonl: line 2 is cut short"), std::string::npos) << cut.output;

  // --out over a file that is not a report is refused and the file kept.
  const auto overwrite = run_daas("report " + killed + " --out " + killed + "/config.yaml");
  EXPECT_EQ(overwrite.exit_code, 1);
  EXPECT_NE(overwrite.output.find("exists and is not a daas report"), std::string::npos) << overwrite.output;
  EXPECT_EQ(core::read_file(killed + "/config.yaml").rfind("# daas search", 0), 0u);

  if (have_chromium()) {
    TempDir scratch;
    EXPECT_EQ(open_in_chromium(killed + "/report.html", scratch).problems, "");
  }
}

}  // namespace
}  // namespace daas
