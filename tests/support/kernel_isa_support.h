#pragma once
// A fixture for the hand-written kernels' tests: each body may run once per
// instruction set this CPU has (for_each_isa), and the chosen set and thread
// count are restored afterwards.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "daas/nas/depthwise.h"

namespace daas::testing {

class KernelIsaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(0);
    isa_ = nas::depthwise_isa();
    threads_ = at::get_num_threads();
  }
  void TearDown() override {
    nas::set_depthwise_isa(isa_);
    at::set_num_threads(threads_);
  }
  template <typename F>
  void for_each_isa(F&& body) {
    for (const auto& isa : nas::depthwise_isas()) {
      nas::set_depthwise_isa(isa);
      body();
    }
  }

 private:
  std::string isa_;
  int threads_ = 1;
};

}  // namespace daas::testing
