#pragma once
// The element loops of daas's channels-last BatchNorm (nas/batch_norm.cpp),
// compiled once per instruction set beside the convolution kernels. Each
// runs over a block of rows taken as one flat array of n floats, with the
// per-channel values already repeated to the block's length, so the loops
// vectorise whatever the channel count. They are compiled without
// floating-point contraction: every element gets the same operations in the
// same order on every instruction set, so the results do not depend on the
// CPU. Plain data and functions only, as the other kernel headers.
#include <cstdint>

namespace daas::nas::detail {

struct BatchNormKernelSet {
  const char* isa;
  /// first[i] += a[i] − sa[i]; second[i] += (a[i] − sa[i])·(b[i] − sb[i]).
  void (*sums)(const float* a, const float* sa, const float* b, const float* sb, int64_t n, float* first,
               float* second);
  /// out[i] = (x[i] − centre[i])·scale[i] + shift[i].
  void (*affine)(const float* x, const float* centre, const float* scale, const float* shift, int64_t n, float* out);
  /// out[i] = (a[i] − (x[i] − centre[i])·scale[i] − shift[i])·gain[i].
  void (*affine_from)(const float* a, const float* x, const float* centre, const float* scale, const float* shift,
                      const float* gain, int64_t n, float* out);
};

const BatchNormKernelSet& batch_norm_kernels_baseline();
#if defined(DAAS_DEPTHWISE_X86)
const BatchNormKernelSet& batch_norm_kernels_avx2();
const BatchNormKernelSet& batch_norm_kernels_avx512();
#endif

}  // namespace daas::nas::detail
