// BatchNorm's element loops (batch_norm_kernels.h), compiled per instruction
// set. A pass takes a group of up to four vectors of channels at a time and
// walks down the rows with that group's sums, or its per-channel values, in
// registers. The earlier loops repeated the per-channel values to a block of
// rows in memory and read them beside every element, which cost three or four
// loads per element where one does.
#include "batch_norm_kernels.h"

#include "vectors.h"

namespace daas::nas::detail {
namespace {

/// Vectors of channels a pass holds in registers: with three or four values
/// per vector (sums, or centre, scale, shift and gain), four fill half of
/// AVX-512's 32 registers; two suit the 16 of AVX2 and SSE.
constexpr int kGroupVectors = kVectorRegisters >= 32 ? 4 : 2;

/// Calls f(Constant<L>{}, Constant<V>{}, c0) for groups of V vectors of L
/// channels from c0 that cover [0, C).
template <typename F>
void for_each_channel_group(int64_t C, F&& f) {
  for_each_vector_group<kGroupVectors>(0, C, f);
}

/// Adds the L lanes of v into out[0, L) in double.
template <int L>
inline void add_lanes(const Vec<float, L>& v, double* out) {
  float lanes[L];
  store<float, L>(lanes, v);
  for (int l = 0; l < L; ++l) out[l] += static_cast<double>(lanes[l]);
}

template <int L, int V>
void moments_group(const float* a, const float* sa, const float* b, const float* sb, int64_t rows, int64_t C,
                   int64_t c0, double* first, double* second) {
  const bool same = a == b && sa == sb;
  Vec<float, L> a_shift[V], b_shift[V];
  for (int v = 0; v < V; ++v) {
    a_shift[v] = load<float, L>(sa + c0 + v * L);
    b_shift[v] = load<float, L>(sb + c0 + v * L);
  }
  for (int64_t r0 = 0; r0 < rows; r0 += kBatchNormFloatRows) {
    const int64_t r1 = min_of(rows, r0 + kBatchNormFloatRows);
    Vec<float, L> f[V] = {}, g[V] = {};
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t at = r * C + c0;
      for (int v = 0; v < V; ++v) {
        const Vec<float, L> da = load<float, L>(a + at + v * L) - a_shift[v];
        f[v] += da;
        g[v] += same ? da * da : da * (load<float, L>(b + at + v * L) - b_shift[v]);
      }
    }
    for (int v = 0; v < V; ++v) {
      add_lanes<L>(f[v], first + c0 + v * L);
      add_lanes<L>(g[v], second + c0 + v * L);
    }
  }
}

void moments(const float* a, const float* sa, const float* b, const float* sb, int64_t rows, int64_t C, double* first,
             double* second) {
  for_each_channel_group(C, [&](auto lanes, auto vectors, int64_t c0) {
    moments_group<decltype(lanes)::value, decltype(vectors)::value>(a, sa, b, sb, rows, C, c0, first, second);
  });
}

/// affine (a null) or affine_from on the channels [c0, c0 + V·L).
template <int L, int V>
void affine_group(const float* a, const float* x, const float* centre, const float* scale, const float* shift,
                  const float* gain, int64_t rows, int64_t C, int64_t c0, float* out) {
  Vec<float, L> m[V], s[V], t[V], k[V];
  for (int v = 0; v < V; ++v) {
    m[v] = load<float, L>(centre + c0 + v * L);
    s[v] = load<float, L>(scale + c0 + v * L);
    t[v] = load<float, L>(shift + c0 + v * L);
    k[v] = a != nullptr ? load<float, L>(gain + c0 + v * L) : Vec<float, L>{};
  }
  if (a == nullptr) {
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t at = r * C + c0;
      for (int v = 0; v < V; ++v) {
        store<float, L>(out + at + v * L, (load<float, L>(x + at + v * L) - m[v]) * s[v] + t[v]);
      }
    }
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t at = r * C + c0;
    for (int v = 0; v < V; ++v) {
      const Vec<float, L> centred = load<float, L>(x + at + v * L) - m[v];
      store<float, L>(out + at + v * L, (load<float, L>(a + at + v * L) - centred * s[v] - t[v]) * k[v]);
    }
  }
}

void affine(const float* x, const float* centre, const float* scale, const float* shift, int64_t rows, int64_t C,
            float* out) {
  for_each_channel_group(C, [&](auto lanes, auto vectors, int64_t c0) {
    affine_group<decltype(lanes)::value, decltype(vectors)::value>(nullptr, x, centre, scale, shift, nullptr, rows, C,
                                                                   c0, out);
  });
}

void affine_from(const float* a, const float* x, const float* centre, const float* scale, const float* shift,
                 const float* gain, int64_t rows, int64_t C, float* out) {
  for_each_channel_group(C, [&](auto lanes, auto vectors, int64_t c0) {
    affine_group<decltype(lanes)::value, decltype(vectors)::value>(a, x, centre, scale, shift, gain, rows, C, c0, out);
  });
}

}  // namespace

const BatchNormKernelSet& DAAS_ISA_CONCAT(batch_norm_kernels_, DAAS_DEPTHWISE_ISA)() {
  static const BatchNormKernelSet kernels = {DAAS_ISA_STRING(DAAS_DEPTHWISE_ISA), &moments, &affine, &affine_from};
  return kernels;
}

}  // namespace daas::nas::detail
