#pragma once
// The sum that makes a node of a search cell: Σ_i w[slot_i]·y_i over the
// outputs y_i of the ops on the node's incoming edges, as one autograd
// function. Written out with ATen it is a multiplication per term and an
// addition per term after the first, each a full pass over an activation
// tensor, and in the backward another multiplication and a reduction per
// term plus a select of w per term; at the sizes of a CPU search the step is
// bound by such passes over memory, so the node is summed in one pass and
// its gradients come from one pass too.
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace daas::nas {

/// Σ_i weights.flatten()[slots[i]] · terms[i] (in the order of `terms`, the
/// same float operations as the ATen expression). `weights` undefined means
/// every weight is exactly 1: the plain sum. terms: at least one, all the
/// same shape; weights: any shape (a cell's [edges, ops] path weights), the
/// gradient flows back into the entries named by `slots`. CPU float or
/// double terms of one dense layout (channels-last or contiguous) run the
/// fused kernels; anything else is computed with ATen ops. Results do not
/// depend on the number of threads. The backward is differentiable again
/// when it runs with create_graph (it then uses ATen ops).
torch::Tensor node_sum(const std::vector<torch::Tensor>& terms, const torch::Tensor& weights,
                       const std::vector<int64_t>& slots);

/// Σ_i scales[i][n] · terms[i][n] for every row n: the node of a retraining
/// cell whose edges pass through drop-path (each term scaled per sample,
/// then the terms added), in one pass forward and one backward instead of a
/// multiplication per term and an addition per term after the first. The
/// same float operations as that ATen expression, in its order. scales:
/// [terms, N], constant (no gradient flows into it); a factor of exactly 1
/// (an edge without drop-path) is skipped, which changes no bit. Kernels and
/// fallback as node_sum's.
torch::Tensor row_scaled_sum(const std::vector<torch::Tensor>& terms, const torch::Tensor& scales);

/// Whether node_sum runs the fused kernels for these arguments (otherwise
/// it computes with ATen ops).
bool node_sum_uses_kernels(const std::vector<torch::Tensor>& terms, const torch::Tensor& weights);

}  // namespace daas::nas
