// BatchNorm's element loops (batch_norm_kernels.h), compiled per instruction
// set. The compiler vectorises them from the restrict-qualified flat loops;
// at 8 or 16 channels the baseline build's 4-float vectors made them a
// sixth of a training step.
#include "batch_norm_kernels.h"

#include "vectors.h"

namespace daas::nas::detail {
namespace {

void sums(const float* __restrict__ a, const float* __restrict__ sa, const float* __restrict__ b,
          const float* __restrict__ sb, int64_t n, float* __restrict__ first, float* __restrict__ second) {
  for (int64_t i = 0; i < n; ++i) {
    const float da = a[i] - sa[i];
    first[i] += da;
    second[i] += da * (b[i] - sb[i]);
  }
}

void affine(const float* __restrict__ x, const float* __restrict__ centre, const float* __restrict__ scale,
            const float* __restrict__ shift, int64_t n, float* __restrict__ out) {
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] - centre[i]) * scale[i] + shift[i];
}

void affine_from(const float* __restrict__ a, const float* __restrict__ x, const float* __restrict__ centre,
                 const float* __restrict__ scale, const float* __restrict__ shift, const float* __restrict__ gain,
                 int64_t n, float* __restrict__ out) {
  for (int64_t i = 0; i < n; ++i) out[i] = (a[i] - (x[i] - centre[i]) * scale[i] - shift[i]) * gain[i];
}

}  // namespace

const BatchNormKernelSet& DAAS_ISA_CONCAT(batch_norm_kernels_, DAAS_DEPTHWISE_ISA)() {
  static const BatchNormKernelSet kernels = {DAAS_ISA_STRING(DAAS_DEPTHWISE_ISA), &sums, &affine, &affine_from};
  return kernels;
}

}  // namespace daas::nas::detail
