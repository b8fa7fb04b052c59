#pragma once
// The 1×1 (pointwise) convolution kernels behind daas::nas::pointwise_conv2d,
// on raw channels-last arrays: a pixel is a row of channels, so the
// convolution is a matrix product over the pixel rows. Compiled once per
// instruction set alongside the depthwise kernels (same rules: this header
// declares plain data and functions only).
#include <cstdint>

namespace daas::nas::detail {

/// The two kernels for one scalar type. Rows are pixels (n, h, w) flattened;
/// callers split them freely.
template <typename T>
struct PointwiseKernels {
  /// out[p, o] = bias[o] + Σ_k in[p, k] · weight[k, o] for the pixel rows
  /// [begin, end): in [P, K], weight [K, O], out [P, O]; bias may be null.
  /// With relu_in, in[p, k] is read as max(in[p, k], 0). Where `gate` (an
  /// array shaped like out) is not null, out is zero wherever gate ≤ 0: the
  /// backward of a ReLU whose input was `gate`.
  void (*product)(const T* in, int64_t K, const T* weight, const T* bias, int64_t O, bool relu_in, const T* gate,
                  T* out, int64_t begin, int64_t end);
  /// partial[o, k] = Σ_p grad[p, o] · in[p, k] over the pixel rows
  /// [begin, end), in pixel order: grad [P, O], in [P, K], partial [O, K],
  /// overwritten. With relu_in, in[p, k] is read as max(in[p, k], 0).
  void (*outer)(const T* grad, int64_t O, const T* in, int64_t K, bool relu_in, T* partial, int64_t begin, int64_t end);
};

/// One instruction set's kernels.
struct PointwiseKernelSet {
  const char* isa;
  PointwiseKernels<float> f32;
  PointwiseKernels<double> f64;
};

const PointwiseKernelSet& pointwise_kernels_baseline();
#if defined(DAAS_DEPTHWISE_X86)
const PointwiseKernelSet& pointwise_kernels_avx2();
const PointwiseKernelSet& pointwise_kernels_avx512();
#endif

}  // namespace daas::nas::detail
