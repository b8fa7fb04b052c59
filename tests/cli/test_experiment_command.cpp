// `daas experiment` end to end: a tiny plan runs, its tables hold the runs'
// own numbers, and a killed experiment resumes without redoing finished runs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include "cli_support.h"
#include "daas/core/files.h"
#include "daas/core/metrics.h"
#include "daas/experiment/runner.h"
#include "daas/nas/genotype.h"
#include "daas/nas/network.h"
#include "daas/search/search.h"
#include "daas/train/train.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace daas {
namespace {

using testing::run_daas;

// 2 conditions × 2 seeds at smoke sizes: a joint search whose genotype and
// policy are retrained, and random genotypes. 12 epochs in all.
constexpr const char* kPlan = R"(profile: smoke
seeds: [0, 1]
search: {epochs: 2, steps_per_epoch: 1, batch_size: 8, subset: 1000}
train: {epochs: 2, steps_per_epoch: 2, batch_size: 8, channels: 4, subset: 1000, val_fraction: 0.1, auxiliary_weight: 0}
conditions:
  - name: joint
    search: {mode: joint}
    train: {genotype: search, policy: search}
  - name: random
    train: {genotype: random}
)";

nlohmann::json record_of(const std::string& run) { return nlohmann::json::parse(core::read_file(run + "/run.json")); }

/// results.csv (or runs.csv) as rows of named fields. Fields may be quoted
/// (a genotype holds commas); a doubled quote inside stands for one.
std::vector<std::map<std::string, std::string>> read_csv(const std::string& path) {
  auto split = [](const std::string& line) {
    std::vector<std::string> fields(1);
    bool quoted = false;
    for (size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = !quoted;
      } else if (c == ',' && !quoted) {
        fields.emplace_back();
      } else {
        fields.back() += c;
      }
    }
    return fields;
  };
  std::istringstream in(core::read_file(path));
  std::string line;
  std::getline(in, line);
  const auto header = split(line);
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    const auto fields = split(line);
    EXPECT_EQ(fields.size(), header.size()) << path << ": " << line;
    std::map<std::string, std::string> row;
    for (size_t i = 0; i < header.size() && i < fields.size(); ++i) row[header[i]] = fields[i];
    rows.push_back(row);
  }
  return rows;
}

fs::file_time_type mtime(const std::string& path) { return fs::last_write_time(path); }

TEST(ExperimentCommand, TinyPlanKilledResumesAndSummarisesItsRuns) {
  testing::TempDir dir;
  const std::string plan = dir.file("tiny.yaml");
  core::write_file_atomic(plan, kPlan);
  const std::string out = dir.file("exp");
  const std::string command = "experiment " + plan + " --threads 2 --out " + out;

  // Killed (SIGKILL) after 3 epochs: joint/seed0's search (2 epochs) has
  // finished, its retrain has checkpointed 1 epoch of 2.
  ::setenv(experiment::kKillAfterEpochsVariable, "3", 1);
  const auto killed = run_daas(command);
  ::unsetenv(experiment::kKillAfterEpochsVariable);
  ASSERT_NE(killed.exit_code, 0) << killed.output;
  const std::string search0 = out + "/joint/seed0/search";
  const std::string train0 = out + "/joint/seed0/train";
  EXPECT_TRUE(record_of(search0)["finished"].get<bool>());
  EXPECT_FALSE(record_of(train0)["finished"].get<bool>());
  EXPECT_EQ(record_of(train0)["epochs_done"], 1);
  EXPECT_TRUE(core::file_exists(train0 + "/checkpoint.pt"));
  EXPECT_FALSE(core::file_exists(train0 + "/model.pt"));
  EXPECT_FALSE(fs::exists(out + "/random/seed0"));
  const auto search_time = mtime(search0 + "/metrics.jsonl");
  const auto search_checkpoint_time = mtime(search0 + "/checkpoint.pt");
  const std::string first_epoch = core::read_file(train0 + "/metrics.jsonl");
  const double search_cpu = record_of(search0)["cpu_seconds"].get<double>();
  EXPECT_GT(search_cpu, 0);

  // The folder is not reused by accident.
  const auto again = run_daas(command);
  EXPECT_EQ(again.exit_code, 1) << again.output;
  EXPECT_NE(again.output.find("add --resume to continue it"), std::string::npos) << again.output;

  const auto resumed = run_daas(command + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("6 runs: 4 started, 1 resumed, 1 finished before"), std::string::npos)
      << resumed.output;
  // The finished search was not repeated; the retrain went on from its epoch 1.
  EXPECT_EQ(mtime(search0 + "/metrics.jsonl"), search_time);
  EXPECT_EQ(mtime(search0 + "/checkpoint.pt"), search_checkpoint_time);
  EXPECT_EQ(record_of(search0)["sessions"], 1);
  EXPECT_EQ(record_of(search0)["cpu_seconds"].get<double>(), search_cpu);
  EXPECT_EQ(record_of(train0)["sessions"], 2);
  EXPECT_EQ(core::read_file(train0 + "/metrics.jsonl").substr(0, first_epoch.size()), first_epoch);
  EXPECT_EQ(core::read_metrics(train0 + "/metrics.jsonl").size(), 2u);

  // Every number of results.csv and runs.csv is the runs' own.
  std::map<std::string, std::vector<double>> top1, parameters, train_hours, search_hours;
  for (const char* condition : {"joint", "random"}) {
    for (int seed = 0; seed < 2; ++seed) {
      const std::string run = fmt::format("{}/{}/seed{}/train", out, condition, seed);
      const auto record = record_of(run);
      EXPECT_TRUE(record["finished"].get<bool>()) << run;
      const auto metrics = core::read_metrics(run + "/metrics.jsonl");
      ASSERT_EQ(metrics.size(), 2u) << run;
      // val_fraction: the epochs are monitored on the validation share, the test split only at the end.
      EXPECT_FALSE(metrics[0].contains("test_acc")) << run;
      EXPECT_TRUE(metrics[0].contains("val_acc")) << run;
      top1[condition].push_back(metrics[1]["test_acc"].get<double>());
      train_hours[condition].push_back(record["cpu_seconds"].get<double>() / 3600);
      const std::string search = fmt::format("{}/{}/seed{}/search", out, condition, seed);
      search_hours[condition].push_back(fs::exists(search) ? record_of(search)["cpu_seconds"].get<double>() / 3600 : 0);

      // Parameters and multiply-adds as `daas info` counts the trained genotype.
      const auto genotype = nas::parse_genotype(core::read_file(run + "/genotype.txt"));
      nas::NetworkCIFAR net(nas::NetworkOptions(4, 3, genotype).num_classes(10).in_channels(1));
      const auto size = nas::measure(*net, 28);
      EXPECT_EQ(record["parameters"].get<int64_t>(), size.parameters) << run;
      EXPECT_EQ(record["multiply_adds"].get<int64_t>(), size.macs) << run;
      parameters[condition].push_back(static_cast<double>(size.parameters));
      if (std::string(condition) == "random") {
        EXPECT_EQ(genotype, nas::random_genotype(seed));
      }
      if (std::string(condition) == "joint") {
        EXPECT_EQ(genotype, nas::parse_genotype(core::read_file(search + "/genotype.txt")));
      }
    }
  }
  EXPECT_NE(nas::parse_genotype(core::read_file(out + "/random/seed0/train/genotype.txt")),
            nas::parse_genotype(core::read_file(out + "/random/seed1/train/genotype.txt")));

  const auto rows = read_csv(out + "/results.csv");
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& row : rows) {
    const std::string condition = row.at("condition");
    const auto& t = top1[condition];
    const double mean = (t[0] + t[1]) / 2;
    const double std = std::abs(t[0] - t[1]) / std::sqrt(2.0);
    EXPECT_EQ(row.at("n"), "2");
    EXPECT_NEAR(std::stod(row.at("test_top1_mean_pct")), 100 * mean, 5e-5) << condition;
    EXPECT_NEAR(std::stod(row.at("test_top1_std_pct")), 100 * std, 5e-5) << condition;
    EXPECT_NEAR(std::stod(row.at("parameters_mean")), (parameters[condition][0] + parameters[condition][1]) / 2, 0.5);
    EXPECT_NEAR(std::stod(row.at("train_cpu_hours_per_seed")),
                (train_hours[condition][0] + train_hours[condition][1]) / 2, 1e-6);
    EXPECT_NEAR(std::stod(row.at("search_cpu_hours_per_seed")),
                (search_hours[condition][0] + search_hours[condition][1]) / 2, 1e-6);
  }
  EXPECT_GT(std::stod(rows[0].at("search_cpu_hours_per_seed")), 0);
  EXPECT_EQ(rows[1].at("search_cpu_hours_per_seed"), "0.000000");
  // joint, the first retrain, is the baseline; random is compared with it seed by seed.
  EXPECT_EQ(rows[0].at("baseline"), "joint");
  EXPECT_EQ(rows[0].at("pairs"), "");
  EXPECT_EQ(rows[1].at("pairs"), "2");
  const double d0 = top1["random"][0] - top1["joint"][0], d1 = top1["random"][1] - top1["joint"][1];
  EXPECT_NEAR(std::stod(rows[1].at("delta_top1_mean_pct")), 100 * (d0 + d1) / 2, 5e-5);
  EXPECT_NEAR(std::stod(rows[1].at("delta_top1_std_pct")), 100 * std::abs(d0 - d1) / std::sqrt(2.0), 5e-5);
  EXPECT_EQ(std::stoi(rows[1].at("higher_in")), (d0 > 0) + (d1 > 0));
  EXPECT_EQ(std::stoi(rows[1].at("lower_in")), (d0 < 0) + (d1 < 0));
  for (const auto& row : read_csv(out + "/runs.csv")) {
    if (row.at("run") != "train") continue;
    const double expected = top1[row.at("condition")][std::stoul(row.at("seed"))];
    EXPECT_EQ(std::stod(row.at("test_acc")), expected);
    EXPECT_EQ(nas::parse_genotype(row.at("genotype")),
              nas::parse_genotype(core::read_file(row.at("folder") + "/genotype.txt")));
  }
  const std::string md = core::read_file(out + "/results.md");
  EXPECT_NE(md.find("| joint | joint search of joint | joint search of joint | 2/2 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| random | random (one per seed) | none | 2/2 |"), std::string::npos) << md;

  // Once all is done, a resume repeats nothing.
  const auto model_time = mtime(train0 + "/model.pt");
  const auto done = run_daas(command + " --resume");
  ASSERT_EQ(done.exit_code, 0) << done.output;
  EXPECT_NE(done.output.find("6 runs: 0 started, 0 resumed, 6 finished before"), std::string::npos) << done.output;
  EXPECT_EQ(mtime(train0 + "/model.pt"), model_time);

  // --baseline summarises the same runs against another condition, and runs nothing.
  const auto against_random = run_daas(command + " --resume --baseline random");
  ASSERT_EQ(against_random.exit_code, 0) << against_random.output;
  EXPECT_NE(against_random.output.find("6 runs: 0 started, 0 resumed, 6 finished before"), std::string::npos)
      << against_random.output;
  EXPECT_NE(against_random.output.find("Δ vs random (pp)"), std::string::npos) << against_random.output;
  const auto random_rows = read_csv(out + "/results.csv");
  ASSERT_EQ(random_rows.size(), 2u);
  EXPECT_EQ(random_rows[0].at("baseline"), "random");
  EXPECT_EQ(random_rows[0].at("pairs"), "2");
  EXPECT_EQ(random_rows[1].at("pairs"), "");
  EXPECT_NEAR(std::stod(random_rows[0].at("delta_top1_mean_pct")), -100 * (d0 + d1) / 2, 5e-5);
  EXPECT_EQ(mtime(train0 + "/model.pt"), model_time);
  const auto unknown = run_daas(command + " --resume --baseline randon");
  EXPECT_EQ(unknown.exit_code, 1) << unknown.output;
  EXPECT_NE(unknown.output.find("--baseline 'randon': no condition of that name; expected the name of a condition "
                                "with a retrain (joint, random)"),
            std::string::npos)
      << unknown.output;

  // Moved elsewhere, the experiment resumes there and repeats nothing: its
  // run folders name the old place (out, the retrains' search folders).
  const std::string moved = dir.file("moved/exp");
  fs::create_directories(dir.file("moved"));
  fs::rename(out, moved);
  const auto relocated = run_daas("experiment " + plan + " --threads 2 --out " + moved + " --resume");
  ASSERT_EQ(relocated.exit_code, 0) << relocated.output;
  EXPECT_NE(relocated.output.find("6 runs: 0 started, 0 resumed, 6 finished before"), std::string::npos)
      << relocated.output;
  EXPECT_NE(core::read_file(moved + "/joint/seed0/train/config.yaml").find("genotype: " + search0), std::string::npos);
  EXPECT_EQ(read_csv(moved + "/results.csv")[1].at("test_top1_mean_pct"), random_rows[1].at("test_top1_mean_pct"));
  fs::rename(moved, out);

  // A kept retrain whose search now holds another genotype is refused.
  const std::string searched = core::read_file(search0 + "/genotype.txt");
  const std::string other = core::read_file(out + "/random/seed0/train/genotype.txt");
  ASSERT_NE(searched, other);
  core::write_file_atomic(search0 + "/genotype.txt", other);
  const auto mismatched = run_daas(command + " --resume");
  EXPECT_EQ(mismatched.exit_code, 1) << mismatched.output;
  EXPECT_NE(mismatched.output.find(train0 + "/genotype.txt: differs from " + search0 +
                                   "/genotype.txt, which the retrain took it from"),
            std::string::npos)
      << mismatched.output;
  EXPECT_EQ(mtime(train0 + "/model.pt"), model_time);
  core::write_file_atomic(search0 + "/genotype.txt", searched);

  // A run folder made with other settings is refused, not mixed in.
  std::string changed = kPlan;
  changed.replace(changed.find("steps_per_epoch: 2"), 18, "steps_per_epoch: 3");
  core::write_file_atomic(plan, changed);
  const auto refused = run_daas(command + " --resume");
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("setting 'steps_per_epoch' is 3 in the plan but the run there was made with 2"),
            std::string::npos)
      << refused.output;
}

TEST(ExperimentCommand, DryRunListsRunsAndBadPlansFailClearly) {
  testing::TempDir dir;
  const std::string plan = dir.file("tiny.yaml");
  core::write_file_atomic(plan, kPlan);
  const auto listed = run_daas("experiment " + plan + " --dry-run --out " + dir.file("exp"));
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_NE(listed.output.find("6 runs"), std::string::npos) << listed.output;
  EXPECT_NE(listed.output.find("random seed 1 train: train random:1"), std::string::npos) << listed.output;
  EXPECT_NE(listed.output.find("retrains compared with joint"), std::string::npos) << listed.output;
  const auto other = run_daas("experiment " + plan + " --dry-run --baseline random --out " + dir.file("exp"));
  EXPECT_EQ(other.exit_code, 0) << other.output;
  EXPECT_NE(other.output.find("retrains compared with random"), std::string::npos) << other.output;
  const auto empty = run_daas("experiment " + plan + " --dry-run --baseline '' --out " + dir.file("exp"));
  EXPECT_EQ(empty.exit_code, 1) << empty.output;
  EXPECT_NE(empty.output.find("--baseline '': no condition of that name"), std::string::npos) << empty.output;
  EXPECT_FALSE(fs::exists(dir.file("exp")));
  // --resume of a folder that holds no experiment (a typo) does not start the plan afresh.
  const auto typo = run_daas("experiment " + plan + " --resume --out " + dir.file("exq"));
  EXPECT_EQ(typo.exit_code, 1) << typo.output;
  EXPECT_NE(typo.output.find("--out " + dir.file("exq") + " with --resume: no experiment there (no plan.yaml)"),
            std::string::npos)
      << typo.output;
  EXPECT_FALSE(fs::exists(dir.file("exq")));
  // --dry-run checks --out as the run would.
  fs::create_directories(dir.file("full"));
  core::write_file_atomic(dir.file("full/notes.txt"), "mine\n");
  const auto full = run_daas("experiment " + plan + " --dry-run --out " + dir.file("full"));
  EXPECT_EQ(full.exit_code, 1) << full.output;
  EXPECT_NE(full.output.find("the folder is not empty and holds no daas experiment"), std::string::npos) << full.output;
  // A genotype file that does not resolve names its place in the plan.
  std::string missing = kPlan;
  missing.replace(missing.find("genotype: random"), 16, "genotype: " + dir.file("nothing.txt"));
  core::write_file_atomic(plan, missing);
  const auto unresolved = run_daas("experiment " + plan + " --dry-run --out " + dir.file("exp"));
  EXPECT_EQ(unresolved.exit_code, 1) << unresolved.output;
  EXPECT_NE(unresolved.output.find("conditions.random.train.genotype: genotype '" + dir.file("nothing.txt") + "'"),
            std::string::npos)
      << unresolved.output;

  std::string bad = kPlan;
  bad.replace(bad.find("mode: joint"), 11, "mode: jiont");
  core::write_file_atomic(plan, bad);
  const auto refused = run_daas("experiment " + plan + " --out " + dir.file("exp"));
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("setting 'mode' = 'jiont' (from plan " + plan + ": conditions.joint.search.mode)"),
            std::string::npos)
      << refused.output;
  EXPECT_FALSE(fs::exists(dir.file("exp")));

  // Every shipped plan reads and resolves.
  int shipped = 0;
  for (const auto& entry : fs::directory_iterator(testing::source_dir() + "/configs/experiments")) {
    const auto name = entry.path().stem().string();
    const auto checked =
        run_daas("experiment " + entry.path().string() + " --dry-run --out " + dir.file("shipped-" + name));
    EXPECT_EQ(checked.exit_code, 0) << name << "\n" << checked.output;
    ++shipped;
  }
  EXPECT_GE(shipped, 3);
  // A run's settings in a shipped plan, as its config.yaml would hold them
  // (every plan laid out under the same folder, so paths into it compare equal).
  const auto settings_of = [](const std::string& plan_name, const std::string& condition, bool search) {
    const auto plan = experiment::read_plan(testing::source_dir() + "/configs/experiments/" + plan_name + ".yaml");
    for (auto run : experiment::plan_runs(plan, "out")) {
      if (run.is_search == search && run.condition->name == condition && run.seed == 2) {
        if (search) return search::settings_table().to_yaml(run.search);
        return train::settings_table().to_yaml(run.train);
      }
    }
    return std::string("(no run of " + condition + " seed 2 in " + plan_name + ")");
  };
  // fashion-search-vs-random's searches are the full plan's, setting for
  // setting; the plans that share its runs (their headers say which) have
  // the same settings for them, so those run folders can be copied in.
  for (const char* condition : {"arch-search", "joint"}) {
    EXPECT_EQ(settings_of("fashion-search-vs-random", condition, true),
              settings_of("fashion-ablation", condition, true))
        << condition;
  }
  for (const char* plan : {"fashion-alpha-variants", "fashion-long-search"}) {
    EXPECT_EQ(settings_of("fashion-search-vs-random", "arch-search", true), settings_of(plan, "arch-search", true))
        << plan;
    for (const char* condition : {"arch-search", "random", "darts-standard"}) {
      EXPECT_EQ(settings_of("fashion-search-vs-random", condition, false), settings_of(plan, condition, false))
          << plan << " " << condition;
    }
  }
  // fashion-longer-retrain shares fashion-search-vs-random's searches; its
  // retrains differ in their length alone.
  for (const char* condition : {"arch-search", "joint"}) {
    EXPECT_EQ(settings_of("fashion-search-vs-random", condition, true),
              settings_of("fashion-longer-retrain", condition, true))
        << condition;
  }
  for (const char* condition : {"arch-search", "random", "darts-standard", "joint"}) {
    auto longer = settings_of("fashion-longer-retrain", condition, false);
    const auto at = longer.find("\nepochs: 8\n");
    EXPECT_NE(at, std::string::npos) << condition << "\n" << longer;
    if (at == std::string::npos) continue;
    longer.replace(at + 1, 9, "epochs: 3");
    EXPECT_EQ(settings_of("fashion-search-vs-random", condition, false), longer) << condition;
  }
  // A random genotype from the command line.
  const auto info = run_daas("info --genotype random:3 --channels 16 --layers 8");
  EXPECT_EQ(info.exit_code, 0) << info.output;
  EXPECT_NE(info.output.find(nas::random_genotype(3).to_darts_string()), std::string::npos) << info.output;
}

}  // namespace
}  // namespace daas
