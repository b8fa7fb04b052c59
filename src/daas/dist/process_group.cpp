// ProcessGroupGloo.hpp is empty unless USE_C10D_GLOO is defined, which the
// torch CMake target does when LibTorch was built with Gloo (Debian's is; its
// libtorch_cpu.so holds the process group).
#ifndef USE_C10D_GLOO
#error "LibTorch without Gloo (USE_C10D_GLOO): daas's dist module needs c10d with Gloo"
#endif
#include "daas/dist/process_group.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "daas/core/error.h"
#include "daas/core/parallel.h"

namespace daas::dist {
namespace {

std::string first_line(const std::string& text) {
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

std::string error_text(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) return first_line(c10->what_without_backtrace());
  return first_line(e.what());
}

int64_t integer_variable(const char* name, int64_t low, int64_t high, std::optional<int64_t> fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    core::check(fallback.has_value(),
                "{} is not set; a run over several processes needs RANK, WORLD_SIZE, MASTER_ADDR and "
                "MASTER_PORT (torchrun sets them)",
                name);
    return *fallback;
  }
  char* end = nullptr;
  errno = 0;
  const long long parsed = std::strtoll(value, &end, 10);
  core::check(errno == 0 && end != value && *end == '\0' && parsed >= low && parsed <= high,
              "{}={}: expected an integer in [{}, {}]", name, value, low, high);
  return parsed;
}

/// The c10d process group behind daas's ProcessGroup interface.
class GlooGroup : public core::ProcessGroup {
 public:
  GlooGroup(c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<c10d::ProcessGroupGloo> group, int64_t rank,
            int64_t size, std::chrono::milliseconds timeout)
      : store_(std::move(store)), group_(std::move(group)), rank_(rank), size_(size), timeout_(timeout) {}

  ~GlooGroup() override {
    // Deliberately not destroyed: after a peer died, Gloo's destructor can
    // wait on work that never ends, and the process is exiting anyway.
    (void)group_.release();
    (void)store_.release();
  }

  int64_t rank() const override { return rank_; }
  int64_t size() const override { return size_; }

  void all_reduce_sum(torch::Tensor& t) override {
    // Gloo reduces contiguous CPU tensors; a CUDA tensor takes a round trip.
    const bool on_cpu = t.device().is_cpu() && t.is_contiguous();
    std::vector<torch::Tensor> tensors = {on_cpu ? t : t.to(torch::kCPU).contiguous()};
    const auto start = std::chrono::steady_clock::now();
    try {
      auto work = group_->allreduce(tensors);
      work->wait(timeout_);
    } catch (const std::exception& e) {
      core::fail(
          "rank {} of {}: an all-reduce with the other processes failed (a process of the run died, or did not "
          "answer within the {} s timeout, --dist-timeout): {}",
          rank_, size_, timeout_.count() / 1000.0, error_text(e));
    }
    if (!on_cpu) t = tensors[0].to(t.device());
    ++calls_;
    nanoseconds_ +=
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
  }

  int64_t calls() const override { return calls_; }
  double seconds() const override { return static_cast<double>(nanoseconds_) * 1e-9; }

 private:
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
  int64_t rank_, size_;
  std::chrono::milliseconds timeout_;
  // Only one thread per process all-reduces (core/parallel.cpp), but the
  // counters are read from another: atomics.
  std::atomic<int64_t> calls_{0};
  std::atomic<int64_t> nanoseconds_{0};
};

bool is_loopback(const std::string& address) {
  return address == "localhost" || address.rfind("127.", 0) == 0 || address == "::1";
}

}  // namespace

std::optional<Environment> read_environment() {
  const char* world = std::getenv("WORLD_SIZE");
  if (world == nullptr || *world == '\0') return std::nullopt;
  Environment env;
  env.world_size = integer_variable("WORLD_SIZE", 1, 4096, std::nullopt);
  env.rank = integer_variable("RANK", 0, env.world_size - 1, std::nullopt);
  env.local_rank = integer_variable("LOCAL_RANK", 0, env.world_size - 1, int64_t{0});
  env.master_port =
      integer_variable("MASTER_PORT", 1, 65535, env.world_size == 1 ? std::optional<int64_t>(29500) : std::nullopt);
  const char* addr = std::getenv("MASTER_ADDR");
  if (addr != nullptr && *addr != '\0') {
    env.master_addr = addr;
  } else {
    core::check(env.world_size == 1,
                "MASTER_ADDR is not set; a run over several processes needs it (torchrun sets it)");
  }
  return env;
}

void init_process_group(const Environment& env, std::chrono::milliseconds timeout) {
  if (env.world_size <= 1) return;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  try {
    // torchrun's static rendezvous (its default on one node) hosts the store
    // in its agent and says so; the workers then join it under the prefix
    // PyTorch's env:// uses. Otherwise rank 0 hosts it.
    const char* agent_store = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
    const bool use_agent_store = agent_store != nullptr && std::string(agent_store) == "True";
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<std::uint16_t>(env.master_port);
    store_options.isServer = env.rank == 0 && !use_agent_store;
    store_options.numWorkers = static_cast<std::size_t>(env.world_size);
    store_options.waitWorkers = false;
    store_options.timeout = timeout;
    store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, store_options);
    if (use_agent_store) {
      const char* attempt = std::getenv("TORCHELASTIC_RESTART_COUNT");
      store = c10::make_intrusive<c10d::PrefixStore>(
          fmt::format("/worker/attempt_{}", attempt != nullptr ? attempt : "0"), store);
    }
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    // GLOO_SOCKET_IFNAME names the interface as in PyTorch; on one machine
    // the loopback, else the interface this host's name resolves to.
    const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
    if (interface != nullptr && *interface != '\0') {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
    } else if (is_loopback(env.master_addr)) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    options->threads = 1;
    group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, static_cast<int>(env.rank),
                                                        static_cast<int>(env.world_size), options);
  } catch (const std::exception& e) {
    core::fail("rank {} of {}: cannot join the process group at {}:{} within {} s: {}", env.rank, env.world_size,
               env.master_addr, env.master_port, timeout.count() / 1000.0, error_text(e));
  }
  core::set_process_group(std::make_shared<GlooGroup>(store, group, env.rank, env.world_size, timeout));
  // Every line says which process wrote it; rank 0 alone reports progress.
  spdlog::set_pattern(fmt::format("[%H:%M:%S] [rank {}] %^%l%$ %v", env.rank));
  if (env.rank != 0) spdlog::set_level(std::max(spdlog::get_level(), spdlog::level::warn));
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  core::check(fd >= 0, "cannot open a socket to find a free port ({})", std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  const int error = errno;
  ::close(fd);
  core::check(ok, "cannot find a free port on 127.0.0.1 ({})", std::strerror(error));
  return ntohs(address.sin_port);
}

namespace {

// The workers of launch_local, for the SIGTERM handler to pass it on.
volatile sig_atomic_t worker_count = 0;
pid_t worker_pids[4096];

void forward_signal(int signal) {
  for (sig_atomic_t i = 0; i < worker_count; ++i) ::kill(worker_pids[i], signal);
}

std::string status_text(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return fmt::format("was killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return "stopped";
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

int launch_local(int64_t nproc, const std::vector<std::string>& arguments, std::chrono::milliseconds grace) {
  core::check(nproc >= 1 && nproc <= 4096, "--nproc {}: expected 1 to 4096", nproc);
  const int port = free_port();
  std::vector<pid_t> pids;
  for (int64_t rank = 0; rank < nproc; ++rank) {
    const pid_t pid = ::fork();
    core::check(pid >= 0, "cannot start worker {} ({})", rank, std::strerror(errno));
    if (pid == 0) {
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> argv;
      std::string self = "daas";
      argv.push_back(self.data());
      std::vector<std::string> copies = arguments;
      for (auto& argument : copies) argv.push_back(argument.data());
      argv.push_back(nullptr);
      ::execv("/proc/self/exe", argv.data());
      std::fprintf(stderr, "daas: cannot start worker %lld (%s)\n", static_cast<long long>(rank), std::strerror(errno));
      ::_exit(127);
    }
    pids.push_back(pid);
    worker_pids[worker_count] = pid;
    worker_count = worker_count + 1;
  }
  // Ctrl-C reaches every worker from the terminal (each checkpoints and
  // stops); the launcher waits for them. SIGTERM sent to the launcher alone
  // is passed on.
  struct sigaction ignore {
  }, forward{}, old_int{}, old_term{};
  ignore.sa_handler = SIG_IGN;
  forward.sa_handler = forward_signal;
  ::sigaction(SIGINT, &ignore, &old_int);
  ::sigaction(SIGTERM, &forward, &old_term);
  int first_status = 0;
  int64_t first_rank = -1;
  size_t running = pids.size();
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  while (running > 0) {
    int status = 0;
    const pid_t done = ::waitpid(-1, &status, WNOHANG);
    if (done < 0 && errno != EINTR) break;
    if (done <= 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        for (size_t r = 0; r < pids.size(); ++r) {
          if (pids[r] != 0) ::kill(pids[r], SIGKILL);
        }
        deadline = std::chrono::steady_clock::time_point::max();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    for (size_t r = 0; r < pids.size(); ++r) {
      if (pids[r] != done) continue;
      pids[r] = 0;
      --running;
      const bool failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
      if (failed && first_rank < 0) {
        first_rank = static_cast<int64_t>(r);
        first_status = status;
        // Ctrl-C or SIGTERM: every worker checkpoints and stops (130, 143).
        const bool stopped =
            WIFEXITED(status) && (WEXITSTATUS(status) == 128 + SIGINT || WEXITSTATUS(status) == 128 + SIGTERM);
        if (stopped) {
          spdlog::warn("worker rank {} of {} stopped on a signal; the others stop after the same step", r, nproc);
        } else {
          spdlog::error("worker rank {} of {} {}; the other workers stop", r, nproc, status_text(status));
        }
        deadline = std::chrono::steady_clock::now() + grace;
      }
    }
  }
  worker_count = 0;
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  return first_rank < 0 ? 0 : exit_code(first_status);
}

}  // namespace daas::dist
