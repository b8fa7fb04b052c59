#include "daas/augment/searchable_policy.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "daas/core/error.h"
#include "daas/core/files.h"
#include "daas/core/json.h"

namespace daas::augment {
namespace {

std::array<std::array<Op, 2>, kSubPolicyCount> make_pairs() {
  std::array<std::array<Op, 2>, kSubPolicyCount> pairs{};
  size_t s = 0;
  for (int i = 0; i < kSearchOpCount; ++i) {
    for (int j = i + 1; j < kSearchOpCount; ++j) pairs[s++] = {static_cast<Op>(i), static_cast<Op>(j)};
  }
  return pairs;
}

torch::Tensor tensor_from_json(const nlohmann::json& json, torch::IntArrayRef shape, const std::string& where) {
  std::vector<float> flat;
  // Flattens nested lists depth-first; the shape check below catches ragged input.
  std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& node) {
    if (node.is_array()) {
      for (const auto& child : node) walk(child);
    } else {
      core::check(node.is_number(), "{}: {} is not a number", where, core::json_excerpt(node));
      // A double beyond float's range (1e300) has no float value: converting
      // it is undefined behaviour. daas writes finite floats only.
      const double value = node.get<double>();
      core::check(std::isfinite(value) && std::fabs(value) <= std::numeric_limits<float>::max(),
                  "{}: {} is out of range; expected a number that a float holds", where, core::json_excerpt(node));
      flat.push_back(static_cast<float>(value));
    }
  };
  walk(json);
  int64_t expected = 1;
  for (auto d : shape) expected *= d;
  core::check(static_cast<int64_t>(flat.size()) == expected, "{}: {} numbers; expected {} (shape [{}])", where,
              flat.size(), expected, fmt::join(shape, ", "));
  return torch::tensor(flat, torch::kFloat).view(shape);
}

nlohmann::json tensor_to_json(const torch::Tensor& t) {
  const auto c = t.detach().to(torch::kCPU, torch::kDouble).contiguous();
  if (c.dim() == 1) return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  auto out = nlohmann::json::array();
  for (int64_t i = 0; i < c.size(0); ++i) out.push_back(tensor_to_json(c[i]));
  return out;
}

}  // namespace

const std::array<std::array<Op, 2>, kSubPolicyCount>& sub_policy_ops() {
  static const auto pairs = make_pairs();
  return pairs;
}

torch::Tensor slot_has_magnitude() {
  auto out = torch::zeros({kSubPolicyCount, 2});
  for (int64_t s = 0; s < kSubPolicyCount; ++s) {
    for (int64_t j = 0; j < 2; ++j) {
      out[s][j] = op_info(sub_policy_ops()[static_cast<size_t>(s)][static_cast<size_t>(j)]).has_magnitude ? 1.0 : 0.0;
    }
  }
  return out;
}

SearchablePolicyImpl::SearchablePolicyImpl(SearchablePolicyOptions options) : options_(std::move(options)) {
  core::check(options_.levels() >= 2, "SearchablePolicy: {} magnitude levels; expected >= 2", options_.levels());
  // All logits start at 0: uniform selection, p = 0.5, uniform magnitudes (docs/method.md §3).
  phi = register_parameter("phi", torch::zeros({kSubPolicyCount}));
  theta = register_parameter("theta", torch::zeros({kSubPolicyCount, 2}));
  mu = register_parameter("mu", torch::zeros({kSubPolicyCount, 2, options_.levels()}));
}

PolicySample SearchablePolicyImpl::sample(int64_t n, at::Generator& generator) const {
  core::check(n >= 1, "SearchablePolicy::sample: {} images; expected at least 1", n);
  torch::NoGradGuard no_grad;
  const int64_t m = options_.levels();
  PolicySample out;
  const auto selection = torch::softmax(phi.detach().to(torch::kCPU, torch::kDouble), 0);
  out.sub_policy = torch::multinomial(selection, n, /*replacement=*/true, generator);
  const auto p = torch::sigmoid(theta.detach().to(torch::kCPU, torch::kDouble)).index_select(0, out.sub_policy);
  out.applied = torch::rand({n, 2}, generator, torch::kDouble) < p;
  const auto magnitudes =
      torch::softmax(mu.detach().to(torch::kCPU, torch::kDouble), 2).index_select(0, out.sub_policy);
  out.levels = torch::multinomial(magnitudes.reshape({n * 2, m}), 1, /*replacement=*/true, generator).view({n, 2});
  out.negate = torch::randint(2, {n, 2}, generator, torch::kLong) == 1;
  return out;
}

torch::Tensor SearchablePolicyImpl::apply(const torch::Tensor& images, const PolicySample& sample,
                                          at::Generator& generator) const {
  check_images(images, "SearchablePolicy::apply");
  const int64_t n = images.size(0), h = images.size(2), w = images.size(3);
  core::check(sample.size() == n, "SearchablePolicy::apply: a sample of {} images for a batch of {}", sample.size(), n);
  const auto context = op_context(images, options_.fill(), &generator);
  const auto s = sample.sub_policy.to(torch::kLong).contiguous();
  const auto levels = sample.levels.to(torch::kLong).contiguous();
  const auto negate = sample.negate.to(torch::kBool).contiguous();
  const auto applied = sample.applied.to(torch::kBool).contiguous();
  for (const auto* slots : {&levels, &negate, &applied}) {
    core::check(slots->dim() == 2 && slots->size(0) == n && slots->size(1) == 2,
                "SearchablePolicy::apply: per-slot draws of shape [{}]; expected [{}, 2]",
                fmt::join(slots->sizes(), ", "), n);
  }
  const int64_t* chosen = s.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    core::check(chosen[i] >= 0 && chosen[i] < kSubPolicyCount, "SearchablePolicy::apply: sub-policy {}; expected 0..{}",
                chosen[i], kSubPolicyCount - 1);
  }
  const double top = static_cast<double>(options_.levels() - 1);
  torch::Tensor out = images;
  for (int64_t j = 0; j < 2; ++j) {
    out = apply_chosen_slot(out, context, [&](int64_t i) {
      const int64_t slot = i * 2 + j;
      const Op op = sub_policy_ops()[static_cast<size_t>(chosen[i])][static_cast<size_t>(j)];
      const double value = level_to_value(op, static_cast<double>(levels.data_ptr<int64_t>()[slot]) / top, h, w);
      const bool mirrored = op_info(op).is_signed && negate.data_ptr<bool>()[slot];
      return SlotChoice{op, applied.data_ptr<bool>()[slot], mirrored ? -value : value};
    });
  }
  return out;
}

torch::Tensor SearchablePolicyImpl::log_prob(const PolicySample& sample) const {
  const auto device = phi.device();
  const auto s = sample.sub_policy.to(device, torch::kLong);
  const auto b = sample.applied.to(device, phi.scalar_type());
  const auto m = sample.levels.to(device, torch::kLong);
  auto result = torch::log_softmax(phi, 0).index_select(0, s);
  const auto t = theta.index_select(0, s);  // [N, 2]
  // log σ(θ) when applied, log(1 − σ(θ)) = log σ(−θ) when not.
  result = result + (b * torch::log_sigmoid(t) + (1 - b) * torch::log_sigmoid(-t)).sum(1);
  // A level counts where it shaped the image: its slot was applied and its
  // op has a magnitude (docs/method.md §3).
  static const auto has_magnitude = slot_has_magnitude();
  const auto shaped = b * has_magnitude.to(device, phi.scalar_type()).index_select(0, s);  // [N, 2]
  const auto level_log_probs = torch::log_softmax(mu, 2).index_select(0, s);               // [N, 2, M]
  return result + (shaped * level_log_probs.gather(2, m.unsqueeze(2)).squeeze(2)).sum(1);
}

std::vector<SubPolicy> SearchablePolicyImpl::top_k(int64_t k) const {
  core::check(k >= 1 && k <= kSubPolicyCount, "top_k: k = {}; expected 1..{}", k, kSubPolicyCount);
  torch::NoGradGuard no_grad;
  const auto selection = torch::softmax(phi.detach().to(torch::kCPU, torch::kDouble), 0);
  const auto order = std::get<1>(selection.topk(k, 0, /*largest=*/true, /*sorted=*/true));
  const auto p = torch::sigmoid(theta.detach().to(torch::kCPU, torch::kDouble));
  const auto best = mu.detach().to(torch::kCPU).argmax(2);
  const double top = static_cast<double>(options_.levels() - 1);
  std::vector<SubPolicy> out;
  for (int64_t r = 0; r < k; ++r) {
    const int64_t s = order[r].item<int64_t>();
    SubPolicy sub;
    for (int64_t j = 0; j < 2; ++j) {
      sub.push_back({sub_policy_ops()[static_cast<size_t>(s)][static_cast<size_t>(j)], p[s][j].item<double>(),
                     static_cast<double>(best[s][j].item<int64_t>()) / top});
    }
    out.push_back(std::move(sub));
  }
  return out;
}

nlohmann::json SearchablePolicyImpl::to_json(int64_t k) const {
  nlohmann::json beta = {{"levels", options_.levels()},
                         {"phi", tensor_to_json(phi)},
                         {"theta", tensor_to_json(theta)},
                         {"mu", tensor_to_json(mu)}};
  return {{"sub_policies", policy_to_json(top_k(k))}, {"beta", beta}};
}

int64_t beta_levels(const nlohmann::json& beta, const std::string& source) {
  return core::integer_field(beta, "levels", source + ": beta", 2, kMaxMagnitudeLevels);
}

void SearchablePolicyImpl::load_json(const nlohmann::json& json, const std::string& source) {
  core::check(json.is_object() && json.contains("beta") && json.at("beta").is_object(),
              "{}: no \"beta\" object; expected a policy exported by daas with its full beta", source);
  const auto& beta = json.at("beta");
  const int64_t levels = beta_levels(beta, source);
  core::check(levels == options_.levels(), "{}: beta has {} magnitude levels; this policy has {}", source, levels,
              options_.levels());
  for (const char* key : {"phi", "theta", "mu"})
    core::check(beta.contains(key), "{}: beta without \"{}\"", source, key);
  const auto new_phi = tensor_from_json(beta.at("phi"), phi.sizes(), source + ": beta.phi");
  const auto new_theta = tensor_from_json(beta.at("theta"), theta.sizes(), source + ": beta.theta");
  const auto new_mu = tensor_from_json(beta.at("mu"), mu.sizes(), source + ": beta.mu");
  torch::NoGradGuard no_grad;
  phi.copy_(new_phi);
  theta.copy_(new_theta);
  mu.copy_(new_mu);
}

void SearchablePolicyImpl::save(const std::string& path, int64_t k) const {
  core::write_file_atomic(path, to_json(k).dump(1) + "\n");
}

void SearchablePolicyImpl::load(const std::string& path) {
  load_json(core::parse_json(core::read_file(path), path), path);
}

void SearchablePolicyImpl::pretty_print(std::ostream& stream) const {
  stream << "daas::augment::SearchablePolicy(sub_policies=" << kSubPolicyCount << ", levels=" << options_.levels()
         << ")";
}

}  // namespace daas::augment
