#include "daas/nas/supernet.h"

#include <torch/torch.h>

#include "daas/core/error.h"
#include "daas/nas/network.h"
#include "daas/nas/node_sum.h"

namespace daas::nas {
namespace {

namespace F = torch::nn::functional;

constexpr int kMaxGumbelDraws = 100;
constexpr double kAlphaInitScale = 1e-3;  // DARTS: 1e-3 * randn

std::vector<std::vector<int64_t>> all_but_none(int64_t edges) {
  std::vector<int64_t> ops;
  for (int64_t k = 0; k < kNumPrimitives; ++k) {
    if (k != static_cast<int64_t>(Primitive::kNone)) ops.push_back(k);
  }
  return std::vector<std::vector<int64_t>>(static_cast<size_t>(edges), ops);
}

}  // namespace

CellPath gumbel_path(const torch::Tensor& alpha, double tau, at::Generator* generator) {
  core::check(tau > 0 && std::isfinite(tau), "gumbel tau = {}; expected a positive finite temperature", tau);
  const c10::optional<at::Generator> gen = generator ? c10::optional<at::Generator>(*generator) : c10::nullopt;
  for (int draw = 0; draw < kMaxGumbelDraws; ++draw) {
    torch::Tensor gumbels;
    {
      torch::NoGradGuard no_grad;
      // Drawn on the CPU, where the (CPU) generator lives, then moved: the same
      // seed gives the same path whatever device α is on.
      gumbels = -torch::empty(alpha.sizes(), alpha.options().device(torch::kCPU))
                     .exponential_(1.0, gen)
                     .log()
                     .to(alpha.device());
    }
    const auto probs = torch::softmax((torch::log_softmax(alpha, /*dim=*/1) + gumbels) / tau, /*dim=*/1);
    const bool bad = torch::isinf(gumbels).any().item<bool>() || !torch::isfinite(probs).all().item<bool>();
    if (bad) continue;
    CellPath path;
    path.index = std::get<1>(probs.detach().max(/*dim=*/1)).to(torch::kCPU);
    const auto one_hot = torch::zeros_like(probs).scatter_(1, path.index.to(probs.device()).unsqueeze(1), 1.0);
    path.weights = one_hot - probs.detach() + probs;
    const auto index = path.index.accessor<int64_t, 1>();
    for (int64_t e = 0; e < index.size(0); ++e) {
      if (index[e] == static_cast<int64_t>(Primitive::kNone)) {
        path.active.emplace_back();
      } else {
        path.active.push_back({index[e]});
      }
    }
    return path;
  }
  core::fail(
      "gumbel sampling: {} draws in a row gave inf or NaN (alpha holds NaN/inf: {}; tau {}); expected finite alpha",
      kMaxGumbelDraws, !torch::isfinite(alpha).all().item<bool>(), tau);
}

CellPath softmax_path(const torch::Tensor& alpha, double /*tau*/, at::Generator* /*generator*/) {
  CellPath path;
  path.weights = torch::softmax(alpha, /*dim=*/-1);
  path.active = all_but_none(alpha.size(0));
  return path;
}

const std::vector<SamplerEntry>& sampler_table() {
  static const std::vector<SamplerEntry> table = {
      {"gumbel", /*hard=*/true, &gumbel_path},
      {"softmax", /*hard=*/false, &softmax_path},
  };
  return table;
}

std::vector<std::string> sampler_names() {
  std::vector<std::string> names;
  for (const auto& entry : sampler_table()) names.push_back(entry.name);
  return names;
}

const SamplerEntry& find_sampler(const std::string& name) {
  for (const auto& entry : sampler_table()) {
    if (name == entry.name) return entry;
  }
  core::fail("unknown sampler '{}'; expected one of {}", name, fmt::join(sampler_names(), ", "));
}

int64_t edges_for_steps(int64_t steps) { return steps * (steps + 3) / 2; }

MixedOpImpl::MixedOpImpl(int64_t C, int64_t stride) {
  for (const auto& entry : op_table()) {
    auto op = entry.make(OpSettings{C, C, stride, /*affine=*/false, /*search=*/true});
    ops_.push_back(register_module(primitive_name(entry.primitive), op));
  }
}

void MixedOpImpl::append_terms(const torch::Tensor& x, const std::vector<int64_t>& active, int64_t first_slot,
                               NodeTerms& node) {
  for (const auto k : active) {
    node.terms.push_back((*ops_[static_cast<size_t>(k)])(x));
    node.slots.push_back(first_slot + k);
  }
}

torch::Tensor MixedOpImpl::forward(const torch::Tensor& x, const torch::Tensor& weights,
                                   const std::vector<int64_t>& active) {
  NodeTerms node;
  append_terms(x, active, /*first_slot=*/0, node);
  return node.terms.empty() ? torch::Tensor() : node_sum(node.terms, weights, node.slots);
}

SearchCellImpl::SearchCellImpl(int64_t steps, int64_t multiplier, int64_t C_prev_prev, int64_t C_prev, int64_t C,
                               bool reduction, bool reduction_prev)
    : steps_(steps), multiplier_(multiplier), reduction_(reduction) {
  if (reduction_prev) {
    preprocess0_ = register_module("preprocess0", std::make_shared<FactorizedReduce>(C_prev_prev, C, false));
  } else {
    preprocess0_ = register_module("preprocess0", std::make_shared<ReLUConvBN>(C_prev_prev, C, /*kernel=*/1,
                                                                               /*stride=*/1, /*padding=*/0, false));
  }
  preprocess1_ = register_module(
      "preprocess1", std::make_shared<ReLUConvBN>(C_prev, C, /*kernel=*/1, /*stride=*/1, /*padding=*/0, false));
  for (int64_t i = 0; i < steps; ++i) {
    for (int64_t j = 0; j < i + 2; ++j) {
      const int64_t stride = reduction && j < 2 ? 2 : 1;
      edges_.push_back(register_module("edge" + std::to_string(edges_.size()), MixedOp(C, stride)));
    }
  }
}

torch::Tensor SearchCellImpl::forward(CellInput& s0, CellInput& s1, const CellPath& path,
                                      const torch::Tensor& weights) {
  std::vector<torch::Tensor> states = {(*preprocess0_)(s0), (*preprocess1_)(s1)};
  // A copy, not a reference: `states` grows below and may move its elements.
  const torch::Tensor ref = states[1];
  const int64_t stride = reduction_ ? 2 : 1;
  int64_t edge = 0;
  for (int64_t i = 0; i < steps_; ++i) {
    // Every active op of the node's edges, summed at once (node_sum).
    NodeTerms terms;
    for (int64_t j = 0; j < i + 2; ++j, ++edge) {
      edges_[static_cast<size_t>(edge)]->append_terms(
          states[static_cast<size_t>(j)], path.active[static_cast<size_t>(edge)], edge * kNumPrimitives, terms);
    }
    torch::Tensor node;
    if (!terms.terms.empty()) node = node_sum(terms.terms, weights, terms.slots);
    if (!node.defined()) {
      // Every edge into this node drew `none`: the node is zero.
      node = torch::zeros(
                 {ref.size(0), ref.size(1), (ref.size(2) + stride - 1) / stride, (ref.size(3) + stride - 1) / stride},
                 ref.options())
                 .contiguous(ref.suggest_memory_format());
    }
    states.push_back(node);
  }
  std::vector<torch::Tensor> out(states.end() - multiplier_, states.end());
  return torch::cat(out, /*dim=*/1);
}

SearchNetworkImpl::SearchNetworkImpl(SearchNetworkOptions options) : options_(std::move(options)) {
  const auto& o = options_;
  core::check(o.C() >= 2 && o.C() % 2 == 0, "SearchNetwork: C = {}; expected an even channel count >= 2", o.C());
  core::check(o.layers() >= 1, "SearchNetwork: layers = {}; expected at least 1", o.layers());
  core::check(o.steps() >= 1, "SearchNetwork: steps = {}; expected at least 1", o.steps());
  core::check(o.multiplier() >= 1 && o.multiplier() <= o.steps(),
              "SearchNetwork: multiplier = {}; expected 1..{} (steps)", o.multiplier(), o.steps());
  core::check(o.stem_multiplier() >= 1, "SearchNetwork: stem_multiplier = {}; expected at least 1",
              o.stem_multiplier());
  core::check(o.num_classes() >= 1 && o.in_channels() >= 1,
              "SearchNetwork: {} classes, {} input channels; expected >= 1", o.num_classes(), o.in_channels());
  sampler_ = &find_sampler(o.sampler());
  set_tau(o.tau());

  const int64_t C_stem = o.stem_multiplier() * o.C();
  stem_conv_ = register_module(
      "stem_conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in_channels(), C_stem, 3).padding(1).bias(false)));
  stem_bn_ = register_module("stem_bn", BatchNorm(C_stem));
  int64_t C_prev_prev = C_stem, C_prev = C_stem, C_curr = o.C();
  bool reduction_prev = false;
  for (int64_t i = 0; i < o.layers(); ++i) {
    const bool reduction = is_reduction(i, o.layers());
    if (reduction) C_curr *= 2;
    cells_.push_back(
        register_module("cell" + std::to_string(i),
                        SearchCell(o.steps(), o.multiplier(), C_prev_prev, C_prev, C_curr, reduction, reduction_prev)));
    reduction_prev = reduction;
    C_prev_prev = C_prev;
    C_prev = o.multiplier() * C_curr;
  }
  classifier_ = register_module("classifier", torch::nn::Linear(C_prev, o.num_classes()));
  const int64_t edges = edges_for_steps(o.steps());
  alpha_normal_ = register_parameter("alpha_normal", kAlphaInitScale * torch::randn({edges, kNumPrimitives}));
  alpha_reduce_ = register_parameter("alpha_reduce", kAlphaInitScale * torch::randn({edges, kNumPrimitives}));
  if (o.channels_last()) weights_to_channels_last(*this);
}

PathSample SearchNetworkImpl::sample_path(at::Generator* generator) {
  PathSample path;
  path.hard = sampler_->hard;
  path.normal = sampler_->sample(alpha_normal_, options_.tau(), generator);
  path.reduce = sampler_->sample(alpha_reduce_, options_.tau(), generator);
  return path;
}

torch::Tensor SearchNetworkImpl::forward(const torch::Tensor& x, const PathSample& path, bool detach_arch) {
  core::check(x.dim() == 4 && x.size(1) == options_.in_channels(),
              "SearchNetwork input: shape [{}]; expected [N, {}, H, W]", fmt::join(x.sizes(), ", "),
              options_.in_channels());
  const int64_t edges = alpha_normal_.size(0);
  for (const CellPath* cell : {&path.normal, &path.reduce}) {
    core::check(
        cell->weights.defined() && cell->weights.dim() == 2 && cell->weights.size(0) == edges &&
            cell->weights.size(1) == kNumPrimitives && static_cast<int64_t>(cell->active.size()) == edges,
        "SearchNetwork: path sample with weights [{}] for {} edges; expected [{}, {}] (draw it with sample_path())",
        cell->weights.defined() ? fmt::format("{}", fmt::join(cell->weights.sizes(), ", ")) : "", cell->active.size(),
        edges, kNumPrimitives);
  }
  // A detached hard path has weight exactly 1 on every active op: skip the
  // multiplications (and their saved tensors) altogether.
  auto weights_for = [&](const CellPath& cell) {
    if (!detach_arch) return cell.weights;
    return path.hard ? torch::Tensor() : cell.weights.detach();
  };
  const auto w_normal = weights_for(path.normal);
  const auto w_reduce = weights_for(path.reduce);
  const bool cl = options_.channels_last();
  // The stem's output is both inputs of the first cell.
  auto in0 = std::make_shared<CellInput>(stem_conv_bn(stem_conv_, stem_bn_, x, cl));
  auto in1 = in0;
  for (auto& cell : cells_) {
    const bool reduction = cell->reduction();
    auto next = std::make_shared<CellInput>(
        cell->forward(*in0, *in1, reduction ? path.reduce : path.normal, reduction ? w_reduce : w_normal));
    in0 = std::move(in1);
    in1 = std::move(next);
  }
  return counted(classifier_, F::adaptive_avg_pool2d(in1->state(), F::AdaptiveAvgPool2dFuncOptions(1)).flatten(1));
}

torch::Tensor SearchNetworkImpl::forward(const torch::Tensor& x) { return forward(x, sample_path(), false); }

std::vector<torch::Tensor> SearchNetworkImpl::weight_parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& p : parameters()) {
    if (!p.is_same(alpha_normal_) && !p.is_same(alpha_reduce_)) out.push_back(p);
  }
  return out;
}

void SearchNetworkImpl::set_tau(double tau) {
  core::check(tau > 0 && std::isfinite(tau), "tau = {}; expected a positive finite temperature", tau);
  options_.tau(tau);
}

Genotype SearchNetworkImpl::genotype() const {
  return derive_genotype(alpha_normal_, alpha_reduce_, options_.multiplier());
}

void SearchNetworkImpl::pretty_print(std::ostream& stream) const {
  stream << "daas::nas::SearchNetwork(C=" << options_.C() << ", layers=" << options_.layers()
         << ", steps=" << options_.steps() << ", sampler=" << options_.sampler() << ", tau=" << options_.tau() << ")";
}

}  // namespace daas::nas
