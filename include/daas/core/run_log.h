#pragma once
// run.log: the console log of a run kept in its folder. While a RunLog is
// alive every message of spdlog's default logger also goes to the file
// (with the date), flushed line by line so that a killed run keeps what it
// said; print() shows a result on stdout and logs it to the file too.
// In a run over several processes only rank 0 keeps the log (and prints
// results); on the other ranks a RunLog does nothing.
#include <spdlog/sinks/basic_file_sink.h>

#include <memory>
#include <string>

namespace daas::core {

class RunLog {
 public:
  /// Opens `path`: appended to with `append` (a resumed run), else started afresh.
  RunLog(const std::string& path, bool append);
  ~RunLog();
  RunLog(const RunLog&) = delete;
  RunLog& operator=(const RunLog&) = delete;

  /// Writes `text` to stdout as it is, and each of its lines to the file.
  void print(const std::string& text);
  /// Writes an error line to the file only (the console shows the error
  /// where the program catches it).
  void record_error(const std::string& message);
  const std::string& path() const { return path_; }

  static constexpr const char* kFileName = "run.log";

 private:
  void write(int level, const std::string& line);

  std::string path_;
  std::shared_ptr<spdlog::sinks::basic_file_sink_mt> sink_;
  int previous_flush_level_;
};

}  // namespace daas::core
