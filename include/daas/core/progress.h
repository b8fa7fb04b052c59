#pragma once
// A progress line for long loops: count, rate, ETA and caller-supplied
// fields. Redrawn in place on a terminal, logged every few seconds otherwise;
// the final line is always a log message (so it reaches run.log too).
#include <chrono>
#include <cstdint>
#include <string>

namespace daas::core {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "step");
  /// Advances by `n` and redraws if due; `fields` is appended ("loss 0.52 acc 81.2%").
  void advance(int64_t n = 1, const std::string& fields = "");
  /// Counts `n` as done before this run (a resumed epoch): shown in the
  /// count, left out of the rate.
  void skip(int64_t n);
  /// Ends the line.
  void finish(const std::string& fields = "");
  double elapsed_seconds() const;

 private:
  void draw(const std::string& fields, bool final);

  std::string label_;
  int64_t total_;
  std::string unit_;
  int64_t done_ = 0;
  int64_t skipped_ = 0;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace daas::core
