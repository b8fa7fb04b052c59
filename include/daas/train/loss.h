#pragma once
// Losses and accuracy counts shared by the search and retraining loops.
#include <torch/types.h>

namespace daas::train {

/// Mean cross-entropy with label smoothing ε (Szegedy et al. 2016): the target
/// is (1 − ε)·onehot + ε/K. ε = 0 is plain cross-entropy. logits [N, K], labels int64 [N].
torch::Tensor smoothed_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels, double smoothing);

/// Number of rows whose label is among the k largest logits.
int64_t correct_top_k(const torch::Tensor& logits, const torch::Tensor& labels, int64_t k);

/// Fails with a message naming `what`, the epoch and the step when `loss` is NaN or infinite.
void check_finite(const torch::Tensor& loss, const char* what, int64_t epoch, int64_t step);

}  // namespace daas::train
