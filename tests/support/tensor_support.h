#pragma once
// Comparing two sets of named tensors (a model's weights, a checkpoint
// entry), and numerical derivatives for checking a backward.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
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

/// The derivative of f by central differences in each entry of `wrt` (a
/// dense double tensor of any layout, changed in place and restored, walked
/// in memory order); the result has wrt's sizes and layout.
inline torch::Tensor finite_differences(const torch::Tensor& wrt, const std::function<double()>& f) {
  constexpr double kStep = 1e-6;
  auto out = torch::zeros_like(wrt);
  const auto in_memory_order = [](const torch::Tensor& t) { return t.as_strided({t.numel()}, {1}); };
  auto flat = in_memory_order(wrt.detach());
  auto out_flat = in_memory_order(out);
  for (int64_t i = 0; i < flat.numel(); ++i) {
    const double keep = flat[i].item<double>();
    flat[i] = keep + kStep;
    const double up = f();
    flat[i] = keep - kStep;
    const double down = f();
    flat[i] = keep;
    out_flat[i] = (up - down) / (2 * kStep);
  }
  return out;
}

}  // namespace daas::testing
