// Pointwise (1×1) convolution kernels on channels-last arrays, vectorised over
// output channels (the product) or input channels (the weight gradient's
// outer products) with GCC vector types; compiled once per instruction set
// like depthwise_kernels.cpp.
//
// At the channel counts of the DARTS networks on small images (8 to 256) a
// 1×1 convolution is bound by memory more than by arithmetic, and oneDNN's
// kernels ran a 16→16 channel one at about a fifth of the core's multiply-add
// rate inside a training step. These kernels read each input row once per
// block of pixels, keep the accumulators of a block of pixels (or of output
// channels) in registers, and take a ReLU of the input on the fly, so the
// ReLU's output is never written to memory.
#include "pointwise_kernels.h"

#include <cstdint>
#include <cstring>

#include "vectors.h"

namespace daas::nas::detail {
namespace {

/// Pixel rows whose (ReLU'd) inputs are copied together into a small buffer
/// and share each weight vector load.
constexpr int64_t kPixelBlock = 8;

/// Pixel blocks ahead whose input rows are requested from memory before
/// their use, so that the loads overlap the arithmetic.
constexpr int64_t kPrefetchBlocks = 4;

/// Requests the `count` values from `first` on (addresses computed as
/// integers: they may lie past the array, which a prefetch does not mind).
template <typename T>
inline void prefetch_rows(const T* first, int64_t count) {
  constexpr int64_t kLineBytes = 64;
  const uintptr_t start = reinterpret_cast<uintptr_t>(first);
  for (int64_t byte = 0; byte < static_cast<int64_t>(sizeof(T)) * count; byte += kLineBytes) {
    __builtin_prefetch(reinterpret_cast<const void*>(start + byte));
  }
}

/// Calls f(Constant<B>{}, p) over the pixel rows [begin, end) in blocks of
/// kPixelBlock, then 4, 2 and 1.
template <typename F>
void for_each_pixel_block(int64_t begin, int64_t end, F&& f) {
  static_assert(kPixelBlock == 8, "the column blocks of for_each_column_block");
  for_each_column_block(end - begin, [&](auto block, int64_t j) { f(block, begin + j); });
}

/// out rows [p, p + B), channels [o0, o0 + V·L): `rows` holds the B input
/// rows (K each, ReLU already applied). B·V accumulators stay in registers;
/// each input value is broadcast once for V vectors of weights.
template <typename T, int L, int V, int B>
inline void product_block(const T* rows, int64_t K, const T* weight, const T* bias, int64_t O, const T* gate, T* out,
                          int64_t p, int64_t o0) {
  Vec<T, L> acc[B][V];
  for (int v = 0; v < V; ++v) {
    const Vec<T, L> start = bias != nullptr ? load<T, L>(bias + o0 + v * L) : Vec<T, L>{};
    for (int b = 0; b < B; ++b) acc[b][v] = start;
  }
  for (int64_t k = 0; k < K; ++k) {
    Vec<T, L> w[V];
    for (int v = 0; v < V; ++v) w[v] = load<T, L>(weight + k * O + o0 + v * L);
    for (int b = 0; b < B; ++b) {
      const T x = rows[b * K + k];
      for (int v = 0; v < V; ++v) acc[b][v] += x * w[v];
    }
  }
  for (int b = 0; b < B; ++b) {
    for (int v = 0; v < V; ++v) {
      const int64_t at = (p + b) * O + o0 + v * L;
      store_gated<T, L>(out + at, gate != nullptr ? gate + at : nullptr, acc[b][v]);
    }
  }
}

/// Vectors of output channels computed together: as many as keep B·V
/// accumulators, V weights and a broadcast within the vector registers.
template <int B>
constexpr int kProductVectors = (kVectorRegisters - 2) / (B + 1) >= 4   ? 4
                                : (kVectorRegisters - 2) / (B + 1) >= 2 ? 2
                                                                        : 1;

template <typename T>
void product(const T* in, int64_t K, const T* weight, const T* bias, int64_t O, bool relu_in, const T* gate, T* out,
             int64_t begin, int64_t end) {
  Scratch<T> buffer(kPixelBlock * K);
  for_each_pixel_block(begin, end, [&](auto block, int64_t p) {
    constexpr int B = decltype(block)::value;
    const T* rows = in + p * K;
    prefetch_rows(in + (p + kPrefetchBlocks * kPixelBlock) * K, B * K);
    if (relu_in) {  // the ReLU once per input value, not once per output block
      T* copy = buffer.data();
      for_each_channel_block<T>(B * K, [&](auto width, int64_t i) {
        constexpr int W = decltype(width)::value;
        store<T, W>(copy + i, relu<T, W>(load<T, W>(rows + i)));
      });
      rows = copy;
    }
    constexpr int L = kLanes<T>;
    constexpr int V = kProductVectors<B>;
    int64_t o0 = 0;
    for (; o0 + V * L <= O; o0 += V * L) product_block<T, L, V, B>(rows, K, weight, bias, O, gate, out, p, o0);
    for (; o0 + L <= O; o0 += L) product_block<T, L, 1, B>(rows, K, weight, bias, O, gate, out, p, o0);
    for_each_channel_block<T>(O - o0, [&](auto width, int64_t c0) {
      constexpr int W = decltype(width)::value;
      if constexpr (W < L) product_block<T, W, 1, B>(rows, K, weight, bias, O, gate, out, p, o0 + c0);
    });
  });
}

/// partial[o0 .. o0 + B, k0 .. k0 + V·L) += the sum over the pixel rows
/// [begin, end): B·V accumulators in registers, each gradient value
/// broadcast once for V input vectors.
template <typename T, int L, int V, int B>
inline void outer_block(const T* grad, int64_t O, const T* in, int64_t K, bool relu_in, T* partial, int64_t begin,
                        int64_t end, int64_t o0, int64_t k0) {
  Vec<T, L> acc[B][V];
  for (int b = 0; b < B; ++b) {
    for (int v = 0; v < V; ++v) acc[b][v] = load<T, L>(partial + (o0 + b) * K + k0 + v * L);
  }
  for (int64_t p = begin; p < end; ++p) {
    Vec<T, L> x[V];
    for (int v = 0; v < V; ++v) {
      x[v] = load<T, L>(in + p * K + k0 + v * L);
      if (relu_in) x[v] = relu<T, L>(x[v]);
    }
    const T* g = grad + p * O + o0;
    for (int b = 0; b < B; ++b) {
      const T gb = g[b];
      for (int v = 0; v < V; ++v) acc[b][v] += gb * x[v];
    }
  }
  for (int b = 0; b < B; ++b) {
    for (int v = 0; v < V; ++v) store<T, L>(partial + (o0 + b) * K + k0 + v * L, acc[b][v]);
  }
}

/// The sums of the pixel rows [begin, end) added into partial.
template <typename T>
void outer_tile(const T* grad, int64_t O, const T* in, int64_t K, bool relu_in, T* partial, int64_t begin,
                int64_t end) {
  constexpr int L = kLanes<T>;
  constexpr int V = kVectorRegisters >= 32 ? 2 : 1;  // 8 output rows × V vectors of accumulators
  const auto columns = [&](auto width, auto vectors, int64_t k0) {
    for_each_column_block(O, [&](auto block, int64_t o0) {
      outer_block<T, decltype(width)::value, decltype(vectors)::value, decltype(block)::value>(
          grad, O, in, K, relu_in, partial, begin, end, o0, k0);
    });
  };
  int64_t k0 = 0;
  for (; k0 + V * L <= K; k0 += V * L) columns(Constant<L>{}, Constant<V>{}, k0);
  for (; k0 + L <= K; k0 += L) columns(Constant<L>{}, Constant<1>{}, k0);
  for_each_channel_block<T>(K - k0, [&](auto width, int64_t c0) {
    if constexpr (decltype(width)::value < L) columns(width, Constant<1>{}, k0 + c0);
  });
}

/// Pixel rows whose inputs and gradients stay in L1 while every block of
/// the weight gradient passes over them (64 rows of 64 channels: 16 KiB).
constexpr int64_t kOuterTileBytes = 16 << 10;

template <typename T>
void outer(const T* grad, int64_t O, const T* in, int64_t K, bool relu_in, T* partial, int64_t begin, int64_t end) {
  std::memset(partial, 0, sizeof(T) * O * K);
  const int64_t tile = max_of(8, kOuterTileBytes / static_cast<int64_t>(sizeof(T) * (K + O)));
  for (int64_t first = begin; first < end; first += tile) {
    outer_tile(grad, O, in, K, relu_in, partial, first, min_of(end, first + tile));
  }
}

}  // namespace

const PointwiseKernelSet& DAAS_ISA_CONCAT(pointwise_kernels_, DAAS_DEPTHWISE_ISA)() {
  static const PointwiseKernelSet kernels = {
      DAAS_ISA_STRING(DAAS_DEPTHWISE_ISA),
      {&product<float>, &outer<float>},
      {&product<double>, &outer<double>},
  };
  return kernels;
}

}  // namespace daas::nas::detail
