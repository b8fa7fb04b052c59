#include "daas/nas/network.h"

#include <torch/torch.h>

#include "daas/core/error.h"
#include "daas/core/parallel.h"
#include "daas/nas/node_sum.h"

namespace daas::nas {
namespace {

namespace F = torch::nn::functional;

torch::nn::Conv2d plain_conv(int64_t C_in, int64_t C_out, int64_t kernel, int64_t stride, int64_t padding) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(C_in, C_out, kernel).stride(stride).padding(padding).bias(false));
}

void check_network_options(const NetworkOptions& o, const char* what) {
  core::check(o.C() >= 2 && o.C() % 2 == 0, "{}: C = {}; expected an even channel count >= 2", what, o.C());
  core::check(o.layers() >= 1, "{}: layers = {}; expected at least 1", what, o.layers());
  core::check(o.num_classes() >= 1, "{}: num_classes = {}; expected at least 1", what, o.num_classes());
  core::check(o.in_channels() >= 1, "{}: in_channels = {}; expected at least 1", what, o.in_channels());
  core::check(o.drop_path_prob() >= 0 && o.drop_path_prob() < 1, "{}: drop_path_prob = {}; expected a value in [0, 1)",
              what, o.drop_path_prob());
  o.genotype().validate();
}

}  // namespace

bool is_reduction(int64_t cell, int64_t layers) { return cell == layers / 3 || cell == 2 * layers / 3; }

torch::Tensor to_compute_format(const torch::Tensor& x, bool channels_last) {
  // A one-channel image is both channels-last and contiguous; LibTorch then
  // treats it as contiguous and the stem convolution answers in NCHW, which
  // every later op would keep: callers convert the stem's output too.
  return channels_last && x.dim() == 4 ? x.contiguous(torch::MemoryFormat::ChannelsLast) : x;
}

torch::Tensor stem_conv_bn(torch::nn::Conv2d& conv, BatchNorm& bn, const torch::Tensor& x, bool channels_last) {
  const auto input = to_compute_format(x, channels_last);
  if (bn->is_affine_map()) return to_compute_format(conv_bn(conv, bn, input), channels_last);
  return bn(to_compute_format(counted(conv, input), channels_last));
}

void weights_to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
}

torch::Tensor drop_path_scale(const torch::Tensor& x, double drop_prob) {
  const double keep = 1.0 - drop_prob;
  const auto& shard = core::current_shard();
  if (shard.generator == nullptr) {
    const auto mask = torch::empty({x.size(0)}, x.options()).bernoulli_(keep);
    return mask / keep;
  }
  // Ranks draw the whole batch's masks from generators seeded alike and keep
  // their own rows, so the masks do not depend on how the batch is split.
  // They are drawn on the CPU (a few bytes), whatever the device.
  const int64_t rows = shard.batch_rows > 0 ? shard.batch_rows : x.size(0);
  core::check(shard.first_row + x.size(0) <= rows, "drop_path: rows {} to {} of a batch of {}", shard.first_row,
              shard.first_row + x.size(0), rows);
  const auto mask = torch::empty({rows}, x.options().device(torch::kCPU))
                        .bernoulli_(keep, *shard.generator)
                        .slice(0, shard.first_row, shard.first_row + x.size(0))
                        .to(x.device());
  return mask / keep;
}

torch::Tensor drop_path(const torch::Tensor& x, double drop_prob) {
  if (drop_prob <= 0) return x;
  return x * drop_path_scale(x, drop_prob).view({-1, 1, 1, 1});
}

CellImpl::CellImpl(const Genotype& genotype, int64_t C_prev_prev, int64_t C_prev, int64_t C, bool reduction,
                   bool reduction_prev)
    : reduction_(reduction) {
  if (reduction_prev) {
    preprocess0_ = register_module("preprocess0", std::make_shared<FactorizedReduce>(C_prev_prev, C, true));
  } else {
    preprocess0_ = register_module(
        "preprocess0", std::make_shared<ReLUConvBN>(C_prev_prev, C, /*kernel=*/1, /*stride=*/1, /*padding=*/0, true));
  }
  preprocess1_ = register_module(
      "preprocess1", std::make_shared<ReLUConvBN>(C_prev, C, /*kernel=*/1, /*stride=*/1, /*padding=*/0, true));
  const auto& edges = reduction ? genotype.reduce : genotype.normal;
  concat_ = reduction ? genotype.reduce_concat : genotype.normal_concat;
  for (size_t e = 0; e < edges.size(); ++e) {
    const int64_t stride = reduction && edges[e].input < 2 ? 2 : 1;
    auto op = make_op(edges[e].op, OpSettings{C, C, stride, /*affine=*/true, /*search=*/false});
    identity_.push_back(std::dynamic_pointer_cast<Identity>(op) != nullptr);
    ops_.push_back(register_module("op" + std::to_string(e), op));
    inputs_.push_back(edges[e].input);
  }
}

torch::Tensor CellImpl::forward(const torch::Tensor& s0, const torch::Tensor& s1, double drop_prob) {
  CellInput in0(s0), in1(s1);
  return forward(in0, in1, drop_prob);
}

torch::Tensor CellImpl::forward(CellInput& s0, CellInput& s1, double drop_prob) {
  std::vector<torch::Tensor> states = {(*preprocess0_)(s0), (*preprocess1_)(s1)};
  const bool drop = is_training() && drop_prob > 0;
  for (size_t e = 0; e + 1 < ops_.size(); e += 2) {
    const auto h1 = (*ops_[e])(states[static_cast<size_t>(inputs_[e])]);
    const auto h2 = (*ops_[e + 1])(states[static_cast<size_t>(inputs_[e + 1])]);
    if (!drop || (identity_[e] && identity_[e + 1])) {
      states.push_back(h1 + h2);
      continue;
    }
    // Drop-path scales the non-identity edges per sample; a factor of 1
    // leaves an identity edge as it is.
    const auto one = torch::ones({h1.size(0)}, h1.options().device(torch::kCPU));
    const auto scale = [&](size_t edge, const torch::Tensor& h) {
      return identity_[edge] ? one : drop_path_scale(h, drop_prob).to(torch::kCPU);
    };
    states.push_back(row_scaled_sum({h1, h2}, torch::stack({scale(e, h1), scale(e + 1, h2)}).to(h1.device())));
  }
  std::vector<torch::Tensor> out;
  for (const auto node : concat_) out.push_back(states[static_cast<size_t>(node)]);
  return torch::cat(out, /*dim=*/1);
}

AuxiliaryHead::AuxiliaryHead(int64_t C, int64_t num_classes, bool imagenet) : pool_stride_(imagenet ? 2 : 3) {
  conv1_ = register_module("conv1", plain_conv(C, 128, /*kernel=*/1, /*stride=*/1, /*padding=*/0));
  bn1_ = register_module("bn1", BatchNorm(128));
  conv2_ = register_module("conv2", plain_conv(128, 768, /*kernel=*/2, /*stride=*/1, /*padding=*/0));
  // DARTS AuxiliaryHeadImageNet leaves this BN out ("omitted ... due to a
  // typo", kept out for consistency with the paper's numbers).
  if (!imagenet) bn2_ = register_module("bn2", BatchNorm(768));
  classifier_ = register_module("classifier", torch::nn::Linear(768, num_classes));
}

torch::Tensor AuxiliaryHead::forward(CellInput& x) {
  auto y = x.relu();
  const auto pooled = [&](int64_t side) { return side >= 5 ? (side - 5) / pool_stride_ + 1 : 0; };
  if (pooled(y.size(2)) == 2 && pooled(y.size(3)) == 2) {
    y = F::avg_pool2d(y, F::AvgPool2dFuncOptions(5).stride(pool_stride_).count_include_pad(false));
  } else {
    y = F::adaptive_avg_pool2d(y, F::AdaptiveAvgPool2dFuncOptions(2));
  }
  y = torch::relu(bn1_(counted(conv1_, y)));
  y = counted(conv2_, y);
  if (bn2_) y = bn2_(y);
  return counted(classifier_, torch::relu(y).flatten(1));
}

DerivedNetworkImpl::DerivedNetworkImpl(NetworkOptions options, const char* name)
    : name_(name), options_(std::move(options)) {
  check_network_options(options_, name_);
}

void DerivedNetworkImpl::build_cells(int64_t C_prev_prev, int64_t C_prev, bool reduction_prev, bool imagenet) {
  const auto& o = options_;
  int64_t C_curr = o.C();
  int64_t C_to_auxiliary = 0;
  for (int64_t i = 0; i < o.layers(); ++i) {
    const bool reduction = is_reduction(i, o.layers());
    if (reduction) C_curr *= 2;
    Cell cell(o.genotype(), C_prev_prev, C_prev, C_curr, reduction, reduction_prev);
    reduction_prev = reduction;
    C_prev_prev = C_prev;
    C_prev = cell->multiplier() * C_curr;
    // The auxiliary head reads the output of cell 2·layers/3.
    if (i == 2 * o.layers() / 3) C_to_auxiliary = C_prev;
    cells_.push_back(register_module("cell" + std::to_string(i), cell));
  }
  if (o.auxiliary()) {
    auxiliary_head_ =
        register_module("auxiliary_head", std::make_shared<AuxiliaryHead>(C_to_auxiliary, o.num_classes(), imagenet));
  }
  classifier_ = register_module("classifier", torch::nn::Linear(C_prev, o.num_classes()));
  if (o.channels_last()) weights_to_channels_last(*this);
}

void DerivedNetworkImpl::check_input(const torch::Tensor& x) const {
  core::check(x.dim() == 4 && x.size(1) == options_.in_channels(), "{} input: shape [{}]; expected [N, {}, H, W]",
              name_, fmt::join(x.sizes(), ", "), options_.in_channels());
}

NetworkOutput DerivedNetworkImpl::run_cells(const torch::Tensor& s0, const torch::Tensor& s1) {
  NetworkOutput out;
  const auto layers = static_cast<int64_t>(cells_.size());
  // The stem's output may be both inputs of the first cell (CIFAR).
  auto in0 = std::make_shared<CellInput>(s0);
  auto in1 = s1.is_same(s0) ? in0 : std::make_shared<CellInput>(s1);
  for (int64_t i = 0; i < layers; ++i) {
    auto next =
        std::make_shared<CellInput>(cells_[static_cast<size_t>(i)]->forward(*in0, *in1, options_.drop_path_prob()));
    in0 = std::move(in1);
    in1 = std::move(next);
    if (i == 2 * layers / 3 && auxiliary_head_ && is_training()) out.aux_logits = auxiliary_head_->forward(*in1);
  }
  out.logits =
      counted(classifier_, F::adaptive_avg_pool2d(in1->state(), F::AdaptiveAvgPool2dFuncOptions(1)).flatten(1));
  return out;
}

void DerivedNetworkImpl::set_drop_path_prob(double p) {
  core::check(p >= 0 && p < 1, "drop_path_prob = {}; expected a value in [0, 1)", p);
  options_.drop_path_prob(p);
}

void DerivedNetworkImpl::pretty_print(std::ostream& stream) const {
  stream << "daas::nas::" << name_ << "(C=" << options_.C() << ", layers=" << options_.layers()
         << ", classes=" << options_.num_classes() << ", auxiliary=" << options_.auxiliary() << ")";
}

NetworkCIFARImpl::NetworkCIFARImpl(NetworkOptions options) : DerivedNetworkImpl(std::move(options), "NetworkCIFAR") {
  const auto& o = this->options();
  const int64_t C_stem = 3 * o.C();  // DARTS stem_multiplier
  stem_conv_ = register_module("stem_conv", plain_conv(o.in_channels(), C_stem, /*kernel=*/3, /*stride=*/1, 1));
  stem_bn_ = register_module("stem_bn", BatchNorm(C_stem));
  build_cells(C_stem, C_stem, /*reduction_prev=*/false, /*imagenet=*/false);
}

NetworkOutput NetworkCIFARImpl::forward(const torch::Tensor& x) {
  check_input(x);
  const bool cl = options().channels_last();
  const auto s = stem_conv_bn(stem_conv_, stem_bn_, x, cl);
  return run_cells(s, s);
}

NetworkImageNetImpl::NetworkImageNetImpl(NetworkOptions options)
    : DerivedNetworkImpl(std::move(options), "NetworkImageNet") {
  const auto& o = this->options();
  stem0_conv1_ = register_module("stem0_conv1", plain_conv(o.in_channels(), o.C() / 2, 3, /*stride=*/2, 1));
  stem0_bn1_ = register_module("stem0_bn1", BatchNorm(o.C() / 2));
  stem0_conv2_ = register_module("stem0_conv2", plain_conv(o.C() / 2, o.C(), 3, /*stride=*/2, 1));
  stem0_bn2_ = register_module("stem0_bn2", BatchNorm(o.C()));
  stem1_conv_ = register_module("stem1_conv", plain_conv(o.C(), o.C(), 3, /*stride=*/2, 1));
  stem1_bn_ = register_module("stem1_bn", BatchNorm(o.C()));
  build_cells(o.C(), o.C(), /*reduction_prev=*/true, /*imagenet=*/true);
}

NetworkOutput NetworkImageNetImpl::forward(const torch::Tensor& x) {
  check_input(x);
  const bool cl = options().channels_last();
  auto s0 = torch::relu(stem_conv_bn(stem0_conv1_, stem0_bn1_, x, cl));
  s0 = conv_bn(stem0_conv2_, stem0_bn2_, s0);
  const auto s1 = conv_bn(stem1_conv_, stem1_bn_, torch::relu(s0));
  return run_cells(s0, s1);
}

ModelSize measure(DerivedNetworkImpl& net, int64_t size) {
  ModelSize out;
  out.parameters = count_parameters(net);
  for (const auto& item : net.named_parameters()) {
    if (item.key().rfind("auxiliary_head.", 0) == 0) out.auxiliary_parameters += item.value().numel();
  }
  const bool was_training = net.is_training();
  net.eval();
  {
    torch::NoGradGuard no_grad;
    MacCounter counter;
    net.forward(torch::zeros({1, net.options().in_channels(), size, size}));
    out.macs = counter.total();
  }
  net.train(was_training);
  return out;
}

}  // namespace daas::nas
