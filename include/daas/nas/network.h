#pragma once
// Networks derived from a genotype, after DARTS cnn/model.py: NetworkCIFAR
// (3·C stem, cells, auxiliary head at 2/3 of the depth, drop-path) and
// NetworkImageNet (two-stage stride-8 stem). Affine BN everywhere.
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

#include "daas/nas/genotype.h"
#include "daas/nas/ops.h"

namespace daas::nas {

/// DARTS's reduction cells, search and derived networks alike: cell `cell`
/// of `layers` (from 0) halves the resolution and doubles the channels at
/// 1/3 and 2/3 of the depth.
bool is_reduction(int64_t cell, int64_t layers);

/// Converts a batch to the memory format the nas networks compute in.
/// Channels-last is what makes the depthwise convolutions fast on CPU
/// (measured in bench/nas_step.cpp).
torch::Tensor to_compute_format(const torch::Tensor& x, bool channels_last);

/// A stem convolution and its BatchNorm on a batch: the batch and the
/// convolution's output both in the compute format, so that the BatchNorm
/// (or, in evaluation, the convolution it is folded into) reads channels-last.
torch::Tensor stem_conv_bn(torch::nn::Conv2d& conv, BatchNorm& bn, const torch::Tensor& x, bool channels_last);

/// Converts every 4-d parameter and buffer of `module` to channels-last, so
/// convolutions do not convert their weights at every call.
void weights_to_channels_last(torch::nn::Module& module);

/// x / keep · Bernoulli(keep) per sample (DARTS utils.drop_path), out of place.
/// On a rank with a generator (core::ShardContext) the masks of the whole
/// batch are drawn from it and the rank's rows kept.
torch::Tensor drop_path(const torch::Tensor& x, double drop_prob);

/// One cell of a derived network (DARTS model.py Cell).
class CellImpl : public torch::nn::Module {
 public:
  CellImpl(const Genotype& genotype, int64_t C_prev_prev, int64_t C_prev, int64_t C, bool reduction,
           bool reduction_prev);
  /// s0, s1: the outputs of the two previous cells; returns
  /// [N, multiplier·C, H', W'] (H' = H/2 in a reduction cell).
  torch::Tensor forward(const torch::Tensor& s0, const torch::Tensor& s1, double drop_prob);
  /// The same, sharing each input's ReLU with the other cell that reads it.
  torch::Tensor forward(CellInput& s0, CellInput& s1, double drop_prob);
  int64_t multiplier() const { return static_cast<int64_t>(concat_.size()); }
  bool reduction() const { return reduction_; }

 private:
  bool reduction_;
  Op preprocess0_, preprocess1_;
  std::vector<Op> ops_;
  std::vector<int64_t> inputs_;
  std::vector<bool> identity_;  // DARTS skips drop-path on Identity ops
  std::vector<int64_t> concat_;
};
TORCH_MODULE(Cell);

/// DARTS AuxiliaryHeadCIFAR / AuxiliaryHeadImageNet: ReLU, 5×5 average pool
/// (stride 3 on CIFAR's 8×8, stride 2 on ImageNet's 7×7) to 2×2, 1×1 conv to
/// 128, BN, ReLU, 2×2 conv to 768, [BN: CIFAR only, as DARTS], ReLU, linear.
/// Other input sides pool adaptively to 2×2 (same parameters).
class AuxiliaryHead : public torch::nn::Module {
 public:
  AuxiliaryHead(int64_t C, int64_t num_classes, bool imagenet);
  /// Logits from a cell's output; the head starts with that output's ReLU.
  torch::Tensor forward(CellInput& x);

 private:
  int64_t pool_stride_;
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  BatchNorm bn1_{nullptr}, bn2_{nullptr};
  torch::nn::Linear classifier_{nullptr};
};

struct NetworkOptions {
  NetworkOptions(int64_t C, int64_t layers, Genotype genotype)
      : C_(C), layers_(layers), genotype_(std::move(genotype)) {}
  TORCH_ARG(int64_t, C);
  TORCH_ARG(int64_t, layers);
  TORCH_ARG(Genotype, genotype);
  TORCH_ARG(int64_t, num_classes) = 10;
  TORCH_ARG(int64_t, in_channels) = 3;
  /// Auxiliary head after the cell at 2/3 of the depth (DARTS weight 0.4).
  TORCH_ARG(bool, auxiliary) = false;
  TORCH_ARG(double, drop_path_prob) = 0.0;
  /// Compute in channels-last memory format; inputs are converted at the stem.
  TORCH_ARG(bool, channels_last) = true;
};

/// Logits [N, classes] and auxiliary logits (undefined unless training with
/// an auxiliary head).
struct NetworkOutput {
  torch::Tensor logits;
  torch::Tensor aux_logits;
};

/// What NetworkCIFAR and NetworkImageNet share: the cells, the auxiliary
/// head, the classifier, drop-path and the input check. Each adds its stem.
class DerivedNetworkImpl : public torch::nn::Module {
 public:
  /// x: [N, in_channels, H, W] float.
  virtual NetworkOutput forward(const torch::Tensor& x) = 0;
  void set_drop_path_prob(double p);
  void pretty_print(std::ostream& stream) const override;
  const NetworkOptions& options() const { return options_; }

 protected:
  /// `name` ("NetworkCIFAR") names the network in messages.
  DerivedNetworkImpl(NetworkOptions options, const char* name);
  /// Registers the cells, the auxiliary head (DARTS's ImageNet variant with
  /// `imagenet`) and the classifier after the stem, whose two outputs have
  /// C_prev_prev and C_prev channels.
  void build_cells(int64_t C_prev_prev, int64_t C_prev, bool reduction_prev, bool imagenet);
  /// Fails unless x is [N, in_channels, H, W].
  void check_input(const torch::Tensor& x) const;
  /// The cells from the stem's two outputs, then the classifier.
  NetworkOutput run_cells(const torch::Tensor& s0, const torch::Tensor& s1);

 private:
  const char* name_;
  NetworkOptions options_;
  std::vector<Cell> cells_;
  std::shared_ptr<AuxiliaryHead> auxiliary_head_;
  torch::nn::Linear classifier_{nullptr};
};

/// DARTS NetworkCIFAR. Any input side works; the auxiliary head follows DARTS
/// exactly at its 8×8 design size and pools adaptively to 2×2 otherwise.
class NetworkCIFARImpl : public DerivedNetworkImpl {
 public:
  explicit NetworkCIFARImpl(NetworkOptions options);
  NetworkOutput forward(const torch::Tensor& x) override;

 private:
  torch::nn::Conv2d stem_conv_{nullptr};
  BatchNorm stem_bn_{nullptr};
};
TORCH_MODULE(NetworkCIFAR);

/// DARTS NetworkImageNet (stem: two stride-2 3×3 convs to C, then one to C,
/// i.e. stride 8 before the first cell).
class NetworkImageNetImpl : public DerivedNetworkImpl {
 public:
  explicit NetworkImageNetImpl(NetworkOptions options);
  NetworkOutput forward(const torch::Tensor& x) override;

 private:
  torch::nn::Conv2d stem0_conv1_{nullptr}, stem0_conv2_{nullptr}, stem1_conv_{nullptr};
  BatchNorm stem0_bn1_{nullptr}, stem0_bn2_{nullptr}, stem1_bn_{nullptr};
};
TORCH_MODULE(NetworkImageNet);

/// Parameters of a module split as DARTS reports them.
struct ModelSize {
  int64_t parameters = 0;            // all, auxiliary head included
  int64_t auxiliary_parameters = 0;  // the auxiliary head alone
  int64_t macs = 0;                  // multiply-adds per image (eval mode, no auxiliary head)
};

/// Counts parameters and the multiply-adds of one eval-mode forward of a
/// [1, in_channels, size, size] input.
ModelSize measure(DerivedNetworkImpl& net, int64_t size);

}  // namespace daas::nas
