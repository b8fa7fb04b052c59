// Experiment plans: settings resolved and checked through the commands'
// option tables, references between conditions, the order of the runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <map>
#include <sstream>

#include "daas/core/files.h"
#include "daas/experiment/plan.h"
#include "daas/experiment/results.h"
#include "daas/experiment/runner.h"
#include "test_support.h"

namespace daas::experiment {
namespace {

constexpr const char* kPlan = R"(# two conditions
profile: smoke
seeds: [0, 1]
search: {epochs: 3, mode: arch}
train: {epochs: 4, lr: 0.05}
conditions:
  - name: searched
    search: {mode: joint}
    train: {genotype: search, policy: search, lr: 0.1}
  - name: random
    seeds: [1, 2]
    train: {genotype: random, policy: none}
  - name: arch-only
    search: {}
  - name: borrowed
    seeds: [1]
    train: {genotype: search:arch-only, policy: search:searched}
)";

std::string write_plan(const testing::TempDir& dir, const std::string& text) {
  const std::string path = dir.file("plan.yaml");
  core::write_file_atomic(path, text);
  return path;
}

/// The message read_plan fails with on `text`; empty when it does not.
std::string plan_error(const std::string& text) {
  testing::TempDir dir;
  const std::string path = write_plan(dir, text);
  try {
    const Plan plan = read_plan(path);
    plan_runs(plan, dir.file("out"));
  } catch (const core::Error& e) {
    return e.what();
  }
  return {};
}

std::string with_condition(const std::string& condition) {
  return "profile: smoke\nseeds: [0]\nconditions:\n" + condition;
}

TEST(ExperimentPlan, ResolvesSettingsInOrder) {
  testing::TempDir dir;
  const Plan plan = read_plan(write_plan(dir, kPlan));
  ASSERT_EQ(plan.conditions.size(), 4u);
  const std::string out = dir.file("out");
  const auto runs = plan_runs(plan, out);
  std::vector<std::string> labels;
  for (const auto& run : runs) labels.push_back(run.label());
  // Seed by seed, plan order, a search before the retrains that need it.
  EXPECT_EQ(labels,
            (std::vector<std::string>{"searched seed 0 search", "searched seed 0 train", "arch-only seed 0 search",
                                      "searched seed 1 search", "searched seed 1 train", "random seed 1 train",
                                      "arch-only seed 1 search", "borrowed seed 1 train", "random seed 2 train"}));
  const experiment::Run& search = runs[0];
  EXPECT_EQ(search.search.mode, "joint");   // the condition's over the plan-wide arch
  EXPECT_EQ(search.search.epochs, 3);       // plan-wide over the profile's 2
  EXPECT_EQ(search.search.batch_size, 32);  // the smoke profile's
  EXPECT_EQ(search.search.seed, 0);
  EXPECT_EQ(search.dir, search.search.out);
  EXPECT_EQ(search.dir, (std::filesystem::absolute(out) / "searched" / "seed0" / "search").string());
  const experiment::Run& train = runs[1];
  EXPECT_EQ(train.train.genotype, search.dir);
  EXPECT_EQ(train.train.policy, search.dir);
  EXPECT_EQ(train.train.lr, 0.1);
  EXPECT_EQ(train.train.epochs, 4);
  EXPECT_EQ(train.search_dirs, std::vector<std::string>{search.dir});
  EXPECT_EQ(runs[5].train.genotype, "random:1");
  EXPECT_EQ(runs[5].train.lr, 0.05);
  EXPECT_EQ(runs[8].train.genotype, "random:2");
  EXPECT_EQ(runs[8].train.seed, 2);
  EXPECT_EQ(runs[6].search.mode, "arch");
  const experiment::Run& borrowed = runs[7];
  EXPECT_EQ(borrowed.train.genotype, runs[6].dir);
  EXPECT_EQ(borrowed.train.policy, runs[3].dir);
  EXPECT_EQ(borrowed.search_dirs, (std::vector<std::string>{runs[6].dir, runs[3].dir}));

  core::Settings threads;
  threads.set("threads", "1", "--threads");
  for (const auto& run : plan_runs(plan, out, threads)) {
    EXPECT_EQ(run.is_search ? run.search.threads : run.train.threads, 1) << run.label();
  }
}

TEST(ExperimentPlan, BadSettingsNameTheirPath) {
  EXPECT_NE(
      plan_error(with_condition("  - name: a\n    train: {epoch: 3}\n")).find("unknown setting 'epoch' (from plan "),
      std::string::npos);
  EXPECT_NE(plan_error(with_condition("  - name: a\n    train: {epoch: 3}\n")).find(": conditions.a.train.epoch)"),
            std::string::npos);
  EXPECT_NE(plan_error(with_condition("  - name: a\n    search: {mode: both}\n")).find("conditions.a.search.mode"),
            std::string::npos);
  EXPECT_NE(plan_error("profile: smoke\nseeds: [0]\ntrain: {lr: -1}\nconditions:\n  - name: a\n    train: {}\n")
                .find("setting 'lr' = -1 (from plan "),
            std::string::npos);
  EXPECT_NE(plan_error(with_condition("  - name: a\n    train: {seed: 3}\n")).find("conditions.a.train.seed"),
            std::string::npos);
  EXPECT_NE(plan_error(with_condition("  - name: a\n    train: {epochs: [1, 2]}\n"))
                .find("setting 'conditions.a.train.epochs' is a list"),
            std::string::npos);
  EXPECT_NE(plan_error(with_condition("  - name: a\n    train: {lr: 0.1, lr_min: 0.5}\n")).find("lr_min 0.5 is above"),
            std::string::npos);
  EXPECT_NE(plan_error(with_condition("  - name: a\n    train: {genotype: NASNet}\n")).find("genotype 'NASNet'"),
            std::string::npos);
  EXPECT_NE(plan_error(with_condition("  - name: a\n    train: {policy: fancy}\n")).find("fancy"), std::string::npos);
}

TEST(ExperimentPlan, BadStructureNamesItsPath) {
  EXPECT_NE(plan_error("profile: smoke\nseeds: [0]\nsearches: {}\nconditions:\n  - name: a\n    train: {}\n")
                .find("unknown key 'searches'"),
            std::string::npos);
  EXPECT_NE(plan_error("profile: smoke\nconditions:\n  - name: a\n    train: {}\n").find("conditions.a has no seeds"),
            std::string::npos);
  EXPECT_NE(plan_error("profile: smoke\nseeds: [0, 0]\nconditions:\n  - name: a\n    train: {}\n")
                .find("seed 0 is listed twice"),
            std::string::npos);
  EXPECT_NE(
      plan_error("profile: smoke\nseeds: [-1]\nconditions:\n  - name: a\n    train: {}\n").find("'-1' is not a seed"),
      std::string::npos);
  EXPECT_NE(plan_error(with_condition("  - name: a/b\n    train: {}\n")).find("'a/b' is not a folder name"),
            std::string::npos);
  EXPECT_NE(
      plan_error(with_condition("  - name: a\n    train: {}\n  - name: a\n    train: {}\n")).find("'a' is used twice"),
      std::string::npos);
  EXPECT_NE(plan_error(with_condition("  - name: a\n    seeds: [0]\n")).find("has neither search nor train"),
            std::string::npos);
  EXPECT_NE(plan_error(with_condition("  - name: a\n    train: {}\n    tain: {}\n")).find("unknown key 'tain'"),
            std::string::npos);
  EXPECT_NE(
      plan_error("profile: nosuch\nseeds: [0]\nconditions:\n  - name: a\n    train: {}\n").find("profile 'nosuch'"),
      std::string::npos);
  EXPECT_NE(plan_error("seeds: [0\n").find("invalid YAML"), std::string::npos);
}

TEST(ExperimentPlan, ReferencesAreChecked) {
  EXPECT_NE(plan_error(with_condition("  - name: a\n    train: {genotype: search}\n"))
                .find("condition 'a' has no search to take the genotype from"),
            std::string::npos);
  EXPECT_NE(plan_error(with_condition("  - name: a\n    train: {genotype: search:b}\n")).find("no condition named 'b'"),
            std::string::npos);
  EXPECT_NE(plan_error(with_condition("  - name: a\n    search: {mode: arch}\n    train: {policy: search}\n"))
                .find("runs in mode arch, which finds no policy"),
            std::string::npos);
  EXPECT_NE(plan_error(with_condition("  - name: a\n    search: {mode: policy}\n    train: {genotype: search}\n"))
                .find("runs in mode policy, which finds no genotype"),
            std::string::npos);
  EXPECT_NE(plan_error(with_condition("  - name: a\n    search: {}\n  - name: b\n    seeds: [0, 5]\n    train: "
                                      "{genotype: search:a}\n"))
                .find("condition 'a' has no seed 5"),
            std::string::npos);
  EXPECT_NE(plan_error(with_condition("  - name: a\n    train: {policy: random}\n")).find("a random policy"),
            std::string::npos);
  EXPECT_EQ(plan_error(kPlan), "");
}

TEST(ExperimentPlan, AFolderOfOtherThingsIsRefused) {
  testing::TempDir dir;
  const Plan plan = read_plan(write_plan(dir, kPlan));
  const std::string out = dir.file("out");
  core::make_dirs(out);
  core::write_file_atomic(out + "/notes.txt", "mine\n");
  EXPECT_THROWS_WITH(run_experiment(plan, out, {}), "holds no daas experiment (plan.yaml)");
  EXPECT_EQ(core::read_file(out + "/notes.txt"), "mine\n");
}

TEST(ExperimentResults, SummariseTheRunFolders) {
  testing::TempDir dir;
  const Plan plan = read_plan(write_plan(dir, with_condition("  - name: a\n    seeds: [0, 1, 2]\n    train: {}\n")));
  const std::string out = dir.file("out");
  const auto runs = plan_runs(plan, out);
  ASSERT_EQ(runs.size(), 3u);
  // Hand-written run folders: two finished retrains and one half-done.
  const double accuracies[] = {0.5, 0.75};
  for (size_t i = 0; i < 3; ++i) {
    core::make_dirs(runs[i].dir);
    RunRecord record;
    record.kind = "train";
    record.cpu_seconds = 3600.0 * static_cast<double>(i + 1);
    record.sessions = 1;
    record.finished = i < 2;
    record.parameters = 1000 * static_cast<int64_t>(i + 1);
    record.multiply_adds = 10;
    core::write_file_atomic(runs[i].dir + "/run.json", record.to_json().dump());
    std::string metrics = "{\"epoch\": 1, \"test_acc\": 0.1}\n";
    if (i < 2) metrics += fmt::format("{{\"epoch\": 2, \"test_acc\": {}}}\n", accuracies[i]);
    core::write_file_atomic(runs[i].dir + "/metrics.jsonl", metrics);
    core::write_file_atomic(runs[i].dir + "/model.pt", "x");
  }
  const Results results = collect_results(plan, runs);
  ASSERT_EQ(results.conditions.size(), 1u);
  const auto& c = results.conditions[0];
  EXPECT_EQ(c.n, 2);
  EXPECT_EQ(c.planned, 3);
  EXPECT_DOUBLE_EQ(c.top1_mean, 0.625);
  EXPECT_NEAR(c.top1_std, 0.1767766953, 1e-9);  // sample std of 0.5, 0.75
  EXPECT_DOUBLE_EQ(c.parameters_mean, 1500);
  EXPECT_DOUBLE_EQ(c.train_cpu_hours, 1.5);
  EXPECT_DOUBLE_EQ(results.cpu_hours, 6);  // the half-done run's time counts in the total
  write_results(plan, results, out);
  const std::string csv = core::read_file(out + "/results.csv");
  // The only condition is the baseline: nothing to compare.
  EXPECT_NE(csv.find("\na,DARTS_V2,none,3,2,62.5000,17.6777,1500,10,0.000000,1.500000,a,,,,,\n"), std::string::npos)
      << csv;
  const std::string md = core::read_file(out + "/results.md");
  EXPECT_NE(md.find("| a | DARTS_V2 | none | 2/3 | 62.50 ± 17.68 | (baseline) |"), std::string::npos) << md;
}

/// A hand-written finished retrain of `run` with this test top-1.
void finished_retrain(const Run& run, double test_top1) {
  core::make_dirs(run.dir);
  RunRecord record;
  record.kind = "train";
  record.sessions = 1;
  record.finished = true;
  record.parameters = 1000;
  record.multiply_adds = 10;
  core::write_file_atomic(run.dir + "/run.json", record.to_json().dump());
  core::write_file_atomic(run.dir + "/metrics.jsonl", fmt::format("{{\"epoch\": 2, \"test_acc\": {}}}\n", test_top1));
  core::write_file_atomic(run.dir + "/model.pt", "x");
}

TEST(ExperimentResults, ConditionsAreComparedWithTheBaselineSeedBySeed) {
  testing::TempDir dir;
  // b is the baseline; a has a seed b lacks, tie has one seed, other-data
  // tests on other images, search is a search alone.
  const Plan plan = read_plan(write_plan(dir, R"(profile: smoke
baseline: b
seeds: [0, 1, 2]
train: {subset: 1000}
conditions:
  - name: a
    seeds: [0, 1, 2, 3]
    train: {genotype: random}
  - name: b
    train: {}
  - name: tie
    seeds: [1]
    train: {lr: 0.01}
  - name: other-data
    train: {subset: 2000}
  - name: search
    search: {mode: arch}
)"));
  EXPECT_EQ(plan.baseline, "b");
  const std::string out = dir.file("out");
  const auto runs = plan_runs(plan, out);
  // The seeds move every condition alike (0.6, 0.8, 0.8); a is 0.02 above b
  // in seeds 0 and 1, 0.01 below in seed 2; seed 3 has no pair.
  const std::map<std::pair<std::string, int64_t>, double> top1 = {
      {{"a", 0}, 0.62},          {{"a", 1}, 0.82},          {{"a", 2}, 0.79},         {{"a", 3}, 0.10},
      {{"b", 0}, 0.60},          {{"b", 1}, 0.80},          {{"b", 2}, 0.80},         {{"tie", 1}, 0.80},
      {{"other-data", 0}, 0.90}, {{"other-data", 1}, 0.90}, {{"other-data", 2}, 0.90}};
  for (const auto& run : runs) {
    if (!run.is_search) finished_retrain(run, top1.at({run.condition->name, run.seed}));
  }
  const Results results = collect_results(plan, runs);
  ASSERT_EQ(results.conditions.size(), 5u);
  const auto& a = results.conditions[0];
  EXPECT_TRUE(a.compared);
  EXPECT_EQ(a.n, 4);
  EXPECT_EQ(a.pairs, 3);
  EXPECT_NEAR(a.delta_mean, 0.01, 1e-12);              // (0.02 + 0.02 − 0.01) / 3
  EXPECT_NEAR(a.delta_std, std::sqrt(0.0003), 1e-12);  // deviations 0.01, 0.01, −0.02
  EXPECT_EQ(a.higher, 2);
  EXPECT_EQ(a.lower, 1);
  EXPECT_FALSE(results.conditions[1].compared);  // the baseline
  EXPECT_EQ(results.conditions[2].pairs, 1);
  EXPECT_EQ(results.conditions[2].higher + results.conditions[2].lower, 0);
  EXPECT_TRUE(results.conditions[3].other_data);
  EXPECT_EQ(results.conditions[3].pairs, 0);
  EXPECT_FALSE(results.conditions[4].compared);
  write_results(plan, results, out);
  const std::string csv = core::read_file(out + "/results.csv");
  EXPECT_NE(csv.find(",b,3,1.0000,1.7321,2,1\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",b,1,0.0000,,0,0\n"), std::string::npos) << csv;  // one pair: no std
  EXPECT_NE(csv.find("\nb,DARTS_V2,none,3,3,73.3333,11.5470,1000,10,0.000000,0.000000,b,,,,,\n"), std::string::npos)
      << csv;
  EXPECT_NE(csv.find("\nother-data,DARTS_V2,none,3,3,90.0000,0.0000,1000,10,0.000000,0.000000,b,,,,,\n"),
            std::string::npos)
      << csv;
  // Every row has the header's number of fields (no field here holds a comma).
  std::istringstream lines(csv);
  std::string line;
  std::getline(lines, line);
  const auto fields = std::count(line.begin(), line.end(), ',');
  while (std::getline(lines, line)) EXPECT_EQ(std::count(line.begin(), line.end(), ','), fields) << line;
  const std::string md = core::read_file(out + "/results.md");
  EXPECT_NE(md.find("| Δ vs b (pp) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| +1.00 ± 1.73 (higher in 2, lower in 1 of 3) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 0.00 (higher in 0, lower in 0 of 1) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| — (other data settings) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 73.33 ± 11.55 | (baseline) |"), std::string::npos) << md;
}

TEST(ExperimentResults, ANegativeDifferenceHasAMinusSign) {
  testing::TempDir dir;
  const Plan plan = read_plan(
      write_plan(dir, with_condition("  - name: a\n    train: {}\n  - name: b\n    train: {genotype: random}\n")));
  const std::string out = dir.file("out");
  const auto runs = plan_runs(plan, out);
  finished_retrain(runs[0], 0.75);
  finished_retrain(runs[1], 0.745);
  write_results(plan, collect_results(plan, runs), out);
  EXPECT_NE(core::read_file(out + "/results.md").find("| −0.50 (higher in 0, lower in 1 of 1) |"), std::string::npos);
}

TEST(ExperimentResults, APlanWithoutRetrainsHasNoComparison) {
  testing::TempDir dir;
  const Plan plan = read_plan(write_plan(dir, with_condition("  - name: s\n    search: {mode: arch}\n")));
  EXPECT_EQ(plan.baseline, "");
  const std::string out = dir.file("out");
  const auto runs = plan_runs(plan, out);
  write_results(plan, collect_results(plan, runs), out);
  const std::string md = core::read_file(out + "/results.md");
  EXPECT_EQ(md.find("Δ"), std::string::npos) << md;
  EXPECT_NE(md.find("| Test top-1 (%) | Params (M) |"), std::string::npos) << md;
  EXPECT_NE(core::read_file(out + "/results.csv").find("\ns,,,1,0,,,,,0.000000,0.000000,,,,,,\n"), std::string::npos);
}

TEST(ExperimentPlan, TheBaselineIsTheFirstRetrainUnlessNamed) {
  testing::TempDir dir;
  EXPECT_EQ(read_plan(write_plan(dir, kPlan)).baseline, "searched");
  EXPECT_EQ(
      read_plan(write_plan(dir, with_condition("  - name: s\n    search: {}\n  - name: t\n    train: {}\n"))).baseline,
      "t");
  const std::string two = "seeds: [0]\nconditions:\n  - name: s\n    search: {}\n  - name: a\n    train: {}\n";
  EXPECT_NE(plan_error("profile: smoke\nbaseline: x\n" + two)
                .find("baseline 'x': no condition of that name; expected the name of a condition with a retrain (a)"),
            std::string::npos);
  EXPECT_NE(plan_error("profile: smoke\nbaseline: s\n" + two)
                .find("baseline 's' has no retrain; expected the name of a condition with a retrain (a)"),
            std::string::npos);
  EXPECT_NE(plan_error("profile: smoke\nbaseline: [a]\n" + two).find("baseline is a list; expected the name"),
            std::string::npos);
  EXPECT_NE(plan_error("profile: smoke\nbaseline:\n" + two).find("baseline is empty; expected the name"),
            std::string::npos);

  // The command line's --baseline: the same checks, named as the option.
  const auto expect_refused = [&](const std::string& name, const std::string& message) {
    Plan plan = read_plan(write_plan(dir, "profile: smoke\n" + two));
    try {
      set_baseline(plan, name);
      ADD_FAILURE() << "--baseline '" << name << "' was accepted";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
    EXPECT_EQ(plan.baseline, "a");
  };
  expect_refused("s", "--baseline 's' has no retrain; expected the name of a condition with a retrain (a)");
  expect_refused("", "--baseline '': no condition of that name; expected the name of a condition with a retrain (a)");
  Plan plan = read_plan(write_plan(dir, with_condition("  - name: t\n    train: {}\n")));
  set_baseline(plan, "t");
  EXPECT_EQ(plan.baseline, "t");
}

TEST(ExperimentRunClock, AddsToTheTimesOfEarlierSessions) {
  RunRecord record;
  record.cpu_seconds = 100;
  record.wall_seconds = 200;
  RunClock clock(record);
  // Burn 20 ms of this process's CPU time (std::clock), however long that takes on a busy machine.
  volatile double sink = 0;
  const std::clock_t start = std::clock();
  const auto wall_start = std::chrono::steady_clock::now();
  while (std::clock() - start < CLOCKS_PER_SEC / 50) sink = sink + std::sqrt(sink + 1.0);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  clock.update();
  EXPECT_GE(record.cpu_seconds, 100.019);
  EXPECT_LT(record.cpu_seconds, 100.5);
  EXPECT_GE(record.wall_seconds, 200 + wall);
  EXPECT_LT(record.wall_seconds, 200 + wall + 0.5);
  // update() measures from the construction again, not from the last update.
  clock.update();
  EXPECT_GE(record.cpu_seconds, 100.019);
  EXPECT_GE(record.wall_seconds, 200 + wall);
}

}  // namespace
}  // namespace daas::experiment
