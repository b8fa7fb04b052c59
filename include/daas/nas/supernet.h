#pragma once
// The search network (DARTS model_search.py) with α kept as registered
// parameters apart from the weights, and two samplers behind one interface:
// `gumbel` (GDAS single path, docs/method.md §2) and `softmax` (DARTS relaxation).
#include <ATen/core/Generator.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "daas/nas/genotype.h"
#include "daas/nas/ops.h"

namespace daas::nas {

/// The path of one cell type for one step.
struct CellPath {
  /// [edges, kNumPrimitives]. gumbel: straight-through one-hot
  /// (onehot(k) − stopgrad(p) + p, value exactly 1 at k); softmax: softmax(α).
  /// Carries the graph back to α.
  torch::Tensor weights;
  /// gumbel: int64 [edges], the sampled op per edge; softmax: undefined.
  torch::Tensor index;
  /// Per edge, the ops that run (gumbel: the sampled one, none for `none`;
  /// softmax: every op but `none`, whose output is zero anyway).
  std::vector<std::vector<int64_t>> active;
};

/// One path sample for the whole network: drawn once per step and reused by
/// every forward of the step.
struct PathSample {
  CellPath normal;
  CellPath reduce;
  /// The weights of active ops are exactly 1 (gumbel), so a detached forward
  /// skips the multiplication.
  bool hard = false;
};

/// A sampler: turns α of one cell type into a CellPath (the sampler table).
struct SamplerEntry {
  const char* name;
  bool hard;
  CellPath (*sample)(const torch::Tensor& alpha, double tau, at::Generator* generator);
};

/// `gumbel`, `softmax`.
const std::vector<SamplerEntry>& sampler_table();
/// The names of sampler_table(), in order (the `sampler` setting's choices).
std::vector<std::string> sampler_names();
/// Fails naming the unknown sampler and the known ones.
const SamplerEntry& find_sampler(const std::string& name);

/// GDAS sampling (docs/method.md §2) on each row of `alpha` ([edges, ops]): p = softmax((log_softmax α
/// + g) / τ), g ~ Gumbel(0,1); k = argmax p; straight-through one-hot.
/// Redraws (at most 100 times) while g or p holds inf or NaN.
CellPath gumbel_path(const torch::Tensor& alpha, double tau, at::Generator* generator);
/// DARTS: every op, weighted by softmax(α).
CellPath softmax_path(const torch::Tensor& alpha, double tau, at::Generator* generator);

/// The outputs of the ops that feed one node, and for each the entry of the
/// cell's path weights ([edges, ops], flattened) it is multiplied by.
struct NodeTerms {
  std::vector<torch::Tensor> terms;
  std::vector<int64_t> slots;
};

/// One edge of the search cell: every op of the table (DARTS MixedOp).
class MixedOpImpl : public torch::nn::Module {
 public:
  MixedOpImpl(int64_t C, int64_t stride);
  /// Σ_{k in active} w[k]·op_k(x); undefined when `active` is empty.
  /// `weights` undefined means every weight is exactly 1 (detached hard path).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& weights, const std::vector<int64_t>& active);
  /// Appends op_k(x) for k in `active` to `node`, with slot first_slot + k
  /// (the cell sums all terms of a node at once).
  void append_terms(const torch::Tensor& x, const std::vector<int64_t>& active, int64_t first_slot, NodeTerms& node);
  const std::vector<Op>& ops() const { return ops_; }

 private:
  std::vector<Op> ops_;
};
TORCH_MODULE(MixedOp);

/// DARTS model_search.py Cell: non-affine preprocessing, steps nodes, each
/// summing a MixedOp over every earlier node; output = the last
/// `multiplier` nodes concatenated.
class SearchCellImpl : public torch::nn::Module {
 public:
  SearchCellImpl(int64_t steps, int64_t multiplier, int64_t C_prev_prev, int64_t C_prev, int64_t C, bool reduction,
                 bool reduction_prev);
  /// s0, s1: the outputs of the two previous cells, each with its ReLU
  /// shared by the two cells that read it.
  torch::Tensor forward(CellInput& s0, CellInput& s1, const CellPath& path, const torch::Tensor& weights);
  bool reduction() const { return reduction_; }
  const std::vector<MixedOp>& edges() const { return edges_; }

 private:
  int64_t steps_;
  int64_t multiplier_;
  bool reduction_;
  Op preprocess0_, preprocess1_;
  std::vector<MixedOp> edges_;
};
TORCH_MODULE(SearchCell);

struct SearchNetworkOptions {
  SearchNetworkOptions(int64_t C, int64_t layers) : C_(C), layers_(layers) {}
  TORCH_ARG(int64_t, C);
  TORCH_ARG(int64_t, layers);
  TORCH_ARG(int64_t, num_classes) = 10;
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(int64_t, steps) = 4;
  TORCH_ARG(int64_t, multiplier) = 4;
  TORCH_ARG(int64_t, stem_multiplier) = 3;
  /// A row of sampler_table(): "gumbel" or "softmax".
  TORCH_ARG(std::string, sampler) = "gumbel";
  /// Gumbel-softmax temperature (the search anneals it 10 -> 0.1; docs/method.md §2).
  TORCH_ARG(double, tau) = 10.0;
  /// Compute in channels-last memory format; inputs are converted at the stem.
  TORCH_ARG(bool, channels_last) = true;
};

/// The DARTS search network. Parameters: the weights (weight_parameters())
/// and α_normal, α_reduce ([edges, kNumPrimitives], 1e-3·N(0,1);
/// arch_parameters()), all registered, so state_dict and .to() carry them.
class SearchNetworkImpl : public torch::nn::Module {
 public:
  explicit SearchNetworkImpl(SearchNetworkOptions options);

  /// Draws one path of the configured sampler from the current α (gumbel:
  /// one op per edge; softmax: every op). `generator` null = LibTorch's
  /// default CPU generator.
  PathSample sample_path(at::Generator* generator = nullptr);

  /// Logits [N, classes] of x [N, in_channels, H, W] along `path`.
  /// detach_arch: no graph back to α (the forwards of a step other than the
  /// architecture step); a path's weights may be back-propagated once.
  torch::Tensor forward(const torch::Tensor& x, const PathSample& path, bool detach_arch);
  /// forward(x, sample_path(), false).
  torch::Tensor forward(const torch::Tensor& x);

  std::vector<torch::Tensor> weight_parameters() const;
  std::vector<torch::Tensor> arch_parameters() const { return {alpha_normal_, alpha_reduce_}; }
  torch::Tensor alpha_normal() const { return alpha_normal_; }
  torch::Tensor alpha_reduce() const { return alpha_reduce_; }

  void set_tau(double tau);
  double tau() const { return options_.tau(); }

  /// DARTS derivation on the current α (derive_genotype).
  Genotype genotype() const;

  const SearchNetworkOptions& options() const { return options_; }
  const std::vector<SearchCell>& cells() const { return cells_; }
  void pretty_print(std::ostream& stream) const override;

 private:
  SearchNetworkOptions options_;
  const SamplerEntry* sampler_ = nullptr;
  torch::nn::Conv2d stem_conv_{nullptr};
  BatchNorm stem_bn_{nullptr};
  std::vector<SearchCell> cells_;
  torch::nn::Linear classifier_{nullptr};
  torch::Tensor alpha_normal_, alpha_reduce_;
};
TORCH_MODULE(SearchNetwork);

/// Number of edges of a cell with `steps` nodes (2 + 3 + ... = 14 for 4).
int64_t edges_for_steps(int64_t steps);

}  // namespace daas::nas
