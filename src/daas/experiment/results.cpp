#include "daas/experiment/results.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>

#include "daas/core/config.h"
#include "daas/core/files.h"
#include "daas/data/dataset.h"
#include "daas/experiment/runner.h"

namespace fs = std::filesystem;

namespace daas::experiment {
namespace {

double mean(const std::vector<double>& values) {
  double sum = 0;
  for (const double v : values) sum += v;
  return values.empty() ? 0 : sum / static_cast<double>(values.size());
}

/// Sample standard deviation (n − 1); NaN below two values.
double sample_std(const std::vector<double>& values) {
  if (values.size() < 2) return std::numeric_limits<double>::quiet_NaN();
  const double m = mean(values);
  double squares = 0;
  for (const double v : values) squares += (v - m) * (v - m);
  return std::sqrt(squares / static_cast<double>(values.size() - 1));
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
std::string csv(const std::string& field) {
  if (field.find_first_of(",\"\n") == std::string::npos) return field;
  std::string quoted = "\"";
  for (const char c : field) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string number(double value, const char* format) {
  return std::isfinite(value) ? fmt::format(fmt::runtime(format), value) : std::string();
}

/// "the joint search of 'joint'" and the like, for the tables.
std::string source_text(const Source& source, const std::string& setting, const std::vector<Run>& runs) {
  switch (source.kind) {
    case Source::Kind::kRandom:
      return "random (one per seed)";
    case Source::Kind::kSearch:
      for (const auto& run : runs) {
        if (run.is_search && run.condition->name == source.condition) {
          return fmt::format("{} search of {}", run.search.mode, source.condition);
        }
      }
      return "search of " + source.condition;
    case Source::Kind::kSetting:
      break;
  }
  return setting;
}

/// The budget of a condition's runs, from its first seed's settings.
std::string budget_text(const Condition& condition, const std::vector<Run>& runs) {
  std::string text;
  for (const auto& run : runs) {
    if (run.condition != &condition || run.seed != condition.seeds.front()) continue;
    if (run.is_search) {
      const auto& o = run.search;
      text +=
          fmt::format("search {} mode: {} epochs × {} steps of batch {} (subset {}), supernet C {}, {} cells; ", o.mode,
                      o.epochs, o.steps_per_epoch == 0 ? std::string("all") : std::to_string(o.steps_per_epoch),
                      o.batch_size, o.subset, o.channels, o.layers);
    } else {
      const auto& o = run.train;
      text += fmt::format(
          "retrain: {} epochs × {} steps of batch {} (subset {}, val_fraction {}), C {}, {} cells, base {}, Cutout {}, "
          "auxiliary {}, drop-path {}",
          o.epochs, o.steps_per_epoch == 0 ? std::string("all") : std::to_string(o.steps_per_epoch), o.batch_size,
          o.subset, o.val_fraction, o.channels, o.layers, o.base_policy, o.cutout, o.auxiliary_weight, o.drop_path);
    }
  }
  return text;
}

/// Whether two retrains read, subsample, hold out and test the same images
/// for the same seed: the data settings (every one the data table declares)
/// and the held-out share.
bool same_data(const train::TrainOptions& a, const train::TrainOptions& b) {
  static const auto data_settings = [] {
    core::OptionTable<train::TrainOptions> table;
    data::add_data_options(table);
    return table;
  }();
  return a.val_fraction == b.val_fraction && data_settings.to_yaml(a) == data_settings.to_yaml(b);
}

/// Percentage points with a sign: "+1.25", "−0.50" (a minus sign), "0.00".
std::string signed_points(double fraction) {
  const std::string digits = fmt::format("{:.2f}", std::abs(100 * fraction));
  if (digits == "0.00") return digits;
  return (fraction > 0 ? "+" : "−") + digits;
}

/// The Δ cell of a condition in results.md.
std::string delta_text(const ConditionResult& c, const std::string& baseline) {
  if (c.condition->name == baseline) return "(baseline)";
  if (c.other_data) return "— (other data settings)";
  if (c.pairs == 0) return "—";
  std::string text = signed_points(c.delta_mean);
  if (std::isfinite(c.delta_std)) text += fmt::format(" ± {:.2f}", 100 * c.delta_std);
  return text + fmt::format(" (higher in {}, lower in {} of {})", c.higher, c.lower, c.pairs);
}

}  // namespace

Results collect_results(const Plan& plan, const std::vector<Run>& runs) {
  Results results;
  std::map<std::string, const RunResult*> by_dir;
  results.runs.reserve(runs.size());
  for (const auto& run : runs) {
    RunResult result;
    result.run = &run;
    const RunRecord record = read_run_record(run.dir);
    result.cpu_hours = record.cpu_seconds / 3600;
    result.wall_hours = record.wall_seconds / 3600;
    results.cpu_hours += result.cpu_hours;
    results.wall_hours += result.wall_hours;
    result.finished = run_finished(run);
    if (result.finished) {
      ++results.finished;
      const auto last = final_metrics(run);
      if (last.contains("val_acc")) result.val_top1 = last["val_acc"].get<double>();
      if (run.is_search) {
        result.genotype = last.value("genotype", std::string());
      } else {
        result.test_top1 = last.at("test_acc").get<double>();
        result.parameters = record.parameters;
        result.multiply_adds = record.multiply_adds;
        const auto genotype = fs::path(run.dir) / "genotype.txt";
        if (fs::exists(genotype)) result.genotype = trimmed(core::read_file(genotype.string()));
      }
    }
    results.runs.push_back(result);
  }
  for (const auto& result : results.runs) by_dir[result.run->dir] = &result;

  // The baseline's finished retrains by seed, for the paired differences.
  const Condition* baseline = plan.baseline.empty() ? nullptr : plan.find(plan.baseline);
  const train::TrainOptions* baseline_settings = nullptr;
  std::map<int64_t, const RunResult*> baseline_runs;
  for (const auto& result : results.runs) {
    if (result.run->condition != baseline || result.run->is_search) continue;
    baseline_settings = &result.run->train;
    if (result.finished) baseline_runs[result.run->seed] = &result;
  }

  for (const auto& condition : plan.conditions) {
    ConditionResult summary;
    summary.condition = &condition;
    summary.planned = static_cast<int64_t>(condition.seeds.size());
    summary.compared = condition.has_train && baseline != nullptr && &condition != baseline;
    std::vector<double> top1, parameters, multiply_adds, search_hours, train_hours, deltas;
    for (const auto& result : results.runs) {
      if (summary.compared && !result.run->is_search && result.run->condition == &condition &&
          !same_data(result.run->train, *baseline_settings)) {
        summary.other_data = true;
      }
    }
    summary.compared = summary.compared && !summary.other_data;
    for (const auto& result : results.runs) {
      if (result.run->condition != &condition || !result.finished) continue;
      if (condition.has_train && !result.run->is_search) {
        top1.push_back(result.test_top1);
        const auto paired = baseline_runs.find(result.run->seed);
        if (summary.compared && paired != baseline_runs.end()) {
          deltas.push_back(result.test_top1 - paired->second->test_top1);
          summary.higher += deltas.back() > 0;
          summary.lower += deltas.back() < 0;
        }
        parameters.push_back(static_cast<double>(result.parameters));
        multiply_adds.push_back(static_cast<double>(result.multiply_adds));
        train_hours.push_back(result.cpu_hours);
        double hours = 0;
        for (const auto& dir : result.run->search_dirs) hours += by_dir.at(dir)->cpu_hours;
        search_hours.push_back(hours);
      } else if (!condition.has_train && result.run->is_search) {
        search_hours.push_back(result.cpu_hours);
      }
    }
    summary.n = static_cast<int64_t>(condition.has_train ? top1.size() : search_hours.size());
    summary.top1_mean = top1.empty() ? std::numeric_limits<double>::quiet_NaN() : mean(top1);
    summary.top1_std = sample_std(top1);
    summary.parameters_mean = parameters.empty() ? std::numeric_limits<double>::quiet_NaN() : mean(parameters);
    summary.multiply_adds_mean = multiply_adds.empty() ? std::numeric_limits<double>::quiet_NaN() : mean(multiply_adds);
    summary.search_cpu_hours = mean(search_hours);
    summary.train_cpu_hours = mean(train_hours);
    summary.pairs = static_cast<int64_t>(deltas.size());
    summary.delta_mean = deltas.empty() ? std::numeric_limits<double>::quiet_NaN() : mean(deltas);
    summary.delta_std = sample_std(deltas);
    results.conditions.push_back(summary);
  }
  return results;
}

void write_results(const Plan& plan, const Results& results, const std::string& out) {
  // results.csv: one row per condition.
  std::string table =
      "condition,genotype,policy,seeds,n,test_top1_mean_pct,test_top1_std_pct,parameters_mean,multiply_adds_mean,"
      "search_cpu_hours_per_seed,train_cpu_hours_per_seed,baseline,pairs,delta_top1_mean_pct,delta_top1_std_pct,"
      "higher_in,lower_in\n";
  std::vector<Run> runs;
  for (const auto& result : results.runs) runs.push_back(*result.run);
  for (const auto& c : results.conditions) {
    const Condition& condition = *c.condition;
    const std::string genotype =
        condition.has_train ? source_text(condition.genotype, condition.genotype_text, runs) : std::string();
    const std::string policy =
        condition.has_train ? source_text(condition.policy, condition.policy_text, runs) : std::string();
    // The comparison's fields are empty where there is none (the baseline, a
    // search alone, other data settings).
    const bool paired = c.pairs > 0;
    const std::vector<std::string> fields = {csv(condition.name),
                                             csv(genotype),
                                             csv(policy),
                                             std::to_string(c.planned),
                                             std::to_string(c.n),
                                             number(100 * c.top1_mean, "{:.4f}"),
                                             number(100 * c.top1_std, "{:.4f}"),
                                             number(c.parameters_mean, "{:.0f}"),
                                             number(c.multiply_adds_mean, "{:.0f}"),
                                             number(c.search_cpu_hours, "{:.6f}"),
                                             number(c.train_cpu_hours, "{:.6f}"),
                                             csv(plan.baseline),
                                             c.compared ? std::to_string(c.pairs) : std::string(),
                                             paired ? number(100 * c.delta_mean, "{:.4f}") : std::string(),
                                             paired ? number(100 * c.delta_std, "{:.4f}") : std::string(),
                                             paired ? std::to_string(c.higher) : std::string(),
                                             paired ? std::to_string(c.lower) : std::string()};
    table += fmt::format("{}\n", fmt::join(fields, ","));
  }
  core::write_file_atomic((fs::path(out) / "results.csv").string(), table);

  // runs.csv: one row per run, test_acc exactly as the run's metrics.jsonl holds it.
  std::string rows =
      "condition,seed,run,finished,test_acc,val_acc,parameters,multiply_adds,cpu_hours,wall_hours,genotype,folder\n";
  for (const auto& r : results.runs) {
    rows += fmt::format(
        "{},{},{},{},{},{},{},{},{:.6f},{:.6f},{},{}\n", csv(r.run->condition->name), r.run->seed, r.run->kind(),
        r.finished ? "yes" : "no", r.finished && !r.run->is_search ? fmt::format("{}", r.test_top1) : "",
        r.val_top1 >= 0 ? fmt::format("{}", r.val_top1) : "", r.parameters >= 0 ? std::to_string(r.parameters) : "",
        r.multiply_adds >= 0 ? std::to_string(r.multiply_adds) : "", r.cpu_hours, r.wall_hours, csv(r.genotype),
        csv(r.run->dir));
  }
  core::write_file_atomic((fs::path(out) / "runs.csv").string(), rows);

  // results.md: both, for people.
  std::string md = fmt::format("# Results of {}\n\n", plan.path);
  md += fmt::format(
      "Profile `{}`. {} of {} runs finished; {:.2f} CPU-hours and {:.2f} wall-hours spent in all.\n\n"
      "Test top-1: each retrain's test-split accuracy after its last epoch (its metrics.jsonl), mean ± sample "
      "standard deviation over the n finished seeds. Parameters exclude the auxiliary head; multiply-adds are per "
      "image. CPU-hours: process CPU time over all threads per run, up to its last checkpoint (run.json), mean per "
      "seed; a condition's search CPU-hours are those of the searches its retrains took genotype or policy from.\n\n",
      plan.profile, results.finished, results.runs.size(), results.cpu_hours, results.wall_hours);
  const bool with_delta = !plan.baseline.empty();
  if (with_delta) {
    md += fmt::format(
        "Δ vs {0}: the test top-1 minus that of {0}'s retrain of the same seed, in percentage points, mean ± sample "
        "standard deviation over the seeds where both finished, and in how many of them the condition is higher or "
        "lower (the rest tie). Within a seed, retrains with the same data settings train, hold out and test on the "
        "same images (with a subset, the seed draws them), so what a seed changes for every condition alike drops "
        "out of Δ.\n\n",
        plan.baseline);
  }
  md += fmt::format(
      "| Condition | Genotype | Policy | n | Test top-1 (%) |{} Params (M) | Mult-adds (M) | Search CPU-h | "
      "Retrain CPU-h |\n|---|---|---|---|---|{}---|---|---|---|\n",
      with_delta ? fmt::format(" Δ vs {} (pp) |", plan.baseline) : std::string(), with_delta ? "---|" : "");
  for (const auto& c : results.conditions) {
    const Condition& condition = *c.condition;
    std::string top1 = "—";
    if (c.n > 0 && condition.has_train) {
      top1 = fmt::format("{:.2f}", 100 * c.top1_mean);
      if (std::isfinite(c.top1_std)) top1 += fmt::format(" ± {:.2f}", 100 * c.top1_std);
    }
    const std::string delta = with_delta ? fmt::format(" {} |", delta_text(c, plan.baseline)) : std::string();
    md += fmt::format("| {} | {} | {} | {}/{} | {} |{} {} | {} | {:.3f} | {} |\n", condition.name,
                      condition.has_train ? source_text(condition.genotype, condition.genotype_text, runs) : "—",
                      condition.has_train ? source_text(condition.policy, condition.policy_text, runs) : "—", c.n,
                      c.planned, top1, delta,
                      std::isfinite(c.parameters_mean) ? number(c.parameters_mean / 1e6, "{:.3f}") : "—",
                      std::isfinite(c.multiply_adds_mean) ? number(c.multiply_adds_mean / 1e6, "{:.1f}") : "—",
                      c.search_cpu_hours, condition.has_train ? fmt::format("{:.3f}", c.train_cpu_hours) : "—");
  }
  md += "\n## Budgets\n\n";
  for (const auto& condition : plan.conditions) {
    md += fmt::format("- {}: {}\n", condition.name, budget_text(condition, runs));
  }
  md +=
      "\n## Runs\n\n| Condition | Seed | Run | Finished | Test top-1 (%) | Val top-1 (%) | Params | Mult-adds | "
      "CPU-h | Wall-h | Folder |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : results.runs) {
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {:.3f} | {:.3f} | {} |\n", r.run->condition->name,
                      r.run->seed, r.run->kind(), r.finished ? "yes" : "no",
                      r.finished && !r.run->is_search ? fmt::format("{:.2f}", 100 * r.test_top1) : "",
                      r.val_top1 >= 0 ? fmt::format("{:.2f}", 100 * r.val_top1) : "",
                      r.parameters >= 0 ? std::to_string(r.parameters) : "",
                      r.multiply_adds >= 0 ? std::to_string(r.multiply_adds) : "", r.cpu_hours, r.wall_hours,
                      fs::path(r.run->dir).lexically_relative(out).string());
  }
  core::write_file_atomic((fs::path(out) / "results.md").string(), md);
}

}  // namespace daas::experiment
