#include "daas/core/interrupt.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <atomic>
#include <csignal>
#include <cstring>

#include "daas/core/parallel.h"

namespace daas::core {
namespace {

std::atomic<int> requested{0};
struct sigaction previous_int, previous_term;

extern "C" void on_stop_signal(int signal) {
  int expected = 0;
  if (requested.compare_exchange_strong(expected, signal)) return;
  // Second signal: the default action, now.
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

const char* signal_name(int signal) {
  switch (signal) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    default:
      return "a signal";
  }
}

}  // namespace

InterruptHandlers::InterruptHandlers() {
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, &previous_int);
  sigaction(SIGTERM, &action, &previous_term);
}

InterruptHandlers::~InterruptHandlers() {
  sigaction(SIGINT, &previous_int, nullptr);
  sigaction(SIGTERM, &previous_term, nullptr);
}

int interrupt_requested() { return requested.load(); }
void request_interrupt(int signal) { requested.store(signal); }
void clear_interrupt() { requested.store(0); }

int agreed_interrupt() {
  const int local = requested.load();
  if (process_count() == 1) return local;
  // One small all-reduce per step: a signal reaches the ranks at different
  // moments, and a rank stopping alone would leave the others waiting.
  auto signals = torch::zeros({process_count()}, torch::kInt64);
  signals[process_rank()] = local;
  process_group()->all_reduce_sum(signals);
  const int agreed = static_cast<int>(signals.max().item<int64_t>());
  if (agreed != 0 && local == 0) requested.store(agreed);
  return agreed;
}

Interrupted::Interrupted(int signal, const std::string& message) : std::runtime_error(message), signal_(signal) {}

void throw_if_interrupted(const std::string& where) {
  const int signal = requested.exchange(0);
  if (signal == 0) return;
  throw Interrupted(signal, fmt::format("stopped by {}: {}", signal_name(signal), where));
}

void throw_if_interrupted(const std::string& command, const std::string& saved, const std::string& checkpoint_path,
                          const std::string& run_dir) {
  throw_if_interrupted(fmt::format("checkpoint {} written to {}; go on with `daas {} --resume {}`", saved,
                                   checkpoint_path, command, run_dir));
}

}  // namespace daas::core
