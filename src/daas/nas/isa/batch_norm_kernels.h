#pragma once
// The element loops of daas's channels-last BatchNorm (nas/batch_norm.cpp),
// compiled once per instruction set beside the convolution kernels. Each
// runs over `rows` rows of C channels (channels-last: a row is one pixel)
// with a group of channels in vector lanes and its per-channel values kept in
// registers, so a pass reads each element once and nothing else. They are
// compiled without floating-point contraction, and a channel's values always
// meet the same operations in the same order, whichever lane or vector width
// holds it: the results do not depend on the CPU. Plain data and functions
// only, as the other kernel headers.
#include <cstdint>

namespace daas::nas::detail {

/// Rows summed in float before the partial sum is added into double: float
/// keeps the loop in vector registers, double keeps 50k-row sums exact.
constexpr int64_t kBatchNormFloatRows = 64;

struct BatchNormKernelSet {
  const char* isa;
  /// Per channel c, over the rows: first[c] += Σ (a − sa[c]) and
  /// second[c] += Σ (a − sa[c])·(b − sb[c]), each kBatchNormFloatRows rows
  /// summed in float and then added into double. b may be a (and sb sa).
  void (*moments)(const float* a, const float* sa, const float* b, const float* sb, int64_t rows, int64_t C,
                  double* first, double* second);
  /// out = (x − centre[c])·scale[c] + shift[c].
  void (*affine)(const float* x, const float* centre, const float* scale, const float* shift, int64_t rows, int64_t C,
                 float* out);
  /// out = (a − (x − centre[c])·scale[c] − shift[c])·gain[c].
  void (*affine_from)(const float* a, const float* x, const float* centre, const float* scale, const float* shift,
                      const float* gain, int64_t rows, int64_t C, float* out);
};

const BatchNormKernelSet& batch_norm_kernels_baseline();
#if defined(DAAS_DEPTHWISE_X86)
const BatchNormKernelSet& batch_norm_kernels_avx2();
const BatchNormKernelSet& batch_norm_kernels_avx512();
#endif

}  // namespace daas::nas::detail
