#pragma once
// Stopping a long run on SIGINT or SIGTERM without losing work: the first
// signal asks the running search or training to stop after its current step
// (it then writes a checkpoint and throws Interrupted); a second signal ends
// the process at once, as the default action would.
#include <stdexcept>
#include <string>

namespace daas::core {

/// Installs the handlers for its lifetime (the command-line tool holds one
/// around a search or a training) and restores the previous ones after.
class InterruptHandlers {
 public:
  InterruptHandlers();
  ~InterruptHandlers();
  InterruptHandlers(const InterruptHandlers&) = delete;
  InterruptHandlers& operator=(const InterruptHandlers&) = delete;
};

/// The signal that asked for a stop, or 0.
int interrupt_requested();
/// Asks for a stop as `signal` would (tests; also usable from hooks).
void request_interrupt(int signal);
/// Forgets a request (after it has been handled).
void clear_interrupt();
/// interrupt_requested() agreed over the processes of a run (the largest
/// signal any of them saw, which then becomes this process's request too), so
/// that every rank stops after the same step. Alone: interrupt_requested().
int agreed_interrupt();

/// Thrown once the run has saved its checkpoint after a stop request.
class Interrupted : public std::runtime_error {
 public:
  Interrupted(int signal, const std::string& message);
  int signal() const { return signal_; }
  /// The exit status a shell expects after this signal: 128 + signal.
  int exit_status() const { return 128 + signal_; }

 private:
  int signal_;
};

/// Throws Interrupted (and clears the request) when a stop was requested;
/// `where` says what was saved and how to go on.
void throw_if_interrupted(const std::string& where);

/// The same, with the one message every run gives: "checkpoint `saved`
/// written to `checkpoint_path`; go on with `daas <command> --resume <run_dir>`".
void throw_if_interrupted(const std::string& command, const std::string& saved, const std::string& checkpoint_path,
                          const std::string& run_dir);

}  // namespace daas::core
