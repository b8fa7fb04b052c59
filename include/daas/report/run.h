#pragma once
// A run folder as `daas report` reads it: what kind of run it is (from the
// first line of its config.yaml), its settings, the records it wrote
// (metrics.jsonl, alpha.jsonl, policy_history.jsonl), its genotype and, for a
// retraining, its evaluation. Reading never stops at a damaged or missing
// file: what cannot be read is noted, and the report says so.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "daas/nas/genotype.h"
#include "daas/search/search.h"
#include "daas/train/train.h"

namespace daas::report {

/// A JSON-lines file: the records that parse as JSON objects, and a note for
/// each line that does not (a run killed while writing cuts its last line).
struct Records {
  bool present = false;
  std::vector<nlohmann::json> lines;
  std::vector<std::string> problems;
};

/// Reads `path` line by line; a missing file gives present = false.
Records read_records(const std::string& path);

/// A number field of a record, if it holds one (never throws).
std::optional<double> number(const nlohmann::json& record, const std::string& key);

/// A whole-number field of a record (an epoch, a count), if it holds one of at
/// most 2^53 in magnitude: 3 or 3.0, not 2.5, 1e300 or 2^64 (never throws).
/// The sum or difference of two such numbers never overflows.
std::optional<int64_t> whole_number(const nlohmann::json& record, const std::string& key);

/// One setting that differs from the run's profile.
struct SettingChange {
  std::string key;
  std::string value;          // the run's
  std::string profile_value;  // the profile's (after the command's own defaults)
};

struct RunFolder {
  std::string dir;
  std::string kind;     // "search" or "train"
  std::string profile;  // as config.yaml's first line names it ("" when it names none)
  std::string origin;   // what that line says in parentheses ("profile smoke", "experiment ...")
  std::vector<std::pair<std::string, std::string>> settings;  // config.yaml, in its order
  std::optional<std::vector<SettingChange>> changes;          // unset when the profile cannot be read
  std::optional<search::SearchOptions> search;                // the settings, typed (search runs)
  std::optional<train::TrainOptions> train;                   // the settings, typed (train runs; the profile's
                                                              // retraining settings for a search run)
  Records metrics, alpha, policy;
  std::optional<nas::Genotype> genotype;  // derived (search) or trained (train)
  nlohmann::json evaluation;              // train: evaluation.json, or null
  std::vector<std::string> notes;         // what is missing or damaged, one sentence each

  /// The value of a setting as written in config.yaml, or "".
  std::string setting(const std::string& key) const;
  /// The folder's name for tables and titles (its last one or two components).
  std::string label() const;
  /// Epochs the settings ask for (0 if unknown).
  int64_t planned_epochs() const;
};

/// The kind of run `dir` holds ("search", "train") from its config.yaml's
/// first line ("# daas search (profile smoke)"), or "" when it holds none.
std::string run_kind(const std::string& dir);

/// Reads a run folder. Fails with one clear message when `dir` is not a
/// folder or holds no config.yaml written by daas search or daas train.
RunFolder read_run(const std::string& dir);

/// The run folders that `paths` name: a run folder is itself; any other
/// folder stands for the run folders inside it, three levels deep (an
/// experiment's condition/seed/search, or a `make run` folder with search/
/// and train/). Fails naming
/// the path that is neither.
std::vector<std::string> find_run_folders(const std::vector<std::string>& paths);

}  // namespace daas::report
