#include "daas/core/parallel.h"

#include <ATen/Parallel.h>
#include <omp.h>

#include <algorithm>
#include <chrono>

#include "daas/core/error.h"

namespace daas::core {
namespace {

thread_local ShardContext shard_context;

// Set once at start-up, before any step runs; read by every rank's thread.
std::shared_ptr<ProcessGroup> process_group_instance;

// A rank arriving early spins this long before sleeping: the other rank is
// usually a few microseconds behind (same network, half the batch each), and
// a futex wake-up costs tens of microseconds. Short enough not to steal a
// busy machine's time.
constexpr auto kSpin = std::chrono::microseconds(30);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/// Runs the calling thread's LibTorch ops on one intra-op thread for a scope.
class OneIntraOpThread {
 public:
  OneIntraOpThread() {
    at::internal::lazy_init_num_threads();
    previous_ = omp_get_max_threads();
    // omp_set_num_threads changes this thread's setting only (an OpenMP ICV
    // is per thread); at::set_num_threads would change every thread's.
    omp_set_num_threads(1);
  }
  ~OneIntraOpThread() { omp_set_num_threads(previous_); }
  OneIntraOpThread(const OneIntraOpThread&) = delete;
  OneIntraOpThread& operator=(const OneIntraOpThread&) = delete;

 private:
  int previous_ = 1;
};

}  // namespace

Exchange::Exchange(int64_t size)
    : size_(size),
      slots_{std::vector<torch::Tensor>(static_cast<size_t>(size)),
             std::vector<torch::Tensor>(static_cast<size_t>(size))},
      rounds_(static_cast<size_t>(size)) {
  check(size >= 1, "exchange of {} ranks; expected at least 1", size);
}

void Exchange::wait_all() {
  const auto start = std::chrono::steady_clock::now();
  struct Account {
    std::chrono::steady_clock::time_point start;
    std::atomic<int64_t>& nanoseconds;
    ~Account() {
      nanoseconds +=
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
    }
  } account{start, wait_nanoseconds_};
  ++waits_;
  int64_t generation = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    check(!aborted_, "another worker thread failed");
    generation = generation_;
    if (++arrived_ == size_) {
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
      return;
    }
  }
  const auto deadline = start + kSpin;
  // A busy spin, not sched_yield(): yielding hands the core to any other
  // runnable process for a whole time slice (measured: 0.8 ms per wait next
  // to one busy process), where sleeping on the condition variable below
  // gets this thread back as soon as it is woken.
  while (generation_ == generation && !aborted_ && std::chrono::steady_clock::now() < deadline) {
    cpu_relax();
  }
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return generation_ != generation || aborted_; });
  check(generation_ != generation, "another worker thread failed");
}

void Exchange::all_reduce_sum(int64_t rank, torch::Tensor& t) {
  if (size_ == 1) {
    if (auto* group = process_group()) group->all_reduce_sum(t);
    return;
  }
  // Rounds alternate between two sets of slots, so one barrier per round
  // suffices: a rank writes a set again two rounds later, after every rank
  // has arrived at the barrier of the round between, that is, after every
  // rank has read this round's slots.
  auto& round = rounds_[static_cast<size_t>(rank)];
  auto& slots = slots_[round % 2];
  ++round;
  slots[static_cast<size_t>(rank)] = t;
  wait_all();
  auto sum = slots[0].clone();
  for (size_t r = 1; r < slots.size(); ++r) sum.add_(slots[r]);
  if (auto* group = process_group()) {
    // One thread per process talks to the others; a second barrier hands its
    // result to the team. Rank 0 overwrites process_sum_ only in the next
    // round, after its first barrier, which every rank reaches after reading.
    if (rank == 0) {
      try {
        group->all_reduce_sum(sum);
      } catch (...) {
        abort();
        throw;
      }
      process_sum_ = sum;
    }
    wait_all();
    sum = process_sum_.clone();
  }
  t = sum;
}

void Exchange::abort() {
  std::lock_guard<std::mutex> lock(mutex_);
  aborted_ = true;
  cv_.notify_all();
}

void Exchange::reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  aborted_ = false;
  arrived_ = 0;
  for (auto& set : slots_) {
    for (auto& slot : set) slot = torch::Tensor();
  }
  std::fill(rounds_.begin(), rounds_.end(), 0);
}

const ShardContext& current_shard() { return shard_context; }

void set_process_group(std::shared_ptr<ProcessGroup> group) { process_group_instance = std::move(group); }

ProcessGroup* process_group() { return process_group_instance.get(); }

int64_t process_rank() { return process_group_instance ? process_group_instance->rank() : 0; }

int64_t process_count() { return process_group_instance ? process_group_instance->size() : 1; }

void all_reduce_over_ranks(torch::Tensor& t) {
  const auto& shard = current_shard();
  if (shard.size > 1) {
    check(shard.exchange != nullptr,
          "all-reduce over a team outside a worker team; expected a WorkerTeam::run section");
    shard.exchange->all_reduce_sum(shard.rank, t);
  } else if (auto* group = process_group()) {
    group->all_reduce_sum(t);
  }
}

void all_reduce_over_processes(std::vector<torch::Tensor>& tensors) {
  auto* group = process_group();
  if (group == nullptr) return;
  // One message per dtype and device: a step's gradients are hundreds of
  // small tensors, and each message costs a round trip.
  std::vector<bool> done(tensors.size(), false);
  for (size_t first = 0; first < tensors.size(); ++first) {
    if (done[first] || !tensors[first].defined()) continue;
    const auto dtype = tensors[first].scalar_type();
    const auto device = tensors[first].device();
    std::vector<size_t> members;
    std::vector<torch::Tensor> flat;
    for (size_t i = first; i < tensors.size(); ++i) {
      if (done[i] || !tensors[i].defined() || tensors[i].scalar_type() != dtype || tensors[i].device() != device) {
        continue;
      }
      members.push_back(i);
      flat.push_back(tensors[i].reshape({-1}));
      done[i] = true;
    }
    auto buffer = torch::cat(flat);
    group->all_reduce_sum(buffer);
    int64_t offset = 0;
    for (const size_t i : members) {
      const int64_t n = tensors[i].numel();
      tensors[i].copy_(buffer.slice(0, offset, offset + n).view_as(tensors[i]));
      offset += n;
    }
  }
}

std::pair<int64_t, int64_t> process_shard_range(int64_t n) { return shard_range(n, process_rank(), process_count()); }

torch::Tensor process_shard(const torch::Tensor& batch) {
  if (process_count() == 1) return batch;
  const auto [begin, end] = process_shard_range(batch.size(0));
  return batch.slice(0, begin, end);
}

torch::Tensor gather_process_shards(const torch::Tensor& shard, int64_t n) {
  if (process_count() == 1) return shard;
  // Zeros elsewhere and a sum: adding zeros is exact, so every process gets
  // every shard's bits.
  auto sizes = shard.sizes().vec();
  sizes[0] = n;
  auto whole = torch::zeros(sizes, shard.options());
  const auto [begin, end] = process_shard_range(n);
  check(end - begin == shard.size(0), "gather_process_shards: {} rows from this process; expected {}", shard.size(0),
        end - begin);
  whole.slice(0, begin, end).copy_(shard);
  process_group()->all_reduce_sum(whole);
  return whole;
}

ShardScope::ShardScope(ShardContext context) : previous_(shard_context) { shard_context = context; }
ShardScope::~ShardScope() { shard_context = previous_; }

BatchRows::BatchRows(int64_t batch_rows, int64_t first_row)
    : previous_rows_(shard_context.batch_rows), previous_first_(shard_context.first_row) {
  check(batch_rows >= 0 && first_row >= 0 && first_row <= batch_rows,
        "batch rows from {} of {}; expected a first row within the batch", first_row, batch_rows);
  shard_context.batch_rows = batch_rows;
  shard_context.first_row = first_row;
}
BatchRows::~BatchRows() {
  shard_context.batch_rows = previous_rows_;
  shard_context.first_row = previous_first_;
}

FrozenRunningStats::FrozenRunningStats() : previous_(shard_context.freeze_running_stats) {
  shard_context.freeze_running_stats = true;
}
FrozenRunningStats::~FrozenRunningStats() { shard_context.freeze_running_stats = previous_; }

WorkerTeam::WorkerTeam(int64_t size) : size_(size), exchange_(size), errors_(static_cast<size_t>(size)) {
  check(size >= 1, "worker team of {} threads; expected at least 1", size);
  for (int64_t rank = 1; rank < size; ++rank) threads_.emplace_back([this, rank] { worker_loop(rank); });
}

WorkerTeam::~WorkerTeam() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  start_cv_.notify_all();
  for (auto& thread : threads_) thread.join();
}

void WorkerTeam::run_rank(int64_t rank) {
  try {
    OneIntraOpThread one_thread;
    // Grad mode is per thread: the ranks take the caller's.
    c10::AutoGradMode grad_mode(grad_enabled_);
    at::Generator* generator = generators_.empty() ? nullptr : &generators_[static_cast<size_t>(rank)];
    ShardScope scope({&exchange_, rank, size_, false, generator});
    (*task_)(rank);
  } catch (...) {
    errors_[static_cast<size_t>(rank)] = std::current_exception();
    exchange_.abort();
  }
}

void WorkerTeam::worker_loop(int64_t rank) {
  int64_t seen = 0;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      start_cv_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
    }
    run_rank(rank);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++finished_;
    }
    done_cv_.notify_all();
  }
}

void WorkerTeam::run(const std::function<void(int64_t rank)>& fn) {
  if (size_ == 1) {
    at::Generator* generator = generators_.empty() ? nullptr : &generators_[0];
    ShardScope scope({nullptr, 0, 1, shard_context.freeze_running_stats, generator});
    fn(0);
    return;
  }
  exchange_.reset();
  grad_enabled_ = c10::GradMode::is_enabled();
  for (auto& error : errors_) error = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = &fn;
    finished_ = 0;
    ++generation_;
  }
  start_cv_.notify_all();
  run_rank(0);
  {
    std::unique_lock<std::mutex> lock(mutex_);
    done_cv_.wait(lock, [&] { return finished_ == size_ - 1; });
    task_ = nullptr;
  }
  // The rank that failed first, not the ones its abort woke.
  for (const auto& error : errors_) {
    if (!error) continue;
    try {
      std::rethrow_exception(error);
    } catch (const Error& e) {
      if (std::string(e.what()) == "another worker thread failed") continue;
      throw;
    }
  }
  for (const auto& error : errors_) {
    if (error) std::rethrow_exception(error);
  }
}

void copy_tensors(const std::vector<torch::Tensor>& from, const std::vector<torch::Tensor>& to, const char* what) {
  torch::NoGradGuard no_grad;
  check(from.size() == to.size(), "copying {} {} into {}; expected the same structure", from.size(), what, to.size());
  for (size_t i = 0; i < to.size(); ++i) to[i].copy_(from[i]);
}

void copy_module_state(torch::nn::Module& from, torch::nn::Module& to) {
  copy_tensors(from.parameters(), to.parameters(), "parameters");
  copy_buffers(from, to);
}

void copy_buffers(torch::nn::Module& from, torch::nn::Module& to) {
  copy_tensors(from.buffers(), to.buffers(), "buffers");
}

std::vector<torch::Tensor> sum_over_ranks(const std::vector<std::vector<torch::Tensor>>& parts) {
  std::vector<torch::Tensor> total(parts.empty() ? 0 : parts[0].size());
  for (const auto& part : parts) {
    for (size_t i = 0; i < total.size(); ++i) {
      if (!part[i].defined()) continue;
      total[i] = total[i].defined() ? total[i].add_(part[i]) : part[i].clone();
    }
  }
  return total;
}

std::vector<torch::Tensor> grads_of(const std::vector<torch::Tensor>& tensors) {
  std::vector<torch::Tensor> grads;
  grads.reserve(tensors.size());
  for (const auto& t : tensors) grads.push_back(t.grad());
  return grads;
}

int64_t data_parallel_ranks(const std::string& parallel, const c10::Device& device) {
  check(parallel == "batch" || parallel == "op", "parallel '{}': expected batch or op", parallel);
  return device.is_cpu() && parallel == "batch" ? std::max(1, at::get_num_threads()) : 1;
}

std::pair<int64_t, int64_t> shard_range(int64_t n, int64_t rank, int64_t size) {
  const int64_t base = n / size, extra = n % size;
  const int64_t begin = rank * base + std::min(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

}  // namespace daas::core
