#pragma once
// The 3×3 pooling kernels behind daas::nas::pool3x3 (padding 1, the pools
// of the DARTS search space; at stride 2 the forward alone), on raw
// channels-last arrays, compiled once per instruction set beside the
// convolution kernels. At stride 1 the
// input element under window column kw of the output at flat row position j
// (j = ow·C + c) is at j + (kw − 1)·C, so every loop runs over a whole row
// of W·C floats as one flat array and vectorises whatever the channel count.
// Plain data and functions only, as the other kernel headers.
#include <cstdint>

namespace daas::nas::detail {

/// x, y and the gradients [N, H, W, C], dense; the window (kh, kw) of an
/// output is its position code kh·3 + kw.
struct PoolShape {
  int64_t N, H, W, C;
};

struct PoolKernelSet {
  const char* isa;
  /// Whether max_backward beats LibTorch's scatter here: its gather compares
  /// one-byte positions, which baseline x86-64 (SSE2) does not vectorise
  /// (measured 12× slower than LibTorch), so there a max pool that will be
  /// differentiated runs LibTorch's.
  bool max_backward_pays;
  /// y rows [begin, end) of (n, oh): the window's maximum, as LibTorch's
  /// kernel takes it (the first of equal values, the last NaN); where `pos`
  /// is not null, the code of the window position it came from.
  void (*max_forward)(const PoolShape& s, const float* x, float* y, uint8_t* pos, int64_t begin, int64_t end);
  /// grad_x rows [begin, end) of (n, ih): the sum of the output gradients
  /// whose maximum came from each element, in output order.
  void (*max_backward)(const PoolShape& s, const float* grad_y, const uint8_t* pos, float* grad_x, int64_t begin,
                       int64_t end);
  /// y rows [begin, end): the window's mean over the pixels inside the image
  /// (count_include_pad = false), summed in window order, then divided.
  void (*avg_forward)(const PoolShape& s, const float* x, float* y, int64_t begin, int64_t end);
  /// grad_y divided by each output's pixel count, rows [begin, end) of (n, oh)
  /// into `share`: what each pixel of its window receives.
  void (*avg_share)(const PoolShape& s, const float* grad_y, float* share, int64_t begin, int64_t end);
  /// grad_x rows [begin, end): the sum of the shares of the outputs whose
  /// window holds each element, in output order.
  void (*avg_backward)(const PoolShape& s, const float* share, float* grad_x, int64_t begin, int64_t end);
  /// At stride 2, the forward alone (s is the input's shape; the output has
  /// (H − 1)/2 + 1 rows and (W − 1)/2 + 1 columns): y rows [begin, end) of
  /// (n, oh), each pixel's C channels from its window's pixels, the maximum
  /// or the mean as at stride 1. A reduction cell's pools where no gradient
  /// is needed (evaluation, the search's perturbed forwards).
  void (*max_forward_stride2)(const PoolShape& s, const float* x, float* y, int64_t begin, int64_t end);
  void (*avg_forward_stride2)(const PoolShape& s, const float* x, float* y, int64_t begin, int64_t end);
};

/// Output rows (or columns) of a 3×3 pool at stride 2 with padding 1 over
/// `size` input rows (columns).
inline int64_t stride2_size(int64_t size) { return (size - 1) / 2 + 1; }

const PoolKernelSet& pool_kernels_baseline();
#if defined(DAAS_DEPTHWISE_X86)
const PoolKernelSet& pool_kernels_avx2();
const PoolKernelSet& pool_kernels_avx512();
#endif

}  // namespace daas::nas::detail
