#pragma once
// An experiment plan: named conditions, each a search and/or a retrain over a
// list of seeds, read from YAML. Settings use the keys (and the checks) of
// `daas search` and `daas train`; values resolve as
//   struct default < profile < plan-wide section < condition's section < seed.
// A retrain may take its genotype and/or policy from a search of the plan
// (`search` = its own condition's, `search:NAME` = condition NAME's, same
// seed), or draw a uniformly random genotype per seed (`random`).
//
//   profile: fashion            # base profile (a name under configs/ or a file)
//   baseline: random            # compared with the other retrains seed by seed
//                               # (default: the first condition with a retrain)
//   seeds: [0, 1, 2]            # default seeds of every condition
//   search: {epochs: 20}        # settings of every condition's search
//   train: {epochs: 10}         # settings of every condition's retrain
//   conditions:
//     - name: joint
//       search: {mode: joint}
//       train: {genotype: search, policy: search}
//     - name: random
//       train: {genotype: random}
#include <cstdint>
#include <string>
#include <vector>

#include "daas/core/config.h"
#include "daas/search/search.h"
#include "daas/train/train.h"

namespace daas::experiment {

/// Where a retrain's genotype or policy comes from.
struct Source {
  enum class Kind {
    kSetting,  // the setting's own value (a built-in name, a file, ...)
    kSearch,   // the search run of `condition` at the same seed
    kRandom,   // genotype only: random:SEED with the run's seed
  };
  Kind kind = Kind::kSetting;
  std::string condition;  // kSearch
};

struct Condition {
  std::string name;
  std::vector<int64_t> seeds;
  bool has_search = false;
  bool has_train = false;
  core::Settings search;  // the plan-wide section, then the condition's (origins name the plan path)
  core::Settings train;
  Source genotype;            // of the retrain
  Source policy;              // of the retrain
  std::string genotype_text;  // the retrain's genotype and policy as the plan writes them
  std::string policy_text;
};

struct Plan {
  std::string path;
  std::string text;  // the file as read
  std::string profile = "fashion";
  std::vector<Condition> conditions;
  // The condition every other retrain is compared with, seed by seed
  // (`baseline:`; default the first condition with a retrain); empty when no
  // condition retrains.
  std::string baseline;

  const Condition* find(const std::string& name) const;
};

/// Reads and checks a plan: its structure (unknown keys, lists, names,
/// seeds), every setting against the option tables of search and train, and
/// the references between conditions. Fails naming the plan path of the
/// first problem ("conditions[2].train.epoch").
Plan read_plan(const std::string& path);

/// Makes `name` the condition every other retrain is compared with, in
/// place of the plan's `baseline:` (the command line's --baseline); fails
/// unless a condition of that name has a retrain.
void set_baseline(Plan& plan, const std::string& name);

/// One search or retrain of the plan.
struct Run {
  const Condition* condition = nullptr;
  int64_t seed = 0;
  bool is_search = false;  // else a retrain
  std::string dir;         // <out>/<condition>/seed<N>/{search,train}
  search::SearchOptions search;
  train::TrainOptions train;
  std::vector<std::string> search_dirs;  // retrain: the searches it takes genotype/policy from

  std::string kind() const { return is_search ? "search" : "train"; }
  std::string label() const;  // "joint seed 0 search"
};

/// Every run of the plan with its settings resolved, in execution order:
/// seed by seed, conditions in plan order, a condition's search before its
/// retrain, and a search another retrain needs before that retrain. `out` is
/// the experiment folder (made absolute); `overrides` (e.g. threads from the
/// command line) apply to every run last. Fails like read_plan on settings
/// that cannot work (schedules, network size, policy and genotype names).
std::vector<Run> plan_runs(const Plan& plan, const std::string& out, const core::Settings& overrides = {});

}  // namespace daas::experiment
