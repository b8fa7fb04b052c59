#pragma once
// Data parallelism over threads in one process: a team of persistent worker
// threads, each running one shard of a batch on its own model replica with
// LibTorch's intra-op threading off, and an all-reduce between them.
//
// Why (docs/performance.md): at the sizes a CPU search runs (C 8-16, 28-32
// px), most LibTorch kernels are too small for OpenMP to split well; one op
// after another each pays a fork/join barrier, and the barrier either spins
// (stalling a busy machine) or sleeps (costing ~2× on a quiet one). Giving
// each core half of the batch and synchronising only the BatchNorm
// statistics keeps both cores busy with no OpenMP barrier at all.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <c10/core/Device.h>
#include <torch/nn/module.h>
#include <torch/types.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace daas::core {

/// The processes of a data-parallel run (`daas search --nproc N`, torchrun):
/// each process runs a shard of every batch, and the sums that make a step
/// the whole batch's (BatchNorm statistics, gradients, losses) are also
/// summed over processes. core declares the interface so that BatchNorm
/// (nas) and the steps (search, train) reach it without knowing the transport;
/// daas/dist/process_group.h implements it with c10d (TCPStore + Gloo).
class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int64_t rank() const = 0;
  virtual int64_t size() const = 0;
  /// Replaces `t` (same shape and dtype on every process) by its sum over the
  /// processes; every process gets the same bits. Fails with daas::core::Error
  /// naming the rank when a peer is gone or does not answer in time.
  virtual void all_reduce_sum(torch::Tensor& t) = 0;
  /// All-reduces so far and the wall seconds spent in them (sending,
  /// receiving and waiting for the slowest process): a step's communication.
  virtual int64_t calls() const = 0;
  virtual double seconds() const = 0;
};

/// Installs the process group of this run (null: one process, the default).
void set_process_group(std::shared_ptr<ProcessGroup> group);
/// The process group, or null when this process runs alone.
ProcessGroup* process_group();
/// This process's rank and the number of processes (0 and 1 alone).
int64_t process_rank();
int64_t process_count();
/// Whether this process writes the run folder: rank 0 alone does.
inline bool writes_run_files() { return process_rank() == 0; }

/// Sums small tensors across the ranks of a team. Every rank calls
/// all_reduce the same number of times in the same order (the ranks run the
/// same network on different images); a rank that fails aborts the others.
class Exchange {
 public:
  explicit Exchange(int64_t size);
  int64_t size() const { return size_; }
  /// Replaces `t` (same shape on every rank) by the sum over ranks, added in
  /// rank order, so every rank gets the same bits and a run is reproducible.
  /// With a process group, the team's sum is then summed over processes
  /// (rank 0's thread talks to the other processes).
  void all_reduce_sum(int64_t rank, torch::Tensor& t);
  /// Wakes every waiting rank with an error; used when one rank throws.
  void abort();
  /// Clears an abort before the next parallel section.
  void reset();
  /// Barrier waits so far and the seconds all ranks spent in them together:
  /// what running in lockstep costs (benchmarks print it).
  int64_t waits() const { return waits_; }
  double wait_seconds() const { return static_cast<double>(wait_nanoseconds_) * 1e-9; }

 private:
  void wait_all();

  int64_t size_;
  std::array<std::vector<torch::Tensor>, 2> slots_;
  std::vector<int64_t> rounds_;  // all-reduces so far, per rank
  torch::Tensor process_sum_;    // the sum over processes, for the team to copy
  std::mutex mutex_;
  std::condition_variable cv_;
  int64_t arrived_ = 0;
  std::atomic<int64_t> generation_{0};
  std::atomic<bool> aborted_{false};
  std::atomic<int64_t> waits_{0}, wait_nanoseconds_{0};
};

/// What the code running on a rank sees: its rank, the team size and the
/// exchange (null outside a parallel section: one process, whole batch).
struct ShardContext {
  Exchange* exchange = nullptr;
  int64_t rank = 0;
  int64_t size = 1;
  /// BatchNorm normalises with the batch's statistics but leaves the running
  /// statistics as they are (the perturbed forwards of the policy step).
  bool freeze_running_stats = false;
  /// Where this rank's random draws inside the network (drop-path) come
  /// from; null = LibTorch's default generator (one rank).
  at::Generator* generator = nullptr;
  /// The global batch this rank computes rows [first_row, first_row + n) of
  /// (0 rows: the tensor's own rows are the whole batch). With a generator
  /// that every rank seeds alike, a per-image draw is made for all
  /// `batch_rows` rows and each rank keeps its own, so the draws do not
  /// depend on how the batch is split over threads and processes.
  int64_t batch_rows = 0;
  int64_t first_row = 0;
};

/// The calling thread's shard context (rank 0 of 1 by default).
const ShardContext& current_shard();

/// Sets the calling thread's shard context for a scope.
class ShardScope {
 public:
  explicit ShardScope(ShardContext context);
  ~ShardScope();
  ShardScope(const ShardScope&) = delete;
  ShardScope& operator=(const ShardScope&) = delete;

 private:
  ShardContext previous_;
};

/// Sets the calling thread's place in the global batch (ShardContext's
/// batch_rows and first_row) for a scope.
class BatchRows {
 public:
  BatchRows(int64_t batch_rows, int64_t first_row);
  ~BatchRows();
  BatchRows(const BatchRows&) = delete;
  BatchRows& operator=(const BatchRows&) = delete;

 private:
  int64_t previous_rows_, previous_first_;
};

/// Freezes BatchNorm running statistics on the calling thread for a scope.
class FrozenRunningStats {
 public:
  FrozenRunningStats();
  ~FrozenRunningStats();
  FrozenRunningStats(const FrozenRunningStats&) = delete;
  FrozenRunningStats& operator=(const FrozenRunningStats&) = delete;

 private:
  bool previous_;
};

/// `size` ranks: rank 0 runs on the calling thread, the others on persistent
/// threads started once. Inside run(), LibTorch uses one intra-op thread on
/// every rank; outside, the caller's setting is untouched.
class WorkerTeam {
 public:
  explicit WorkerTeam(int64_t size);
  ~WorkerTeam();
  WorkerTeam(const WorkerTeam&) = delete;
  WorkerTeam& operator=(const WorkerTeam&) = delete;

  int64_t size() const { return size_; }
  const Exchange& exchange() const { return exchange_; }
  /// Per-rank generators for draws inside the network (ShardContext::generator).
  void set_generators(std::vector<at::Generator> generators) { generators_ = std::move(generators); }
  /// Runs fn(rank) on every rank with that rank's ShardContext and the
  /// caller's grad mode set, and
  /// returns when all have finished. The first exception (by rank) is
  /// rethrown here after every rank has stopped.
  void run(const std::function<void(int64_t rank)>& fn);

 private:
  void worker_loop(int64_t rank);
  void run_rank(int64_t rank);

  int64_t size_;
  Exchange exchange_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable start_cv_, done_cv_;
  const std::function<void(int64_t)>* task_ = nullptr;
  int64_t generation_ = 0;
  int64_t finished_ = 0;
  bool stopping_ = false;
  bool grad_enabled_ = true;
  std::vector<std::exception_ptr> errors_;
  std::vector<at::Generator> generators_;
};

/// Builds `count` objects with `make()` without moving LibTorch's default
/// generator: replicas are initialised randomly and then overwritten, and a
/// run (and its resume) must draw the same numbers as with one rank.
template <typename T, typename Make>
std::vector<std::unique_ptr<T>> make_replicas(int64_t count, Make make) {
  auto generator = at::detail::getDefaultCPUGenerator();
  const auto state = generator.get_state();
  std::vector<std::unique_ptr<T>> replicas;
  for (int64_t r = 0; r < count; ++r) replicas.push_back(make());
  generator.set_state(state);
  return replicas;
}

/// Copies from[i] into to[i] for every i, without recording gradients;
/// `what` names the tensors in the error when the lists differ in length.
void copy_tensors(const std::vector<torch::Tensor>& from, const std::vector<torch::Tensor>& to, const char* what);

/// Copies every parameter and buffer of `from` into `to` (same structure).
void copy_module_state(torch::nn::Module& from, torch::nn::Module& to);

/// Copies every buffer (BatchNorm running statistics) of `from` into `to`.
void copy_buffers(torch::nn::Module& from, torch::nn::Module& to);

/// Σ over `parts` (one list of tensors per rank, in rank order) element by
/// element; undefined where every rank's tensor is undefined.
std::vector<torch::Tensor> sum_over_ranks(const std::vector<std::vector<torch::Tensor>>& parts);

/// The .grad() of each tensor (undefined where it has none).
std::vector<torch::Tensor> grads_of(const std::vector<torch::Tensor>& tensors);

/// Sums `t` over every rank of the calling thread's team and over the
/// processes: a no-op for one thread of one process.
void all_reduce_over_ranks(torch::Tensor& t);

/// Sums each defined tensor of `tensors` over the processes, in place, in one
/// message (flattened per dtype). Every process must pass the same list of
/// shapes with the same tensors defined. A no-op for one process.
void all_reduce_over_processes(std::vector<torch::Tensor>& tensors);

/// Rows [begin, end) of this process's shard of a global batch of `n` rows.
std::pair<int64_t, int64_t> process_shard_range(int64_t n);

/// This process's rows of a global batch (the batch itself for one process).
torch::Tensor process_shard(const torch::Tensor& batch);

/// The whole batch from every process's shard (rows in process order): each
/// process passes its rows of a global batch of `n` rows and gets all `n`.
torch::Tensor gather_process_shards(const torch::Tensor& shard, int64_t n);

/// The ways CPU threads share a step (the `parallel` setting).
constexpr std::array<const char*, 2> kParallelModes = {"batch", "op"};

/// How many ranks a step on `device` splits its batches over. `parallel`
/// "batch": LibTorch's intra-op thread count on the CPU (each rank then
/// computes its shard on one core); "op": one (every thread works inside
/// each op, LibTorch's own intra-op parallelism). One on a GPU, which
/// parallelises each kernel itself.
int64_t data_parallel_ranks(const std::string& parallel, const c10::Device& device);

/// Rows [begin, end) of shard `rank` of `size` over `n` rows: contiguous,
/// sizes differing by at most one, earlier shards larger.
std::pair<int64_t, int64_t> shard_range(int64_t n, int64_t rank, int64_t size);

}  // namespace daas::core
