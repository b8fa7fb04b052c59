#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "daas/core/error.h"
#include "daas/core/parallel.h"

namespace daas::core {
namespace {

TEST(ShardRange, CoversEveryRowOnceWithSizesDifferingByAtMostOne) {
  for (int64_t n : {1, 7, 64, 65}) {
    for (int64_t size : {1, 2, 3}) {
      int64_t next = 0, smallest = n, largest = 0;
      for (int64_t rank = 0; rank < size; ++rank) {
        const auto [begin, end] = shard_range(n, rank, size);
        EXPECT_EQ(begin, next) << n << " " << size;
        next = end;
        smallest = std::min(smallest, end - begin);
        largest = std::max(largest, end - begin);
      }
      EXPECT_EQ(next, n);
      EXPECT_LE(largest - smallest, 1);
    }
  }
}

TEST(WorkerTeam, RunsEveryRankOnItsOwnThreadWithOneIntraOpThread) {
  at::set_num_threads(2);
  WorkerTeam team(3);
  std::mutex mutex;
  std::set<int64_t> ranks;
  std::set<std::thread::id> threads;
  std::atomic<int> intra_op{0};
  for (int round = 0; round < 2; ++round) {
    team.run([&](int64_t rank) {
      std::lock_guard<std::mutex> lock(mutex);
      ranks.insert(rank);
      threads.insert(std::this_thread::get_id());
      intra_op += at::get_num_threads();
      EXPECT_EQ(current_shard().rank, rank);
      EXPECT_EQ(current_shard().size, 3);
    });
  }
  EXPECT_EQ(ranks, (std::set<int64_t>{0, 1, 2}));
  EXPECT_EQ(threads.size(), 3u);
  EXPECT_EQ(intra_op.load(), 6);        // one intra-op thread on each rank, both rounds
  EXPECT_EQ(at::get_num_threads(), 2);  // the caller's setting is back
  EXPECT_EQ(current_shard().size, 1);
}

TEST(WorkerTeam, AllReduceGivesEveryRankTheSameSum) {
  WorkerTeam team(2);
  std::vector<torch::Tensor> results(2);
  team.run([&](int64_t rank) {
    for (int call = 0; call < 50; ++call) {
      auto t = torch::full({3}, static_cast<double>(rank + 1 + call), torch::kFloat64);
      current_shard().exchange->all_reduce_sum(rank, t);
      results[static_cast<size_t>(rank)] = t;
      EXPECT_DOUBLE_EQ(t[0].item<double>(), 3.0 + 2 * call);
    }
  });
  EXPECT_TRUE(torch::equal(results[0], results[1]));
}

TEST(WorkerTeam, AFailingRankIsRethrownAndReleasesTheOthers) {
  WorkerTeam team(2);
  try {
    team.run([&](int64_t rank) {
      if (rank == 1) fail("rank {} broke", rank);
      auto t = torch::ones({1});
      current_shard().exchange->all_reduce_sum(rank, t);  // would wait for rank 1 forever
    });
    FAIL() << "expected an exception";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "rank 1 broke");
  }
  // The team still works afterwards.
  std::atomic<int> calls{0};
  team.run([&](int64_t) { ++calls; });
  EXPECT_EQ(calls.load(), 2);
}

TEST(WorkerTeam, RanksTakeTheCallersGradMode) {
  WorkerTeam team(2);
  std::atomic<int> enabled{0};
  {
    torch::NoGradGuard no_grad;
    team.run([&](int64_t) { enabled += c10::GradMode::is_enabled() ? 1 : 0; });
  }
  EXPECT_EQ(enabled.load(), 0);
  team.run([&](int64_t) { enabled += c10::GradMode::is_enabled() ? 1 : 0; });
  EXPECT_EQ(enabled.load(), 2);
}

TEST(MakeReplicas, LeavesTheDefaultGeneratorWhereItWas) {
  torch::manual_seed(3);
  const auto expected = torch::rand({4});
  torch::manual_seed(3);
  const auto replicas = make_replicas<torch::nn::LinearImpl>(
      2, [] { return std::make_unique<torch::nn::LinearImpl>(torch::nn::LinearOptions(5, 5)); });
  EXPECT_EQ(replicas.size(), 2u);
  EXPECT_TRUE(torch::equal(torch::rand({4}), expected));
}

}  // namespace
}  // namespace daas::core
