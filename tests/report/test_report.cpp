// `daas report` on run folders made here: every section of a search and of a
// retraining, and bad input (not a run, a run killed before its first epoch,
// damaged records, an --out that is not a report) as notes or one clear error.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <regex>

#include "daas/augment/searchable_policy.h"
#include "daas/core/files.h"
#include "daas/nas/genotype.h"
#include "daas/report/html.h"
#include "daas/report/report.h"
#include "daas/report/run.h"
#include "daas/search/history.h"
#include "test_support.h"

namespace daas::report {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// A smoke-sized Fashion-MNIST subset keeps the data loading of the preview short.
const char* kSearchConfig =
    "# daas search (profile smoke)\ndata: fashion-mnist\nsubset: 200\nseed: 3\nmode: joint\nepochs: 3\n"
    "channels: 4\nlayers: 5\npolicy_lr: 0.05\n";
const char* kTrainConfig =
    "# daas train (profile smoke)\ndata: fashion-mnist\nsubset: 200\nseed: 3\nepochs: 2\nchannels: 8\nlayers: 3\n"
    "policy: autoaugment-cifar10\n";

nlohmann::json search_metrics(int64_t epoch) {
  return {{"epoch", epoch},
          {"train_loss", 2.0 / epoch},
          {"train_acc", 0.3 + 0.1 * epoch},
          {"val_loss", 2.1 / epoch},
          {"val_acc", 0.25 + 0.1 * epoch},
          {"lr", 0.02},
          {"tau", 10.0 - epoch},
          {"steps", 6},
          {"seconds", 1.5},
          {"alpha_entropy", {{"normal", 2.07}, {"reduce", 2.06}}},
          {"phi_entropy", 4.65},
          {"genotype", nas::builtin_genotype("DARTS_V2").to_darts_string()}};
}

void append_line(const std::string& path, const std::string& line) {
  std::string text = core::file_exists(path) ? core::read_file(path) : "";
  core::write_file_atomic(path, text + line + "\n");
}

/// A search run folder as daas search leaves it after `epochs` epochs.
std::string make_search_run(const TempDir& dir, const std::string& name, int64_t epochs) {
  const std::string run = dir.file(name);
  fs::create_directories(run);
  core::write_file_atomic(run + "/config.yaml", kSearchConfig);
  torch::manual_seed(0);
  augment::SearchablePolicy policy;
  for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
    append_line(run + "/metrics.jsonl", search_metrics(epoch).dump());
    const auto alpha_normal = torch::randn({14, 8}) * epoch;
    const auto alpha_reduce = torch::randn({14, 8});
    append_line(run + "/alpha.jsonl", search::alpha_record(epoch, alpha_normal, alpha_reduce).dump());
    {
      torch::NoGradGuard no_grad;
      policy->phi[7] += 1.0;
    }
    append_line(run + "/policy_history.jsonl", search::policy_record(epoch, *policy, 10).dump());
  }
  if (epochs > 0) {
    const auto genotype = nas::builtin_genotype("DARTS_V2");
    core::write_file_atomic(run + "/genotype.json", genotype.to_json().dump());
    policy->save(run + "/policy.json", 25);
  }
  return run;
}

std::string make_train_run(const TempDir& dir, const std::string& name) {
  const std::string run = dir.file(name);
  fs::create_directories(run);
  core::write_file_atomic(run + "/config.yaml", kTrainConfig);
  for (int64_t epoch = 1; epoch <= 2; ++epoch) {
    append_line(run + "/metrics.jsonl", nlohmann::json({{"epoch", epoch},
                                                        {"lr", 0.02 / epoch},
                                                        {"drop_path_prob", 0.1 * epoch},
                                                        {"train_loss", 1.5 / epoch},
                                                        {"train_acc", 0.5},
                                                        {"test_loss", 1.2},
                                                        {"test_acc", 0.6 + 0.05 * epoch},
                                                        {"seconds", 2.0}})
                                            .dump());
  }
  core::write_file_atomic(run + "/genotype.txt", nas::builtin_genotype("GDAS_V1").to_darts_string() + "\n");
  nlohmann::json confusion = nlohmann::json::array();
  nlohmann::json per_class = nlohmann::json::object();
  nlohmann::json classes = nlohmann::json::array();
  for (int k = 0; k < 10; ++k) {
    nlohmann::json row = nlohmann::json::array();
    for (int p = 0; p < 10; ++p) row.push_back(p == k ? 8 : (p == (k + 1) % 10 ? 2 : 0));
    confusion.push_back(row);
    classes.push_back("class-" + std::to_string(k));
    per_class["class-" + std::to_string(k)] = 0.8;
  }
  core::write_file_atomic(run + "/evaluation.json", nlohmann::json({{"images", 100},
                                                                    {"top1", 0.7},
                                                                    {"top5", 1.0},
                                                                    {"classes", classes},
                                                                    {"per_class", per_class},
                                                                    {"confusion", confusion}})
                                                        .dump());
  return run;
}

/// The data-chart names of a page, in order.
std::vector<std::string> chart_names(const std::string& html) {
  std::vector<std::string> names;
  const std::regex chart(R"re(class="chart" id="chart-\d+" data-chart="([^"]+)")re");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), chart); it != std::sregex_iterator(); ++it) {
    names.push_back((*it)[1].str());
  }
  return names;
}

bool has_note(const ReportResult& result, const std::string& text) {
  for (const auto& note : result.notes) {
    if (note.find(text) != std::string::npos) return true;
  }
  return false;
}

std::string all_notes(const ReportResult& result) {
  std::string text;
  for (const auto& note : result.notes) text += note + "\n";
  return text;
}

TEST(Report, SearchRunHasEverySection) {
  TempDir dir;
  const auto run = make_search_run(dir, "search", 3);
  const auto result = write_report({run}, run + "/report.html");
  EXPECT_TRUE(result.notes.empty()) << all_notes(result);
  EXPECT_EQ(result.cell_graphs, 2);
  const std::string html = core::read_file(run + "/report.html");
  EXPECT_EQ(html.rfind(Page::kSignature, 0), 0u);
  const std::vector<std::string> expected = {"loss",         "accuracy",     "tau",      "lr",          "entropy",
                                             "alpha-normal", "alpha-reduce", "op-pairs", "application", "levels"};
  EXPECT_EQ(chart_names(html), expected);
  EXPECT_EQ(result.charts, static_cast<int64_t>(expected.size()));
  EXPECT_NE(html.find("data-cell=\"normal\"><svg"), std::string::npos);
  EXPECT_NE(html.find("data-cell=\"reduce\"><svg"), std::string::npos);
  EXPECT_NE(html.find("src=\"data:image/png;base64,iVBORw0KGgo"), std::string::npos) << "no preview PNG";
  // Settings that differ from the smoke profile are listed with both values.
  EXPECT_NE(html.find("<tr><td><code>epochs</code></td><td>3</td><td>2</td></tr>"), std::string::npos);
  // φ[7] was raised each epoch: sub-policy 7 (ShearX + Solarize) leads the findings and the table.
  EXPECT_NE(html.find("Most likely sub-policy: ShearX + Solarize"), std::string::npos);
  EXPECT_NE(html.find("3 of 3 finished"), std::string::npos);
  // Heat map colours are centred on the uniform value (1/8 for α, 1/105 for sub-policies, 1/11 for levels).
  EXPECT_NE(html.find("\"domainMid\":0.125"), std::string::npos);
  EXPECT_NE(html.find(fmt::format("\"domainMid\":{}", nlohmann::json(1.0 / 105).dump())), std::string::npos);
  EXPECT_NE(html.find(fmt::format("\"domainMid\":{}", nlohmann::json(1.0 / 11).dump())), std::string::npos);
  // Nothing but the libraries' own scripts, the specs and the bootstrap: no network address to load.
  EXPECT_EQ(html.find("<script src="), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
}

TEST(Report, TrainRunHasCurvesEvaluationCellsAndPolicyPreview) {
  TempDir dir;
  const auto run = make_train_run(dir, "train");
  const auto result = write_report({run}, run + "/report.html");
  EXPECT_TRUE(result.notes.empty()) << all_notes(result);
  const std::string html = core::read_file(run + "/report.html");
  EXPECT_EQ(chart_names(html), (std::vector<std::string>{"loss", "accuracy", "lr", "per-class", "confusion"}));
  EXPECT_EQ(result.cell_graphs, 2);
  EXPECT_NE(html.find("Test top-1 accuracy 70.0% after 2 epochs"), std::string::npos);
  EXPECT_NE(html.find("Most frequent confusion: class-0 taken for class-1 (2 test images)"), std::string::npos);
  EXPECT_NE(html.find("data:image/png;base64,"), std::string::npos);
  EXPECT_NE(html.find("autoaugment-cifar10"), std::string::npos);
}

TEST(Report, SeveralRunsGetAComparisonWithErrorBars) {
  TempDir dir;
  const auto a = make_search_run(dir, "exp/a", 2);
  const auto b = make_search_run(dir, "exp/b", 2);
  const auto c = make_search_run(dir, "exp/c", 2);
  // b differs from a only in its seed (one group); c in its policy_lr (its own group).
  core::write_file_atomic(b + "/config.yaml", std::regex_replace(kSearchConfig, std::regex("seed: 3"), "seed: 4"));
  // b ends 10 points above a: their group's mean is 50%, its standard deviation 7.07 points.
  std::string metrics;
  for (int64_t epoch = 1; epoch <= 2; ++epoch) {
    auto record = search_metrics(epoch);
    record["val_acc"] = record["val_acc"].get<double>() + 0.1;
    metrics += record.dump() + "\n";
  }
  core::write_file_atomic(b + "/metrics.jsonl", metrics);
  core::write_file_atomic(c + "/config.yaml",
                          std::regex_replace(kSearchConfig, std::regex("policy_lr: 0.05"), "policy_lr: 0.1"));
  const auto result = write_report({dir.file("exp")}, dir.file("cmp/report.html"));
  EXPECT_EQ(result.runs, (std::vector<std::string>{a, b, c}));
  const std::string html = core::read_file(dir.file("cmp/report.html"));
  const auto names = chart_names(html);
  ASSERT_GE(names.size(), 2u);
  EXPECT_EQ(names[0], "comparison");
  EXPECT_EQ(names[1], "comparison-curves");
  EXPECT_NE(html.find("search: policy_lr=0.05"), std::string::npos);
  EXPECT_NE(html.find("search: policy_lr=0.1"), std::string::npos);
  const std::regex group(R"re(\{"group":"search: policy_lr=0.05","lower":([0-9.]+),"mean":([0-9.]+),)re"
                         R"re("measure":"[^"]+","runs":2,"sd":([0-9.]+),)re");
  std::smatch match;
  ASSERT_TRUE(std::regex_search(html, match, group)) << "no error bar of the two-run group";
  EXPECT_NEAR(std::stod(match[2].str()), 0.5, 1e-9);
  EXPECT_NEAR(std::stod(match[3].str()), 0.1 / std::sqrt(2.0), 1e-9);
  EXPECT_NEAR(std::stod(match[1].str()), 0.5 - 0.1 / std::sqrt(2.0), 1e-9);
  EXPECT_NE(html.find("\"runs\":1,\"sd\":0.0"), std::string::npos) << "the one-run group has no spread";
  // Links from the report's folder to each run.
  EXPECT_NE(html.find("href=\"../exp/a\""), std::string::npos);
}

TEST(Report, RunsOfAnExperimentAreFoundThreeLevelsDown) {
  TempDir dir;
  // condition/seed/{search,train}, config.yaml headed by the experiment rather than a profile.
  const auto search = make_search_run(dir, "exp/joint/seed1/search", 1);
  const auto train = make_train_run(dir, "exp/joint/seed1/train");
  core::write_file_atomic(search + "/config.yaml",
                          std::regex_replace(kSearchConfig, std::regex("\\(profile smoke\\)"),
                                             "(experiment plan.yaml, condition joint, seed 1)"));
  EXPECT_EQ(find_run_folders({dir.file("exp")}), (std::vector<std::string>{search, train}));
  const auto run = read_run(search);
  EXPECT_EQ(run.origin, "experiment plan.yaml, condition joint, seed 1");
  EXPECT_TRUE(run.profile.empty());
  EXPECT_TRUE(run.notes.empty()) << run.notes.front();
  // Deeper than three levels is not searched.
  make_search_run(dir, "deep/a/b/c/search", 1);
  EXPECT_THROWS_WITH(find_run_folders({dir.file("deep")}), "no run folders inside it");
}

TEST(Report, RunKilledBeforeItsFirstEpochSaysSo) {
  TempDir dir;
  const auto run = make_search_run(dir, "search", 0);
  const auto result = write_report({run}, run + "/report.html");
  EXPECT_TRUE(has_note(result, "no epoch has finished")) << all_notes(result);
  EXPECT_TRUE(has_note(result, "policy.json: missing")) << all_notes(result);
  EXPECT_EQ(result.charts, 0);
  const std::string html = core::read_file(run + "/report.html");
  EXPECT_NE(html.find("No curves: no epoch has finished."), std::string::npos);
  EXPECT_NE(html.find("No genotype yet"), std::string::npos);
}

TEST(Report, DamagedRecordsAreSkippedAndNamed) {
  TempDir dir;
  const auto run = make_search_run(dir, "search", 3);
  // A garbage line in the middle, a line cut short at the end (a killed run).
  std::string metrics = core::read_file(run + "/metrics.jsonl");
  const auto second = metrics.find('\n') + 1;
  metrics.insert(second, "{\"epoch\": 2, \"val_acc\": [oops\n");
  metrics += "{\"epoch\": 4, \"train_lo";
  core::write_file_atomic(run + "/metrics.jsonl", metrics);
  // An α record of the wrong shape and a policy record without its fields.
  append_line(run + "/alpha.jsonl", R"({"epoch": 4, "ops": ["a"], "normal": [[1, 2]], "reduce": "no"})");
  append_line(run + "/policy_history.jsonl", R"({"epoch": 4, "application": "none"})");
  core::write_file_atomic(run + "/genotype.json", "{\"normal\": 3}");
  const auto result = write_report({run}, run + "/report.html");
  EXPECT_TRUE(has_note(result, "metrics.jsonl: line 2 is not valid JSON; skipped")) << all_notes(result);
  EXPECT_TRUE(has_note(result, "metrics.jsonl: line 5 is cut short (the run stopped while writing it); skipped"))
      << all_notes(result);
  EXPECT_TRUE(has_note(result, "genotype.json:")) << all_notes(result);
  const std::string html = core::read_file(run + "/report.html");
  // The curves keep the three good epochs.
  EXPECT_NE(html.find("\"epoch\":3.0,\"series\":\"validation half\""), std::string::npos);
  EXPECT_EQ(chart_names(html).front(), "loss");
}

TEST(Report, WholeNumberTakesOnlyExactIntegersOfAtMost2To53) {
  using nlohmann::json;
  EXPECT_EQ(whole_number(json{{"e", 3}}, "e"), 3);
  EXPECT_EQ(whole_number(json{{"e", 3.0}}, "e"), 3);
  EXPECT_EQ(whole_number(json{{"e", -2}}, "e"), -2);
  EXPECT_EQ(whole_number(json::parse(R"({"e": 9007199254740992})"), "e"), int64_t{1} << 53);
  EXPECT_EQ(whole_number(json::parse(R"({"e": -9007199254740992.0})"), "e"), -(int64_t{1} << 53));
  // 1e300 and 2^64 do not fit an int64_t (converting them is undefined behaviour).
  for (const char* text :
       {R"({"e": 2.5})", R"({"e": 1e300})", R"({"e": -1e300})", R"({"e": 18446744073709551615})",
        R"({"e": 9223372036854775807})", R"({"e": -9223372036854775808})", R"({"e": 9007199254740993})",
        R"({"e": 1e16})", R"({"e": "3"})", R"({"e": null})", "{}", "[3]"}) {
    EXPECT_FALSE(whole_number(json::parse(text), "e").has_value()) << text;
  }
}

TEST(Report, EpochsAndLevelsNoRunWritesAreSkipped) {
  // Records damaged into numbers no run writes: an epoch of 1e300 (converting
  // it to an integer was undefined behaviour), epochs of ±9e18 (their
  // difference overflowed), "levels" of 10^15 (a loop of that length).
  TempDir dir;
  const auto run = make_search_run(dir, "search", 3);
  auto metrics = search_metrics(4);
  metrics["genotype"] = nas::builtin_genotype("DARTS_V1").to_darts_string();
  for (const double epoch : {1e300, -9e18, 9e18}) {
    metrics["epoch"] = epoch;
    append_line(run + "/metrics.jsonl", metrics.dump());
  }
  const auto last_line = [&](const std::string& file) {
    const std::string text = core::read_file(run + "/" + file);
    const auto end = text.size() - 1;
    return nlohmann::json::parse(text.substr(text.rfind('\n', end - 1) + 1));
  };
  auto alpha = last_line("alpha.jsonl");
  alpha["epoch"] = 1e300;
  append_line(run + "/alpha.jsonl", alpha.dump());
  auto policy = last_line("policy_history.jsonl");
  policy["epoch"] = 1e300;
  policy["levels"] = 1e15;
  append_line(run + "/policy_history.jsonl", policy.dump());
  const auto result = write_report({run}, run + "/report.html");
  EXPECT_TRUE(result.notes.empty()) << all_notes(result);
  const std::string html = core::read_file(run + "/report.html");
  const std::vector<std::string> expected = {"loss",         "accuracy",     "tau",      "lr",         "entropy",
                                             "alpha-normal", "alpha-reduce", "op-pairs", "application"};
  EXPECT_EQ(chart_names(html), expected);
  EXPECT_NE(html.find("The derived genotype stayed the same over all 3 epochs."), std::string::npos);
  EXPECT_NE(html.find("<h3>Top sub-policies</h3>"), std::string::npos);
  EXPECT_EQ(html.find("\"epoch\":1e+300"), std::string::npos);
  EXPECT_EQ(html.find("\"epoch\":-9223372036854775808"), std::string::npos);

  // The best test accuracy at an epoch that is no whole number: named without its epoch.
  const auto train = make_train_run(dir, "train");
  append_line(train + "/metrics.jsonl", R"({"epoch": 1e300, "test_acc": 0.9})");
  append_line(train + "/metrics.jsonl", R"({"epoch": 4, "test_acc": 0.5})");
  write_report({train}, train + "/report.html");
  EXPECT_NE(core::read_file(train + "/report.html").find("Test top-1 accuracy 70.0% after 4 epochs (best 90.0%)."),
            std::string::npos);
}

TEST(Report, NotARunIsOneClearError) {
  TempDir dir;
  fs::create_directories(dir.file("empty"));
  EXPECT_THROWS_WITH(write_report({dir.file("empty")}, dir.file("r.html")),
                     "empty: not a daas run folder (no config.yaml written by daas search or daas train) and no run "
                     "folders inside it");
  EXPECT_THROWS_WITH(write_report({dir.file("missing")}, dir.file("r.html")), "missing: not found");
  core::write_file_atomic(dir.file("file.txt"), "x");
  EXPECT_THROWS_WITH(write_report({dir.file("file.txt")}, dir.file("r.html")), "file.txt: not a folder");
  // A config.yaml of something else is not a run either.
  fs::create_directories(dir.file("other"));
  core::write_file_atomic(dir.file("other/config.yaml"), "data: cifar10\n");
  EXPECT_THROWS_WITH(read_run(dir.file("other")), "other: not a daas run folder");
  EXPECT_FALSE(core::file_exists(dir.file("r.html")));
}

TEST(Report, OutputThatIsNotAReportIsNeverOverwritten) {
  TempDir dir;
  const auto run = make_search_run(dir, "search", 1);
  const std::string config = core::read_file(run + "/config.yaml");
  EXPECT_THROWS_WITH(write_report({run}, run + "/config.yaml"),
                     "config.yaml: exists and is not a daas report; expected a new file or an earlier report");
  EXPECT_EQ(core::read_file(run + "/config.yaml"), config);
  EXPECT_THROWS_WITH(write_report({run}, run), "is a folder");
  // An earlier report is replaced.
  write_report({run}, run + "/report.html");
  EXPECT_NO_THROW(write_report({run}, run + "/report.html"));
}

TEST(Report, HtmlHelpers) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64(std::string("\xff\x00\x10", 3)), "/wAQ");
  EXPECT_EQ(escape_html("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
  EXPECT_EQ(duration(291), "4 min 51 s");
  EXPECT_EQ(grouped(3349342), "3,349,342");
  // A spec holding "</script>" cannot end the page's script element early.
  Page page;
  page.chart("x", {{"title", "</script><b>"}}, "");
  const auto html = page.document("t", "");
  EXPECT_EQ(html.find("</script><b>"), std::string::npos);
  EXPECT_NE(html.find("<\\/script><b>"), std::string::npos);
}

}  // namespace
}  // namespace daas::report
