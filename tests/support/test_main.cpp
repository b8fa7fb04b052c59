// GoogleTest entry point shared by every test program: fixed thread count and
// seed so that results do not depend on the machine.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "daas/core/runtime.h"

int main(int argc, char** argv) {
  daas::core::prefer_passive_openmp(argv);
  ::testing::InitGoogleTest(&argc, argv);
  at::set_num_threads(2);
  torch::manual_seed(0);
  return RUN_ALL_TESTS();
}
