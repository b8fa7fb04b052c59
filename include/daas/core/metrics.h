#pragma once
// metrics.jsonl: one JSON object per line, appended and flushed as a run goes.
#include <nlohmann/json.hpp>
#include <string>

namespace daas::core {

class MetricsLog {
 public:
  /// Opens `path` for appending. With `keep_until_epoch` >= 0, first drops the
  /// lines whose "epoch" is above it (a resumed run rewrites what came after
  /// its checkpoint); -1 starts the file afresh.
  MetricsLog(std::string path, int64_t keep_until_epoch);
  void append(const nlohmann::json& record);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// Reads every record of a metrics.jsonl file.
std::vector<nlohmann::json> read_metrics(const std::string& path);

}  // namespace daas::core
