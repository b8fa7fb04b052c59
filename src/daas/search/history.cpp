#include "daas/search/history.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "daas/augment/ops.h"
#include "daas/core/error.h"
#include "daas/nas/ops.h"

namespace fs = std::filesystem;

namespace daas::search {
namespace {

constexpr int kDigits = 4;

nlohmann::json rounded_rows(const torch::Tensor& rows) {
  const auto c = rows.to(torch::kCPU, torch::kFloat64).contiguous();
  auto out = nlohmann::json::array();
  if (c.dim() == 1) {
    for (int64_t i = 0; i < c.size(0); ++i) out.push_back(round_significant(c[i].item<double>(), kDigits));
    return out;
  }
  for (int64_t i = 0; i < c.size(0); ++i) out.push_back(rounded_rows(c[i]));
  return out;
}

}  // namespace

double round_significant(double value, int digits) {
  if (value == 0 || !std::isfinite(value)) return value;
  return std::stod(fmt::format("{:.{}g}", value, digits));
}

nlohmann::json alpha_record(int64_t epoch, const torch::Tensor& alpha_normal, const torch::Tensor& alpha_reduce) {
  core::check(alpha_normal.dim() == 2 && alpha_normal.size(1) == nas::kNumPrimitives && alpha_reduce.dim() == 2 &&
                  alpha_reduce.size(1) == nas::kNumPrimitives,
              "alpha_record: α of shape [{}] and [{}]; expected [edges, {}]", fmt::join(alpha_normal.sizes(), ", "),
              fmt::join(alpha_reduce.sizes(), ", "), nas::kNumPrimitives);
  torch::NoGradGuard no_grad;
  auto ops = nlohmann::json::array();
  for (const char* name : nas::kPrimitiveNames) ops.push_back(name);
  return {{"epoch", epoch},
          {"ops", ops},
          {"normal", rounded_rows(torch::softmax(alpha_normal.detach().to(torch::kFloat64), -1))},
          {"reduce", rounded_rows(torch::softmax(alpha_reduce.detach().to(torch::kFloat64), -1))}};
}

nlohmann::json policy_record(int64_t epoch, const augment::SearchablePolicyImpl& policy, int64_t top) {
  torch::NoGradGuard no_grad;
  const auto selection = torch::softmax(policy.phi.detach().to(torch::kCPU, torch::kFloat64), 0);  // [105]
  const auto apply = torch::sigmoid(policy.theta.detach().to(torch::kCPU, torch::kFloat64));       // [105, 2]
  const auto levels = torch::softmax(policy.mu.detach().to(torch::kCPU, torch::kFloat64), 2);      // [105, 2, M]
  const int64_t m = levels.size(2);
  // P(op k applied to an image) and P(level, k applied), summed over the slots that hold op k.
  auto application = torch::zeros({augment::kSearchOpCount}, torch::kFloat64);
  auto joint = torch::zeros({augment::kSearchOpCount, m}, torch::kFloat64);
  const auto sel = selection.accessor<double, 1>();
  const auto p = apply.accessor<double, 2>();
  const auto lev = levels.accessor<double, 3>();
  auto app = application.accessor<double, 1>();
  auto jnt = joint.accessor<double, 2>();
  const auto& pairs = augment::sub_policy_ops();
  for (int64_t s = 0; s < augment::kSubPolicyCount; ++s) {
    for (int64_t j = 0; j < 2; ++j) {
      const auto k = static_cast<int64_t>(pairs[static_cast<size_t>(s)][static_cast<size_t>(j)]);
      const double weight = sel[s] * p[s][j];
      app[k] += weight;
      for (int64_t l = 0; l < m; ++l) jnt[k][l] += weight * lev[s][j][l];
    }
  }
  const auto distribution = joint / application.clamp_min(1e-300).unsqueeze(1);
  const auto grid = torch::linspace(0, 1, m, torch::kFloat64);
  const auto mean_level = (distribution * grid).sum(1);

  auto ops = nlohmann::json::array();
  for (int k = 0; k < augment::kSearchOpCount; ++k) ops.push_back(augment::op_name(static_cast<augment::Op>(k)));
  auto top_list = nlohmann::json::array();
  const auto order = std::get<1>(selection.topk(std::min<int64_t>(top, augment::kSubPolicyCount)));
  const auto best_level = levels.argmax(2);
  for (int64_t r = 0; r < order.size(0); ++r) {
    const int64_t s = order[r].item<int64_t>();
    const auto& pair = pairs[static_cast<size_t>(s)];
    top_list.push_back(
        {{"ops", {augment::op_name(pair[0]), augment::op_name(pair[1])}},
         {"probability", round_significant(selection[s].item<double>(), kDigits)},
         {"apply",
          {round_significant(apply[s][0].item<double>(), kDigits),
           round_significant(apply[s][1].item<double>(), kDigits)}},
         {"level",
          {round_significant(static_cast<double>(best_level[s][0].item<int64_t>()) / static_cast<double>(m - 1),
                             kDigits),
           round_significant(static_cast<double>(best_level[s][1].item<int64_t>()) / static_cast<double>(m - 1),
                             kDigits)}}});
  }
  return {{"epoch", epoch},
          {"ops", ops},
          {"levels", m},
          {"application", rounded_rows(application)},
          {"level_distribution", rounded_rows(distribution)},
          {"mean_level", rounded_rows(mean_level)},
          {"sub_policy_probability", rounded_rows(selection)},
          {"top", top_list}};
}

SearchHistory::SearchHistory(const std::string& run_dir, int64_t keep_until_epoch, bool has_alpha, bool has_policy) {
  if (has_alpha) alpha_.emplace((fs::path(run_dir) / kAlphaFile).string(), keep_until_epoch);
  if (has_policy) policy_.emplace((fs::path(run_dir) / kPolicyFile).string(), keep_until_epoch);
}

void SearchHistory::append(int64_t epoch, const std::vector<torch::Tensor>& alphas,
                           const augment::SearchablePolicy& policy) {
  if (alpha_ && alphas.size() == 2) alpha_->append(alpha_record(epoch, alphas[0], alphas[1]));
  if (policy_ && policy) policy_->append(policy_record(epoch, *policy, kTopSubPolicies));
}

}  // namespace daas::search
