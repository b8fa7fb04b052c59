#pragma once
// Comparing two sets of named tensors (a model's weights, a checkpoint entry).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>

namespace daas::testing {

using NamedTensors = std::map<std::string, torch::Tensor>;

/// The largest difference between tensors of the same name, relative to the
/// size of the values (1 + max |a|); `where` gets that tensor's name. Every
/// name of one set must be in the other, and tensors that are not floating
/// point (counters) must be equal.
inline double largest_difference(const NamedTensors& a, const NamedTensors& b, std::string& where) {
  EXPECT_EQ(a.size(), b.size());
  EXPECT_FALSE(a.empty());
  double worst = 0;
  for (const auto& [name, tensor] : a) {
    const auto it = b.find(name);
    if (it == b.end()) {
      ADD_FAILURE() << name << " missing from the second set";
      continue;
    }
    if (!tensor.is_floating_point()) {
      EXPECT_TRUE(torch::equal(tensor, it->second)) << name;
      continue;
    }
    const auto x = tensor.to(torch::kFloat64), y = it->second.to(torch::kFloat64);
    const double difference = (x - y).abs().max().item<double>() / (1.0 + x.abs().max().item<double>());
    if (difference > worst) {
      worst = difference;
      where = name;
    }
  }
  return worst;
}

}  // namespace daas::testing
