#include "daas/core/progress.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

namespace daas::core {
namespace {

std::string format_duration(double seconds) {
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}m{:02}s", s / 60, s % 60);
}

}  // namespace

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      tty_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::advance(int64_t n, const std::string& fields) {
  done_ += n;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since >= (tty_ ? 0.2 : 10.0)) {
    last_draw_ = now;
    draw(fields, false);
  }
}

void Progress::skip(int64_t n) {
  done_ += n;
  skipped_ += n;
}

void Progress::finish(const std::string& fields) { draw(fields, true); }

void Progress::draw(const std::string& fields, bool final) {
  // The progress line is an info line: --quiet or a log level above info
  // hides it.
  if (!spdlog::should_log(spdlog::level::info)) return;
  const double elapsed = elapsed_seconds();
  const double rate = elapsed > 0 ? static_cast<double>(done_ - skipped_) / elapsed : 0.0;
  const double eta = rate > 0 && total_ > done_ ? static_cast<double>(total_ - done_) / rate : 0.0;
  std::string line = fmt::format("{} {}/{} {:.2f} {}/s {} {}", label_, done_, total_, rate, unit_,
                                 final ? "in " + format_duration(elapsed) : "eta " + format_duration(eta), fields);
  if (tty_ && !final) {
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    std::fflush(stderr);
    return;
  }
  // The final line is a log message (it then also reaches run.log).
  if (tty_) std::fprintf(stderr, "\r\033[K");
  spdlog::info("{}", line);
}

}  // namespace daas::core
