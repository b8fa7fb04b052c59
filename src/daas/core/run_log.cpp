#include "daas/core/run_log.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "daas/core/error.h"
#include "daas/core/parallel.h"

namespace daas::core {

RunLog::RunLog(const std::string& path, bool append) : path_(path) {
  if (!writes_run_files()) return;
  try {
    sink_ = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/!append);
  } catch (const spdlog::spdlog_ex& e) {
    fail("{}: cannot open the run log ({})", path, e.what());
  }
  sink_->set_pattern("[%Y-%m-%d %H:%M:%S] %l %v");
  auto logger = spdlog::default_logger();
  previous_flush_level_ = static_cast<int>(logger->flush_level());
  logger->sinks().push_back(sink_);
  logger->flush_on(spdlog::level::trace);
}

RunLog::~RunLog() {
  if (!sink_) return;
  auto logger = spdlog::default_logger();
  auto& sinks = logger->sinks();
  sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  logger->flush_on(static_cast<spdlog::level::level_enum>(previous_flush_level_));
  sink_->flush();
}

void RunLog::write(int level, const std::string& line) {
  if (!sink_) return;
  const spdlog::details::log_msg message(spdlog::source_loc{}, spdlog::default_logger()->name(),
                                         static_cast<spdlog::level::level_enum>(level), line);
  sink_->log(message);
  sink_->flush();
}

void RunLog::print(const std::string& text) {
  if (!sink_) return;
  fmt::print("{}", text);
  std::fflush(stdout);
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) write(spdlog::level::info, line);
}

void RunLog::record_error(const std::string& message) { write(spdlog::level::err, message); }

}  // namespace daas::core
