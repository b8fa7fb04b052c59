#pragma once
// The DARTS search space: the PRIMITIVES list and one op table (name ->
// factory), after DARTS cnn/operations.py and cnn/genotypes.py. Every factory
// takes the same full settings, so no caller branches on an op's name.
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "daas/nas/batch_norm.h"

namespace daas::nas {

/// The DARTS PRIMITIVES, in DARTS's order (the column order of α).
enum class Primitive : int64_t {
  kNone = 0,
  kMaxPool3x3,
  kAvgPool3x3,
  kSkipConnect,
  kSepConv3x3,
  kSepConv5x5,
  kDilConv3x3,
  kDilConv5x5,
  kCount,
};

constexpr int64_t kNumPrimitives = static_cast<int64_t>(Primitive::kCount);

/// Names as DARTS and GDAS genotypes spell them, indexed by Primitive.
constexpr std::array<const char*, 8> kPrimitiveNames = {
    "none",         "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
};
static_assert(kPrimitiveNames.size() == static_cast<size_t>(Primitive::kCount), "one name per primitive");

/// The name of `op` ("sep_conv_3x3").
const char* primitive_name(Primitive op);

/// The one place where an op name becomes a Primitive; fails naming the
/// unknown op and the known ones.
Primitive parse_primitive(const std::string& name);

/// Every setting an op factory takes (DARTS: C, stride, affine).
struct OpSettings {
  int64_t C_in = 0;
  int64_t C_out = 0;
  int64_t stride = 1;
  bool affine = true;
  /// Search-network variant: BN is non-affine there and pools are followed by
  /// a non-affine BN (DARTS model_search.py MixedOp).
  bool search = false;
};

/// Base of every op of the table: one input, one output. `calls()` counts
/// forwards, so tests and profiles can see which ops of a cell really ran.
/// A cell's input state (the output of an earlier cell or of the stem) and
/// its ReLU, computed on first use and then shared: a state feeds the
/// preprocessing of the next two cells, and each would otherwise compute
/// and differentiate its own ReLU of the widest tensors in the network.
class CellInput {
 public:
  explicit CellInput(torch::Tensor state) : state_(std::move(state)) {}
  const torch::Tensor& state() const { return state_; }
  /// torch::relu(state()), the same tensor on every call.
  const torch::Tensor& relu() {
    if (!relu_.defined()) relu_ = torch::relu(state_);
    return relu_;
  }

 private:
  torch::Tensor state_, relu_;
};

class OpImpl : public torch::nn::Module {
 public:
  /// x: [N, C_in, H, W] -> [N, C_out, ceil(H/stride), ceil(W/stride)].
  torch::Tensor operator()(const torch::Tensor& x) {
    ++calls_;
    return forward(x);
  }
  /// The same on a cell input.
  torch::Tensor operator()(CellInput& input) {
    ++calls_;
    return forward_input(input);
  }
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  /// forward(input.state()) unless the op starts with a ReLU it can take
  /// from input.relu().
  virtual torch::Tensor forward_input(CellInput& input) { return forward(input.state()); }
  int64_t calls() const { return calls_; }
  void reset_calls() { calls_ = 0; }

 private:
  int64_t calls_ = 0;
};
using Op = std::shared_ptr<OpImpl>;

/// One row of the op table.
struct OpEntry {
  Primitive primitive;
  Op (*make)(const OpSettings& settings);
};

/// The op table, in PRIMITIVES order.
const std::array<OpEntry, kNumPrimitives>& op_table();

/// Builds `op` with `settings` through the table.
Op make_op(Primitive op, const OpSettings& settings);

// The DARTS building blocks, used by the table, the cells and the stems.

/// ReLU -> conv(k, stride, padding) -> BN (DARTS ReLUConvBN).
class ReLUConvBN : public OpImpl {
 public:
  ReLUConvBN(int64_t C_in, int64_t C_out, int64_t kernel, int64_t stride, int64_t padding, bool affine);
  torch::Tensor forward(const torch::Tensor& x) override;
  torch::Tensor forward_input(CellInput& input) override;

 private:
  torch::nn::Conv2d conv_{nullptr};
  BatchNorm bn_{nullptr};
};

/// Two ReLU -> depthwise k×k -> pointwise 1×1 -> BN blocks; stride on the
/// first (DARTS SepConv).
class SepConv : public OpImpl {
 public:
  SepConv(int64_t C_in, int64_t C_out, int64_t kernel, int64_t stride, int64_t padding, bool affine);
  torch::Tensor forward(const torch::Tensor& x) override;

 private:
  torch::nn::Conv2d dw1_{nullptr}, pw1_{nullptr}, dw2_{nullptr}, pw2_{nullptr};
  BatchNorm bn1_{nullptr}, bn2_{nullptr};
};

/// ReLU -> depthwise dilated k×k -> pointwise 1×1 -> BN (DARTS DilConv).
class DilConv : public OpImpl {
 public:
  DilConv(int64_t C_in, int64_t C_out, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation, bool affine);
  torch::Tensor forward(const torch::Tensor& x) override;

 private:
  torch::nn::Conv2d dw_{nullptr}, pw_{nullptr};
  BatchNorm bn_{nullptr};
};

/// ReLU, then two 1×1 stride-2 convs on x and on x shifted by one pixel,
/// concatenated, then BN (DARTS FactorizedReduce). C_out must be even. Odd
/// sides are handled by zero-padding the shifted copy, which changes nothing
/// for even sides (DARTS fails on odd ones).
class FactorizedReduce : public OpImpl {
 public:
  FactorizedReduce(int64_t C_in, int64_t C_out, bool affine);
  torch::Tensor forward(const torch::Tensor& x) override;

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  BatchNorm bn_{nullptr};
};

class Identity : public OpImpl {
 public:
  torch::Tensor forward(const torch::Tensor& x) override { return x; }
};

/// Zeros of the output shape (DARTS Zero). Cells never run it: an edge whose
/// op is `none` contributes nothing.
class Zero : public OpImpl {
 public:
  explicit Zero(int64_t stride) : stride_(stride) {}
  torch::Tensor forward(const torch::Tensor& x) override;

 private:
  int64_t stride_;
};

/// 3×3 max or average pool, padding 1, average without the padding
/// (count_include_pad=False); in the search network followed by a
/// non-affine BN.
class Pool : public OpImpl {
 public:
  Pool(bool max, int64_t C, int64_t stride, bool with_bn);
  torch::Tensor forward(const torch::Tensor& x) override;

 private:
  bool max_;
  int64_t stride_;
  BatchNorm bn_{nullptr};
};

/// conv(x), adding its multiply-adds to the active MacCounter if any.
torch::Tensor counted(torch::nn::Conv2d& conv, const torch::Tensor& x);
/// linear(x), adding its multiply-adds to the active MacCounter if any.
torch::Tensor counted(torch::nn::Linear& linear, const torch::Tensor& x);
/// bn(counted(conv, x)), of relu(x) with relu_input; in evaluation the
/// BatchNorm's affine map is folded into the convolution's weight and a bias
/// (one pass over the output instead of two; the same values up to float
/// rounding). A 1×1 convolution at stride 1 runs pointwise_conv2d, which takes
/// the ReLU inside its kernels.
torch::Tensor conv_bn(torch::nn::Conv2d& conv, BatchNorm& bn, const torch::Tensor& x, bool relu_input = false);

/// While alive, counts the multiply-adds of every convolution and linear
/// layer of the nas modules run on this thread (the usual "multi-adds" of
/// DARTS and thop: BN, pooling and activations are not counted).
class MacCounter {
 public:
  MacCounter();
  ~MacCounter();
  MacCounter(const MacCounter&) = delete;
  MacCounter& operator=(const MacCounter&) = delete;
  int64_t total() const { return total_; }
  static void add(int64_t macs);

 private:
  int64_t total_ = 0;
  MacCounter* previous_ = nullptr;
};

/// Number of elements of every parameter of `module`.
int64_t count_parameters(const torch::nn::Module& module);

}  // namespace daas::nas
