#pragma once
// The depthwise convolution kernels behind daas::nas::depthwise_conv2d, on raw
// NHWC arrays. isa/depthwise_kernels.cpp is compiled once per instruction set
// (baseline, AVX2, AVX-512; see CMakeLists.txt) and depthwise.cpp picks one at
// run time. This header is shared by code compiled with different -m flags,
// so it declares plain data and functions only: an inline function here could
// be emitted with AVX-512 instructions and chosen by the linker for every
// caller.
#include <cstdint>

namespace daas::nas::detail {

/// The geometry of one depthwise convolution. Every array is channels-last and
/// dense: x [N, H, W, C], y [N, Ho, Wo, C], weight taps [kernel·kernel, C]
/// (tap kh·kernel + kw), with the same symmetric padding on all four sides.
/// With relu_input the convolution reads max(x, 0) in place of x (a ReLU
/// fused into it, so that the ReLU's output is never written out).
struct DepthwiseShape {
  int64_t N, C, H, W;
  int64_t Ho, Wo;
  int64_t kernel, stride, padding, dilation;
  bool relu_input;
};

/// The three kernels for one scalar type. Rows are the flattened (n, row)
/// index of the tensor each kernel writes, so callers can split work freely.
template <typename T>
struct DepthwiseKernels {
  /// y rows [begin, end) of (n, oh): y = x ⋆ weight.
  void (*forward)(const DepthwiseShape& s, const T* x, const T* weight, T* y, int64_t begin, int64_t end);
  /// grad_x rows [begin, end) of (n, ih): the transposed convolution of grad_y;
  /// where `relu_x` is not null (the x of a relu_input convolution), zero
  /// wherever relu_x ≤ 0, as ReLU's backward.
  void (*grad_input)(const DepthwiseShape& s, const T* grad_y, const T* weight, const T* relu_x, T* grad_x,
                     int64_t begin, int64_t end);
  /// partial [kernel·kernel, C] = the weight gradient summed over the output
  /// rows [begin, end) of (n, oh), in a fixed order; overwritten.
  void (*grad_weight)(const DepthwiseShape& s, const T* x, const T* grad_y, T* partial, int64_t begin, int64_t end);
};

/// One instruction set's kernels; `kernel` must be 3 or 5, `stride` 1 or 2.
struct DepthwiseKernelSet {
  const char* isa;
  DepthwiseKernels<float> f32;
  DepthwiseKernels<double> f64;
};

/// SSE2 on x86-64, the compiler's default vectors elsewhere.
const DepthwiseKernelSet& depthwise_kernels_baseline();
#if defined(DAAS_DEPTHWISE_X86)
/// AVX2 + FMA (8 floats a vector); call only where the CPU has both.
const DepthwiseKernelSet& depthwise_kernels_avx2();
/// AVX-512F (16 floats a vector); call only where the CPU has it.
const DepthwiseKernelSet& depthwise_kernels_avx512();
#endif

}  // namespace daas::nas::detail
