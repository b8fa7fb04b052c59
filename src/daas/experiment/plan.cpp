#include "daas/experiment/plan.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "daas/augment/policy.h"
#include "daas/core/error.h"
#include "daas/core/files.h"
#include "daas/nas/genotype.h"
#include "daas/train/model.h"

namespace fs = std::filesystem;

namespace daas::experiment {
namespace {

constexpr const char* kSearchSource = "search";
constexpr const char* kSearchPrefix = "search:";
constexpr const char* kRandomSource = "random";

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

/// The names of the plan's conditions with a retrain.
std::vector<std::string> retrain_names(const Plan& plan) {
  std::vector<std::string> retrains;
  for (const auto& condition : plan.conditions) {
    if (condition.has_train) retrains.push_back(condition.name);
  }
  return retrains;
}

/// What a baseline must be, for messages.
std::string expected_baseline(const Plan& plan) {
  const auto retrains = retrain_names(plan);
  return retrains.empty() ? std::string("no condition has a retrain to compare with")
                          : "expected the name of a condition with a retrain (" + joined(retrains) + ")";
}

/// `name` if it names a condition with a retrain; fails naming `where`.
std::string checked_baseline(const Plan& plan, const std::string& name, const std::string& where) {
  const Condition* baseline = plan.find(name);
  const std::string expected = expected_baseline(plan);
  core::check(baseline != nullptr, "{} '{}': no condition of that name; {}", where, name, expected);
  core::check(baseline->has_train, "{} '{}' has no retrain; {}", where, name, expected);
  return name;
}

/// The baseline condition's name: `node` (a condition with a retrain), or
/// without it the first condition with a retrain; empty when none retrains.
std::string read_baseline(const YAML::Node& node, const Plan& plan) {
  const auto retrains = retrain_names(plan);
  if (!node) return retrains.empty() ? std::string() : retrains.front();
  core::check(node.IsScalar(), "plan {}: baseline is {}; {}", plan.path,
              node.IsSequence() ? "a list"
              : node.IsMap()    ? "a mapping"
                                : "empty",
              expected_baseline(plan));
  return checked_baseline(plan, node.as<std::string>(), fmt::format("plan {}: baseline", plan.path));
}

/// Fails unless every key of `node` (a mapping) is one of `allowed`.
void check_keys(const YAML::Node& node, const std::string& where, const std::vector<std::string>& allowed) {
  std::set<std::string> seen;
  for (const auto& item : node) {
    core::check(item.first.IsScalar(), "{}: a key is not a name", where);
    const auto key = item.first.as<std::string>();
    core::check(std::find(allowed.begin(), allowed.end(), key) != allowed.end(), "{}: unknown key '{}'; expected {}",
                where, key, joined(allowed));
    core::check(seen.insert(key).second, "{}: key '{}' is given twice; expected each key once", where, key);
  }
}

/// A list of distinct seeds in [0, 2^32).
std::vector<int64_t> read_seeds(const YAML::Node& node, const std::string& where) {
  core::check(node.IsSequence() && node.size() > 0, "{}: expected a non-empty list of seeds, e.g. [0, 1, 2]", where);
  std::vector<int64_t> seeds;
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string text = node[i].IsScalar() ? node[i].as<std::string>() : std::string();
    bool valid = !text.empty() && text.size() <= 10 && text.find_first_not_of("0123456789") == std::string::npos;
    const int64_t seed = valid ? std::stoll(text) : -1;
    valid = valid && seed <= 4294967295LL;
    core::check(valid, "{}[{}]: '{}' is not a seed; expected an integer in [0, 4294967295]", where, i, text);
    core::check(std::find(seeds.begin(), seeds.end(), seed) == seeds.end(), "{}[{}]: seed {} is listed twice", where, i,
                seed);
    seeds.push_back(seed);
  }
  return seeds;
}

/// The scalars of a section (`search:` or `train:`) as settings whose origin
/// is their plan path. `seed` and `out` belong to the experiment.
void read_section(const YAML::Node& node, const std::string& plan, const std::string& where, core::Settings& settings) {
  core::check(node.IsMap() || node.IsNull(), "plan {}: {} is not a mapping of settings", plan, where);
  if (node.IsNull()) return;
  std::set<std::string> seen;
  for (const auto& item : node) {
    core::check(item.first.IsScalar(), "plan {}: a key of {} is not a name", plan, where);
    const auto key = item.first.as<std::string>();
    const std::string path = where + "." + key;
    core::check(seen.insert(key).second, "plan {}: setting '{}' is given twice; expected each setting once", plan,
                path);
    core::check(key != "seed", "plan {}: setting '{}': a run's seed comes from the seeds list; expected seeds: [...]",
                plan, path);
    core::check(key != "out", "plan {}: setting '{}': a run's folder is set by the experiment (--out); remove it", plan,
                path);
    core::check(!item.second.IsNull(), "plan {}: setting '{}' has no value", plan, path);
    core::check(item.second.IsScalar(), "plan {}: setting '{}' is a {}; expected a single value", plan, path,
                item.second.IsSequence() ? "list" : "mapping");
    settings.set(key, item.second.as<std::string>(), "plan " + plan + ": " + path);
  }
}

void merge(core::Settings& into, const core::Settings& from) {
  for (const auto& [key, entry] : from.entries()) into.set(key, entry.value, entry.origin);
}

/// A condition name is a folder name: letters, digits, '.', '_', '-'.
bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '.' || name[0] == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

Source parse_source(const std::string& value, const std::string& own) {
  Source source;
  if (value == kSearchSource) {
    source.kind = Source::Kind::kSearch;
    source.condition = own;
  } else if (value.rfind(kSearchPrefix, 0) == 0) {
    source.kind = Source::Kind::kSearch;
    source.condition = value.substr(std::string(kSearchPrefix).size());
  } else if (value == kRandomSource) {
    source.kind = Source::Kind::kRandom;
  }
  return source;
}

template <typename T>
T resolve(const core::OptionTable<T>& table, const std::string& profile, const std::string& section,
          const core::Settings& settings,
          const std::vector<std::pair<std::string, std::pair<std::string, std::string>>>& set) {
  core::Settings all = core::Settings::from_profile(profile, section);
  merge(all, settings);
  for (const auto& [key, value_origin] : set) all.set(key, value_origin.first, value_origin.second);
  T options;
  table.apply(all, options);
  return options;
}

std::string seed_dir(const std::string& out, const Condition& condition, int64_t seed) {
  return (fs::path(out) / condition.name / ("seed" + std::to_string(seed))).string();
}

}  // namespace

const Condition* Plan::find(const std::string& name) const {
  for (const auto& condition : conditions) {
    if (condition.name == name) return &condition;
  }
  return nullptr;
}

void set_baseline(Plan& plan, const std::string& name) { plan.baseline = checked_baseline(plan, name, "--baseline"); }

std::string Run::label() const { return fmt::format("{} seed {} {}", condition->name, seed, kind()); }

Plan read_plan(const std::string& path) {
  Plan plan;
  plan.path = path;
  core::check(fs::is_regular_file(path), "plan {}: no such file; expected an experiment plan (YAML)", path);
  plan.text = core::read_file(path);
  YAML::Node root;
  try {
    root = YAML::Load(plan.text);
  } catch (const YAML::Exception& e) {
    core::fail("plan {}: invalid YAML ({})", path, e.what());
  }
  core::check(root.IsMap(), "plan {}: expected a mapping with 'conditions' at the top level", path);
  check_keys(root, "plan " + path, {"profile", "seeds", "search", "train", "conditions", "baseline"});
  if (root["profile"]) {
    core::check(root["profile"].IsScalar(), "plan {}: profile is not a name; expected a profile name or file", path);
    plan.profile = root["profile"].as<std::string>();
  }
  core::resolve_profile(plan.profile);
  std::vector<int64_t> default_seeds;
  if (root["seeds"]) default_seeds = read_seeds(root["seeds"], "plan " + path + ": seeds");
  core::Settings search_defaults, train_defaults;
  if (root["search"]) read_section(root["search"], path, "search", search_defaults);
  if (root["train"]) read_section(root["train"], path, "train", train_defaults);

  const YAML::Node conditions = root["conditions"];
  core::check(conditions && conditions.IsSequence() && conditions.size() > 0,
              "plan {}: expected 'conditions', a non-empty list of conditions (name, search and/or train, seeds)",
              path);
  for (size_t i = 0; i < conditions.size(); ++i) {
    const YAML::Node node = conditions[i];
    std::string where = fmt::format("conditions[{}]", i);
    core::check(node.IsMap(), "plan {}: {} is not a mapping; expected name, search and/or train, seeds", path, where);
    check_keys(node, "plan " + path + ": " + where, {"name", "seeds", "search", "train"});
    Condition condition;
    core::check(node["name"] && node["name"].IsScalar(), "plan {}: {} has no name", path, where);
    condition.name = node["name"].as<std::string>();
    core::check(valid_name(condition.name),
                "plan {}: {}.name '{}' is not a folder name; expected letters, digits, '.', '_' or '-' (at most 64)",
                path, where, condition.name);
    core::check(plan.find(condition.name) == nullptr, "plan {}: {}.name '{}' is used twice; expected distinct names",
                path, where, condition.name);
    where = "conditions." + condition.name;
    condition.seeds =
        node["seeds"] ? read_seeds(node["seeds"], "plan " + path + ": " + where + ".seeds") : default_seeds;
    core::check(!condition.seeds.empty(), "plan {}: {} has no seeds; expected seeds: [...] in it or at the top level",
                path, where);
    condition.has_search = static_cast<bool>(node["search"]);
    condition.has_train = static_cast<bool>(node["train"]);
    core::check(condition.has_search || condition.has_train,
                "plan {}: {} has neither search nor train; expected one or both", path, where);
    if (condition.has_search) {
      condition.search = search_defaults;
      read_section(node["search"], path, where + ".search", condition.search);
    }
    if (condition.has_train) {
      condition.train = train_defaults;
      read_section(node["train"], path, where + ".train", condition.train);
    }
    plan.conditions.push_back(std::move(condition));
  }
  plan.baseline = read_baseline(root["baseline"], plan);

  // Settings against the tables, and the retrains' sources.
  const auto search_options = search::settings_table();
  const auto train_options = train::settings_table();
  for (auto& condition : plan.conditions) {
    if (condition.has_search) resolve(search_options, plan.profile, "search", condition.search, {});
    if (!condition.has_train) continue;
    const auto options = resolve(train_options, plan.profile, "train", condition.train, {});
    condition.genotype_text = options.genotype;
    condition.policy_text = options.policy;
    condition.genotype = parse_source(options.genotype, condition.name);
    condition.policy = parse_source(options.policy, condition.name);
    const std::string where = "plan " + path + ": conditions." + condition.name + ".train";
    core::check(
        condition.policy.kind != Source::Kind::kRandom,
        "{}.policy 'random': a random policy is not drawn; expected a policy name, file:PATH, search or search:NAME",
        where);
    for (const auto& [what, source] : {std::pair<const char*, const Source*>{"genotype", &condition.genotype},
                                       std::pair<const char*, const Source*>{"policy", &condition.policy}}) {
      if (source->kind != Source::Kind::kSearch) continue;
      const Condition* from = plan.find(source->condition);
      core::check(from != nullptr, "{}.{} '{}': no condition named '{}' in the plan", where, what,
                  std::string(what) == "genotype" ? condition.genotype_text : condition.policy_text, source->condition);
      core::check(from->has_search, "{}.{}: condition '{}' has no search to take the {} from", where, what, from->name,
                  what);
      const auto searched = resolve(search_options, plan.profile, "search", from->search, {});
      const bool gives = std::string(what) == "genotype" ? searched.mode != "policy" : searched.mode != "arch";
      core::check(gives, "{}.{}: the search of '{}' runs in mode {}, which finds no {} (expected mode joint or {})",
                  where, what, from->name, searched.mode, what, std::string(what) == "genotype" ? "arch" : "policy");
      for (const int64_t seed : condition.seeds) {
        core::check(std::find(from->seeds.begin(), from->seeds.end(), seed) != from->seeds.end(),
                    "{}.{}: condition '{}' has no seed {} (its seeds are the ones each retrain takes its search from)",
                    where, what, from->name, seed);
      }
    }
  }
  return plan;
}

std::vector<Run> plan_runs(const Plan& plan, const std::string& out, const core::Settings& overrides) {
  const std::string root = fs::absolute(out).lexically_normal().string();
  const auto search_options = search::settings_table();
  const auto train_options = train::settings_table();
  std::set<int64_t> seeds;
  for (const auto& condition : plan.conditions) seeds.insert(condition.seeds.begin(), condition.seeds.end());

  std::vector<Run> runs;
  std::set<std::string> listed;
  auto common = [&](const Condition& condition, int64_t seed, const std::string& dir) {
    std::vector<std::pair<std::string, std::pair<std::string, std::string>>> set = {
        {"seed", {std::to_string(seed), fmt::format("plan {}: conditions.{}.seeds", plan.path, condition.name)}},
        {"out", {dir, "the experiment folder"}}};
    for (const auto& [key, entry] : overrides.entries()) set.push_back({key, {entry.value, entry.origin}});
    return set;
  };
  auto add_search = [&](const Condition& condition, int64_t seed) {
    Run run;
    run.condition = &condition;
    run.seed = seed;
    run.is_search = true;
    run.dir = (fs::path(seed_dir(root, condition, seed)) / "search").string();
    if (!listed.insert(run.dir).second) return;
    run.search = resolve(search_options, plan.profile, "search", condition.search, common(condition, seed, run.dir));
    search::validate(run.search);
    runs.push_back(std::move(run));
  };
  auto add_train = [&](const Condition& condition, int64_t seed) {
    Run run;
    run.condition = &condition;
    run.seed = seed;
    run.dir = (fs::path(seed_dir(root, condition, seed)) / "train").string();
    auto set = common(condition, seed, run.dir);
    const std::string origin = fmt::format("plan {}: conditions.{}.train", plan.path, condition.name);
    auto source_value = [&](const Source& source, const std::string& key) {
      if (source.kind == Source::Kind::kRandom) {
        set.push_back({key, {nas::kRandomGenotypePrefix + std::to_string(seed), origin + "." + key}});
      } else if (source.kind == Source::Kind::kSearch) {
        const Condition* from = plan.find(source.condition);
        add_search(*from, seed);
        const std::string dir = (fs::path(seed_dir(root, *from, seed)) / "search").string();
        if (std::find(run.search_dirs.begin(), run.search_dirs.end(), dir) == run.search_dirs.end()) {
          run.search_dirs.push_back(dir);
        }
        set.push_back({key, {dir, origin + "." + key}});
      }
    };
    source_value(condition.genotype, "genotype");
    source_value(condition.policy, "policy");
    run.train = resolve(train_options, plan.profile, "train", condition.train, set);
    const auto& o = run.train;
    core::check(o.lr_min <= o.lr, "{}: lr_min {} is above lr {}; expected lr_min <= lr", origin, o.lr_min, o.lr);
    train::check_network_size(o.channels, o.layers, origin + ".channels/layers");
    core::resolve_device(o.device);
    // A genotype or policy that does not resolve names its place in the plan.
    const auto at = [&](const std::string& key, const std::function<void()>& check) {
      try {
        check();
      } catch (const core::Error& e) {
        core::fail("{}.{}: {}", origin, key, e.what());
      }
    };
    if (condition.genotype.kind == Source::Kind::kSetting) at("genotype", [&] { train::resolve_genotype(o.genotype); });
    if (condition.policy.kind == Source::Kind::kSetting) {
      at("policy", [&] { train::resolve_policy(o.policy, o.policy_sampling, augment::PolicyOptions{}); });
      at("base_policy", [&] { augment::make_policy(o.base_policy); });
    }
    runs.push_back(std::move(run));
  };
  for (const int64_t seed : seeds) {
    for (const auto& condition : plan.conditions) {
      if (std::find(condition.seeds.begin(), condition.seeds.end(), seed) == condition.seeds.end()) continue;
      if (condition.has_search) add_search(condition, seed);
      if (condition.has_train) add_train(condition, seed);
    }
  }
  return runs;
}

}  // namespace daas::experiment
