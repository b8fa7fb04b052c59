#include "daas/core/metrics.h"

#include <fstream>
#include <sstream>

#include "daas/core/error.h"
#include "daas/core/files.h"
#include "daas/core/json.h"
#include "daas/core/parallel.h"

namespace daas::core {

MetricsLog::MetricsLog(std::string path, int64_t keep_until_epoch) : path_(std::move(path)) {
  std::string kept;
  if (keep_until_epoch >= 0 && file_exists(path_)) {
    for (const auto& record : read_metrics(path_)) {
      if (record.value("epoch", int64_t{0}) <= keep_until_epoch) kept += record.dump() + "\n";
    }
  }
  write_file_atomic(path_, kept);
}

void MetricsLog::append(const nlohmann::json& record) {
  if (!writes_run_files()) return;  // rank 0 alone writes the run folder
  std::ofstream out(path_, std::ios::app);
  if (!out) fail("{}: cannot append metrics", path_);
  out << record.dump() << '\n';
  out.flush();
  if (!out) fail("{}: cannot append metrics (disk full?)", path_);
}

std::vector<nlohmann::json> read_metrics(const std::string& path) {
  std::istringstream in(read_file(path));
  std::vector<nlohmann::json> records;
  int64_t number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.empty()) continue;
    const std::string source = fmt::format("{}: line {}", path, number);
    nlohmann::json record;
    try {
      record = parse_json(line, source);
    } catch (const Error&) {
      // A crash can cut the last line short; anything else is corruption.
      if (in.peek() == EOF) break;
      throw;
    }
    // Readers take the epoch number as it is; it is checked once, here.
    check(record.is_object(), "{} is {}; expected a JSON object", source, json_excerpt(record));
    if (record.contains("epoch")) integer_field(record, "epoch", source, 0);
    records.push_back(std::move(record));
  }
  return records;
}

}  // namespace daas::core
