#include "daas/report/run.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "daas/core/config.h"
#include "daas/core/error.h"
#include "daas/core/files.h"
#include "daas/core/json.h"

namespace fs = std::filesystem;

namespace daas::report {
namespace {

template <typename T>
core::OptionTable<T> option_table() {
  if constexpr (std::is_same_v<T, search::SearchOptions>) {
    return search::settings_table();
  } else {
    return train::settings_table();
  }
}

/// Settings from a profile file or name, section `section`, over T's defaults.
template <typename T>
T typed_settings(const std::string& profile, const std::string& section) {
  T values;
  option_table<T>().apply(core::Settings::from_profile(profile, section), values);
  return values;
}

std::string first_error_line(const std::exception& e) {
  std::string text = e.what();
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

/// The typed settings of the run and how they differ from its profile.
template <typename T>
void read_typed(RunFolder& run, const std::string& config_path, std::optional<T>& typed) {
  const auto table = option_table<T>();
  try {
    typed = typed_settings<T>(config_path, run.kind);
  } catch (const std::exception& e) {
    run.notes.push_back(fmt::format("config.yaml: {}; settings shown as written", first_error_line(e)));
    return;
  }
  if (run.profile.empty()) {
    return;  // written by another command (an experiment): nothing to compare with
  }
  std::error_code ec;
  std::string profile_path;
  try {
    profile_path = core::resolve_profile(run.profile);
  } catch (const std::exception& e) {
    run.notes.push_back(fmt::format("profile '{}' cannot be read here ({}); settings are not compared with it",
                                    run.profile, first_error_line(e)));
    return;
  }
  if (fs::equivalent(profile_path, config_path, ec)) {
    run.notes.push_back(
        "config.yaml names itself as the profile (a resumed run); settings are not compared with the original "
        "profile");
    return;
  }
  try {
    const T profile = typed_settings<T>(run.profile, run.kind);
    std::vector<SettingChange> changes;
    for (const auto& option : table.options()) {
      if (option.key == "out") continue;
      const std::string value = table.value_text(*typed, option);
      const std::string was = table.value_text(profile, option);
      if (value != was) changes.push_back({option.key, value, was});
    }
    run.changes = std::move(changes);
  } catch (const std::exception& e) {
    run.notes.push_back(
        fmt::format("profile '{}': {}; settings are not compared with it", run.profile, first_error_line(e)));
  }
}

/// What the header's parentheses say: "profile smoke", "experiment ...".
std::string origin_of(const std::string& header) {
  const auto start = header.find('(');
  const auto end = header.rfind(')');
  if (start == std::string::npos || end == std::string::npos || end < start) return {};
  return header.substr(start + 1, end - start - 1);
}

std::string profile_of(const std::string& header) {
  const std::string marker = "(profile ";
  const auto start = header.find(marker);
  if (start == std::string::npos) return {};
  const auto end = header.find(')', start);
  if (end == std::string::npos) return {};
  return header.substr(start + marker.size(), end - start - marker.size());
}

void read_genotype(RunFolder& run) {
  const bool search = run.kind == "search";
  const std::string name = search ? "genotype.json" : "genotype.txt";
  const auto path = fs::path(run.dir) / name;
  if (!fs::exists(path)) {
    if (!run.metrics.lines.empty() || !search) {
      run.notes.push_back(fmt::format("{}: missing; the cells are not drawn", name));
    }
    return;
  }
  try {
    run.genotype = nas::load_genotype(path.string());
  } catch (const std::exception& e) {
    run.notes.push_back(fmt::format("{}: {}; the cells are not drawn", name, first_error_line(e)));
  }
}

void note_records(RunFolder& run, const Records& records, const std::string& name, const std::string& missing) {
  for (const auto& problem : records.problems) run.notes.push_back(name + ": " + problem);
  if (!records.present && !missing.empty()) run.notes.push_back(name + ": missing; " + missing);
}

}  // namespace

Records read_records(const std::string& path) {
  Records records;
  if (!fs::is_regular_file(path)) return records;
  records.present = true;
  std::string text;
  try {
    text = core::read_file(path);
  } catch (const std::exception& e) {
    records.problems.push_back(first_error_line(e));
    return records;
  }
  std::istringstream in(text);
  int64_t number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.empty()) continue;
    const bool last = in.eof();
    try {
      auto record = core::parse_json(line, path);
      if (!record.is_object()) {
        records.problems.push_back(fmt::format("line {} is not a JSON object; skipped", number));
        continue;
      }
      records.lines.push_back(std::move(record));
    } catch (const std::exception&) {
      records.problems.push_back(
          last ? fmt::format("line {} is cut short (the run stopped while writing it); skipped", number)
               : fmt::format("line {} is not valid JSON; skipped", number));
    }
  }
  return records;
}

std::optional<double> number(const nlohmann::json& record, const std::string& key) {
  if (!record.is_object()) return std::nullopt;
  const auto found = record.find(key);
  if (found == record.end() || !found->is_number()) return std::nullopt;
  const double value = found->get<double>();
  if (!std::isfinite(value)) return std::nullopt;
  return value;
}

std::optional<int64_t> whole_number(const nlohmann::json& record, const std::string& key) {
  // 2^53: every whole number up to it is exact as a double. A double beyond
  // int64_t (1e300 in a damaged line) would be undefined behaviour to convert.
  constexpr int64_t kLimit = int64_t{1} << 53;
  if (!record.is_object()) return std::nullopt;
  const auto found = record.find(key);
  if (found == record.end()) return std::nullopt;
  if (found->is_number_unsigned()) {
    const auto value = found->get<uint64_t>();
    if (value > static_cast<uint64_t>(kLimit)) return std::nullopt;
    return static_cast<int64_t>(value);
  }
  if (found->is_number_integer()) {
    const auto value = found->get<int64_t>();
    if (value < -kLimit || value > kLimit) return std::nullopt;
    return value;
  }
  const auto value = number(record, key);
  if (!value || std::trunc(*value) != *value || std::fabs(*value) > static_cast<double>(kLimit)) return std::nullopt;
  return static_cast<int64_t>(*value);
}

std::string RunFolder::setting(const std::string& key) const {
  for (const auto& [k, v] : settings) {
    if (k == key) return v;
  }
  return {};
}

std::string RunFolder::label() const {
  const fs::path path = fs::path(dir).lexically_normal();
  fs::path name = path.filename();
  if (name.empty()) name = path.parent_path().filename();
  const fs::path parent = (path.filename().empty() ? path.parent_path() : path).parent_path().filename();
  if ((name == "search" || name == "train") && !parent.empty()) return (parent / name).string();
  return name.string();
}

int64_t RunFolder::planned_epochs() const {
  if (search) return search->epochs;
  if (train && kind == "train") return train->epochs;
  return 0;
}

std::string run_kind(const std::string& dir) {
  try {
    const std::string kind = core::read_run_header(dir).kind;
    if (kind == "search" || kind == "train") return kind;
  } catch (const std::exception&) {
    // An unreadable config.yaml: not a run this report can show.
  }
  return {};
}

RunFolder read_run(const std::string& dir) {
  core::check(fs::exists(dir), "{}: not found; expected a daas search or train run folder", dir);
  core::check(fs::is_directory(dir), "{}: not a folder; expected a daas search or train run folder", dir);
  RunFolder run;
  run.dir = dir;
  run.kind = run_kind(dir);
  core::check(
      !run.kind.empty(),
      "{}: not a daas run folder (no config.yaml written by daas search or daas train); expected the --out folder "
      "of a search or a train run",
      dir);
  const std::string config_path = (fs::path(dir) / "config.yaml").string();
  const std::string head = core::read_file_head(config_path, 512);
  run.profile = profile_of(head.substr(0, head.find('\n')));
  run.origin = origin_of(head.substr(0, head.find('\n')));
  try {
    const YAML::Node root = YAML::LoadFile(config_path);
    if (root.IsMap()) {
      for (const auto& item : root) {
        if (item.first.IsScalar() && item.second.IsScalar()) {
          run.settings.emplace_back(item.first.as<std::string>(), item.second.as<std::string>());
        }
      }
    }
  } catch (const std::exception& e) {
    run.notes.push_back(fmt::format("config.yaml: not readable as YAML ({})", first_error_line(e)));
  }

  run.metrics = read_records((fs::path(dir) / "metrics.jsonl").string());
  note_records(run, run.metrics, "metrics.jsonl", "no epoch has finished, so there are no curves");
  if (run.metrics.present && run.metrics.lines.empty()) {
    run.notes.push_back(
        "metrics.jsonl: no epoch has finished yet (the run stopped before its first epoch ended, or "
        "is still in it), so there are no curves");
  }

  if (run.kind == "search") {
    read_typed(run, config_path, run.search);
    // The network a search's genotype is retrained as: the profile's train settings.
    try {
      if (!run.profile.empty() && run.changes) run.train = typed_settings<train::TrainOptions>(run.profile, "train");
    } catch (const std::exception&) {
      run.train.reset();
    }
    const bool has_alpha = !run.search || run.search->mode != "policy";
    const bool has_policy = !run.search || run.search->mode != "arch";
    const std::string after_epochs = run.metrics.lines.empty() ? "" : "written every epoch by daas search; ";
    if (has_alpha) {
      run.alpha = read_records((fs::path(dir) / "alpha.jsonl").string());
      note_records(run, run.alpha, "alpha.jsonl",
                   run.metrics.lines.empty() ? "" : after_epochs + "α over the epochs is not shown");
    }
    if (has_policy) {
      run.policy = read_records((fs::path(dir) / "policy_history.jsonl").string());
      note_records(run, run.policy, "policy_history.jsonl",
                   run.metrics.lines.empty() ? "" : after_epochs + "the policy over the epochs is not shown");
    }
  } else {
    read_typed(run, config_path, run.train);
    const auto evaluation = fs::path(dir) / "evaluation.json";
    if (fs::exists(evaluation)) {
      try {
        run.evaluation = core::parse_json(core::read_file(evaluation.string()), evaluation.string());
        if (!run.evaluation.is_object()) {
          run.notes.push_back("evaluation.json: not a JSON object; per-class accuracy and confusion not shown");
          run.evaluation = nullptr;
        }
      } catch (const std::exception& e) {
        run.notes.push_back(
            fmt::format("evaluation.json: {}; per-class accuracy and confusion not shown", first_error_line(e)));
      }
    } else if (!run.metrics.lines.empty()) {
      run.notes.push_back(fmt::format(
          "evaluation.json: missing (written when a retraining ends); per-class accuracy and confusion not shown "
          "(daas eval --model {} --json {} writes it)",
          dir, (fs::path(dir) / "evaluation.json").string()));
    }
  }
  read_genotype(run);
  return run;
}

std::vector<std::string> find_run_folders(const std::vector<std::string>& paths) {
  std::vector<std::string> runs;
  for (const auto& path : paths) {
    core::check(fs::exists(path), "{}: not found; expected a daas run folder (or a folder of runs)", path);
    core::check(fs::is_directory(path), "{}: not a folder; expected a daas run folder (or a folder of runs)", path);
    if (!run_kind(path).empty()) {
      runs.push_back(path);
      continue;
    }
    std::vector<std::string> found;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (it.depth() > 2) {
        it.disable_recursion_pending();
        continue;
      }
      if (it->is_directory(ec) && !run_kind(it->path().string()).empty()) {
        found.push_back(it->path().string());
        it.disable_recursion_pending();
      }
    }
    core::check(
        !found.empty(),
        "{}: not a daas run folder (no config.yaml written by daas search or daas train) and no run folders inside "
        "it; expected the --out folder of a search or a train run, or a folder of such runs",
        path);
    std::sort(found.begin(), found.end());
    runs.insert(runs.end(), found.begin(), found.end());
  }
  return runs;
}

}  // namespace daas::report
