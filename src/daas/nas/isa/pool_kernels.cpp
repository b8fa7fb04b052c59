// 3×3 pooling (pool_kernels.h), compiled per instruction set.
//
// LibTorch's channels-last pooling vectorises over the channels of one
// pixel, so at the 8 or 16 channels of a CPU search most of each vector is
// idle or the loop runs scalar; at stride 1 here a whole image row is one
// flat loop. At stride 2 (the forward alone) a pixel's channels are the
// vectors, as in LibTorch's, but the running maxima or sums stay in
// registers over the window and no int64 index is written per element.
// The values are LibTorch's bit for bit: the same comparisons (or sums) in
// the same window order for every element, the same division, and the
// backward passes gather, per input element, the contributions LibTorch
// scatters to it, in the order it scatters them.
#include "pool_kernels.h"

#include <algorithm>

#include "vectors.h"

namespace daas::nas::detail {
namespace {

/// A stretch of a flat row whose pixels have the same window columns inside
/// the image: `left` whether column ow − 1 exists, `right` whether ow + 1.
struct Span {
  int64_t begin, end;
  bool left, right;
};

/// The row's stretches: the first pixel, the inner ones, the last pixel.
int spans(const PoolShape& s, Span* out) {
  const int64_t L = s.W * s.C;
  if (s.W == 1) {
    out[0] = {0, L, false, false};
    return 1;
  }
  out[0] = {0, s.C, false, true};
  int n = 1;
  if (s.W > 2) out[n++] = {s.C, L - s.C, true, true};
  out[n++] = {L - s.C, L, true, false};
  return n;
}

/// The image rows [first, last] a window or a gather spans around `row`.
inline int64_t first_row(int64_t row) { return row > 0 ? row - 1 : 0; }
inline int64_t last_row(const PoolShape& s, int64_t row) { return row + 1 < s.H ? row + 1 : s.H - 1; }

/// Calls f(n, h, row, span) for each flat row in [begin, end), the row h of
/// image n, and each of its spans.
template <typename F>
void for_each_row_span(const PoolShape& s, int64_t begin, int64_t end, F&& f) {
  Span part[3];
  const int parts = spans(s, part);
  for (int64_t row = begin; row < end; ++row) {
    for (int p = 0; p < parts; ++p) f(row / s.H, row % s.H, row, part[p]);
  }
}

/// One window position of a span: where its values for the span's first
/// element start in the input (its row, shifted by the column kw), and its
/// position code. Taken at the span's first element, not at its row's
/// start: for the left column of the first row that would lie before the
/// array; the kernels index taps, outputs and column counts from the span's
/// start. At stride 2 a tap is one input pixel of an output's window, at
/// its channel 0 (its code unused).
struct Tap {
  const float* in;
  uint8_t code;
};

/// sum[0, B) = zero plus each tap's values at [j, j + B·L), in the taps'
/// order: the average pool's sums at stride 1 and 2.
template <int L, int B>
inline void sum_taps(const Tap* taps, int count, int64_t j, Vec<float, L>* sum) {
  for (int b = 0; b < B; ++b) sum[b] = Vec<float, L>{};
  for (int t = 0; t < count; ++t) {
    for (int b = 0; b < B; ++b) sum[b] += load<float, L>(taps[t].in + j + b * L);
  }
}

/// out[j, j + B·L) and, with kWhere, where[j, j + B·L) from the taps in
/// window order: the first tap's values, replaced by each later tap's where
/// that is larger or NaN. The B vectors' running maxima stay in registers,
/// so out is written once (a loop per tap read and rewrote it nine times),
/// and their B comparison chains overlap.
template <int L, int B, bool kWhere>
inline void max_taps(const Tap* taps, int count, int64_t j, float* out, uint8_t* where) {
  using Codes = Vec<int32_t, L>;
  Vec<float, L> best[B];
  Codes from[B];
  for (int b = 0; b < B; ++b) {
    best[b] = load<float, L>(taps[0].in + j + b * L);
    from[b] = Codes{} + static_cast<int32_t>(taps[0].code);
  }
  for (int t = 1; t < count; ++t) {
    const float* in = taps[t].in + j;
    for (int b = 0; b < B; ++b) {
      const Vec<float, L> v = load<float, L>(in + b * L);
      if constexpr (L == 1) {
        const bool take = v > best[b] || v != v;
        best[b] = take ? v : best[b];
        if constexpr (kWhere) from[b] = take ? static_cast<int32_t>(taps[t].code) : from[b];
      } else {
        const auto take = (v > best[b]) | (v != v);
        best[b] = take ? v : best[b];
        if constexpr (kWhere) from[b] = take ? Codes{} + static_cast<int32_t>(taps[t].code) : from[b];
      }
    }
  }
  for (int b = 0; b < B; ++b) {
    store<float, L>(out + j + b * L, best[b]);
    if constexpr (kWhere) {
      if constexpr (L == 1) {
        where[j + b] = static_cast<uint8_t>(from[b]);
      } else {
        for (int l = 0; l < L; ++l) where[j + b * L + l] = static_cast<uint8_t>(from[b][l]);
      }
    }
  }
}

void max_forward(const PoolShape& s, const float* x, float* y, uint8_t* pos, int64_t begin, int64_t end) {
  const int64_t L = s.W * s.C, C = s.C;
  for_each_row_span(s, begin, end, [&](int64_t n, int64_t oh, int64_t row, const Span& sp) {
    float* out = y + row * L + sp.begin;
    uint8_t* where = pos != nullptr ? pos + row * L + sp.begin : nullptr;
    Tap taps[9];
    int count = 0;
    for (int64_t ih = first_row(oh); ih <= last_row(s, oh); ++ih) {
      const int kh = static_cast<int>(ih - oh + 1);
      for (int kw = 0; kw < 3; ++kw) {
        if ((kw == 0 && !sp.left) || (kw == 2 && !sp.right)) continue;
        taps[count++] = {x + ((n * s.H + ih) * L + (kw - 1) * C + sp.begin), static_cast<uint8_t>(kh * 3 + kw)};
      }
    }
    const auto run = [&](auto with_where) {
      for_each_vector_group<4>(0, sp.end - sp.begin, [&](auto lanes, auto vectors, int64_t j) {
        max_taps<decltype(lanes)::value, decltype(vectors)::value, decltype(with_where)::value != 0>(taps, count, j,
                                                                                                     out, where);
      });
    };
    if (where != nullptr) {
      run(Constant<1>{});
    } else {
      run(Constant<0>{});
    }
  });
}

/// The max pool's backward walk: zeroes each grad_x row in [begin, end)
/// of (n, ih), then calls add(gx, out_row, kh, dw, span) for the rows out_row
/// of the outputs whose windows reach it (window row kh) and each output
/// column offset dw (ow = iw + dw) that exists in that span: LibTorch's
/// scatter order (output rows, then columns, ascending) for every element.
/// Its flat loop per output compares one-byte position codes, which the
/// compiler vectorises; the average pool's walk below, in registers, would
/// need the codes widened to float lanes, which GCC 12 does one by one
/// (measured three times slower).
template <typename Add>
void gather_rows(const PoolShape& s, float* grad_x, int64_t begin, int64_t end, Add&& add) {
  const int64_t L = s.W * s.C;
  Span part[3];
  const int parts = spans(s, part);
  for (int64_t row = begin; row < end; ++row) {
    const int64_t n = row / s.H, ih = row % s.H;
    float* __restrict__ gx = grad_x + row * L;
    for (int64_t j = 0; j < L; ++j) gx[j] = 0.0f;
    for (int64_t oh = first_row(ih); oh <= last_row(s, ih); ++oh) {
      const int kh = static_cast<int>(ih - oh + 1);
      for (int p = 0; p < parts; ++p) {
        for (int dw = -1; dw <= 1; ++dw) {
          if ((dw == -1 && !part[p].left) || (dw == 1 && !part[p].right)) continue;
          add(gx, n * s.H + oh, kh, dw, part[p]);
        }
      }
    }
  }
}

void max_backward(const PoolShape& s, const float* grad_y, const uint8_t* pos, float* grad_x, int64_t begin,
                  int64_t end) {
  const int64_t L = s.W * s.C, C = s.C;
  gather_rows(s, grad_x, begin, end, [&](float* __restrict__ gx, int64_t out_row, int kh, int dw, const Span& sp) {
    const float* __restrict__ g = grad_y + out_row * L;
    const uint8_t* __restrict__ at = pos + out_row * L;
    const int64_t off = dw * C;
    const auto code = static_cast<uint8_t>(kh * 3 + (1 - dw));
    for (int64_t j = sp.begin; j < sp.end; ++j) gx[j] += at[j + off] == code ? g[j + off] : 0.0f;
  });
}

/// One output whose window reaches the elements of a span: where its row's
/// values (shares of its gradient), shifted to the span's columns, are for
/// the span's first element (taken there, as Tap's). A pointer alone, not a
/// Tap: with the Tap's code beside it the average pool's backward measured
/// 5% slower (bench_depthwise, 32 × 8 × 28 × 28).
struct Source {
  const float* values;
};

/// gx[j, j + B·L): zero plus each source's values, in the sources' order,
/// in registers.
template <int L, int B>
inline void sum_sources(const Source* sources, int count, int64_t j, float* gx) {
  Vec<float, L> sum[B];
  for (int b = 0; b < B; ++b) sum[b] = Vec<float, L>{};
  for (int t = 0; t < count; ++t) {
    for (int b = 0; b < B; ++b) sum[b] += load<float, L>(sources[t].values + j + b * L);
  }
  for (int b = 0; b < B; ++b) store<float, L>(gx + j + b * L, sum[b]);
}

/// The average pool's backward walk: each grad_x row in [begin, end) of
/// (n, ih) sums, per span and in registers, the `values` from the offset
/// source(out_row, dw) (of that output row's start, shifted by dw columns)
/// for the rows out_row of the outputs whose windows reach it and each
/// output column offset dw (ow = iw + dw) that exists in that span:
/// LibTorch's scatter order (output rows, then columns, ascending) for every
/// element.
template <typename SourceOf>
void gather_sources(const PoolShape& s, const float* values, float* grad_x, int64_t begin, int64_t end,
                    SourceOf&& source) {
  const int64_t L = s.W * s.C;
  for_each_row_span(s, begin, end, [&](int64_t n, int64_t ih, int64_t row, const Span& sp) {
    Source sources[9];
    int count = 0;
    for (int64_t oh = first_row(ih); oh <= last_row(s, ih); ++oh) {
      for (int dw = -1; dw <= 1; ++dw) {
        if ((dw == -1 && !sp.left) || (dw == 1 && !sp.right)) continue;
        sources[count++] = {values + (source(n * s.H + oh, dw) + sp.begin)};
      }
    }
    float* gx = grad_x + row * L + sp.begin;
    for_each_vector_group<4>(0, sp.end - sp.begin, [&](auto lanes, auto vectors, int64_t j) {
      sum_sources<decltype(lanes)::value, decltype(vectors)::value>(sources, count, j, gx);
    });
  });
}

/// Pixels inside the image of each output's window columns, as a float per
/// flat row position (2 at the edges, 3 inside, 1 for a one-pixel row).
void column_counts(const PoolShape& s, float* cols) {
  Span part[3];
  const int parts = spans(s, part);
  for (int p = 0; p < parts; ++p) {
    const float count = 1.0f + (part[p].left ? 1.0f : 0.0f) + (part[p].right ? 1.0f : 0.0f);
    for (int64_t j = part[p].begin; j < part[p].end; ++j) cols[j] = count;
  }
}

/// Rows of an output's window inside the image.
inline float row_count(const PoolShape& s, int64_t oh) {
  return static_cast<float>(last_row(s, oh) - first_row(oh) + 1);
}

/// Calls f(cols) with the column counts of a row, in a buffer on the stack
/// for rows up to 4096 floats and on the heap beyond.
template <typename F>
void with_column_counts(const PoolShape& s, F&& f) {
  const int64_t L = s.W * s.C;
  constexpr int64_t kStack = 4096;
  if (L <= kStack) {
    float cols[kStack];
    column_counts(s, cols);
    f(static_cast<const float*>(cols));
  } else {
    float* cols = new float[static_cast<size_t>(L)];
    column_counts(s, cols);
    f(static_cast<const float*>(cols));
    delete[] cols;
  }
}

/// out[j, j + B·L): the taps summed in window order from zero (as LibTorch
/// sums them), then divided by the window's pixel count; in registers, as
/// max_taps.
template <int L, int B>
inline void mean_taps(const Tap* taps, int count, int64_t j, float rows, const float* cols, float* out) {
  Vec<float, L> sum[B];
  sum_taps<L, B>(taps, count, j, sum);
  for (int b = 0; b < B; ++b) {
    const int64_t at = j + b * L;
    store<float, L>(out + at, sum[b] / (rows * load<float, L>(cols + at)));
  }
}

void avg_forward(const PoolShape& s, const float* x, float* y, int64_t begin, int64_t end) {
  const int64_t L = s.W * s.C, C = s.C;
  with_column_counts(s, [&](const float* cols) {
    for_each_row_span(s, begin, end, [&](int64_t n, int64_t oh, int64_t row, const Span& sp) {
      Tap taps[9];
      int count = 0;
      for (int64_t ih = first_row(oh); ih <= last_row(s, oh); ++ih) {
        for (int kw = 0; kw < 3; ++kw) {
          if ((kw == 0 && !sp.left) || (kw == 2 && !sp.right)) continue;
          taps[count++] = {x + ((n * s.H + ih) * L + (kw - 1) * C + sp.begin), 0};
        }
      }
      const float rows = row_count(s, oh);
      float* out = y + row * L + sp.begin;
      for_each_vector_group<4>(0, sp.end - sp.begin, [&](auto lanes, auto vectors, int64_t j) {
        mean_taps<decltype(lanes)::value, decltype(vectors)::value>(taps, count, j, rows, cols + sp.begin, out);
      });
    });
  });
}

void avg_share(const PoolShape& s, const float* grad_y, float* share, int64_t begin, int64_t end) {
  const int64_t L = s.W * s.C;
  with_column_counts(s, [&](const float* __restrict__ cols) {
    for (int64_t row = begin; row < end; ++row) {
      const float rows = row_count(s, row % s.H);
      const float* __restrict__ g = grad_y + row * L;
      float* __restrict__ out = share + row * L;
      for (int64_t j = 0; j < L; ++j) out[j] = g[j] / (rows * cols[j]);
    }
  });
}

void avg_backward(const PoolShape& s, const float* share, float* grad_x, int64_t begin, int64_t end) {
  const int64_t L = s.W * s.C, C = s.C;
  gather_sources(s, share, grad_x, begin, end, [&](int64_t out_row, int dw) { return out_row * L + dw * C; });
}

/// Output rows [begin, end) of (n, oh) of a pool at stride 2: for each
/// output pixel, f(taps, count, out) with the `count` taps of its window
/// inside the image (each at the pixel's channel 0, in window order) and
/// where its C outputs go.
template <typename F>
void for_each_stride2_window(const PoolShape& s, const float* x, float* y, int64_t begin, int64_t end, F&& f) {
  const int64_t Ho = stride2_size(s.H), Wo = stride2_size(s.W), C = s.C;
  for (int64_t row = begin; row < end; ++row) {
    const int64_t n = row / Ho, oh = row % Ho;
    const int64_t ih0 = oh > 0 ? 2 * oh - 1 : 0, ih1 = std::min(2 * oh + 1, s.H - 1);
    for (int64_t ow = 0; ow < Wo; ++ow) {
      const int64_t iw0 = ow > 0 ? 2 * ow - 1 : 0, iw1 = std::min(2 * ow + 1, s.W - 1);
      Tap taps[9];
      int count = 0;
      for (int64_t ih = ih0; ih <= ih1; ++ih) {
        for (int64_t iw = iw0; iw <= iw1; ++iw) taps[count++] = {x + ((n * s.H + ih) * s.W + iw) * C, 0};
      }
      f(taps, count, y + (row * Wo + ow) * C);
    }
  }
}

/// out[j, j + B·L): the taps' mean, summed in window order from zero and
/// divided by their count, as LibTorch's channels-last average pool.
template <int L, int B>
inline void mean_of_taps(const Tap* taps, int count, int64_t j, float* out) {
  Vec<float, L> sum[B];
  sum_taps<L, B>(taps, count, j, sum);
  for (int b = 0; b < B; ++b) store<float, L>(out + j + b * L, sum[b] / static_cast<float>(count));
}

void max_forward_stride2(const PoolShape& s, const float* x, float* y, int64_t begin, int64_t end) {
  for_each_stride2_window(s, x, y, begin, end, [&](const Tap* taps, int count, float* out) {
    for_each_vector_group<4>(0, s.C, [&](auto lanes, auto vectors, int64_t c) {
      max_taps<decltype(lanes)::value, decltype(vectors)::value, false>(taps, count, c, out, nullptr);
    });
  });
}

void avg_forward_stride2(const PoolShape& s, const float* x, float* y, int64_t begin, int64_t end) {
  for_each_stride2_window(s, x, y, begin, end, [&](const Tap* taps, int count, float* out) {
    for_each_vector_group<4>(0, s.C, [&](auto lanes, auto vectors, int64_t c) {
      mean_of_taps<decltype(lanes)::value, decltype(vectors)::value>(taps, count, c, out);
    });
  });
}

}  // namespace

const PoolKernelSet& DAAS_ISA_CONCAT(pool_kernels_, DAAS_DEPTHWISE_ISA)() {
#if defined(__AVX2__) || !defined(__x86_64__)
  constexpr bool kMaxBackwardPays = true;
#else
  constexpr bool kMaxBackwardPays = false;
#endif
  static const PoolKernelSet kernels = {DAAS_ISA_STRING(DAAS_DEPTHWISE_ISA),
                                        kMaxBackwardPays,
                                        &max_forward,
                                        &max_backward,
                                        &avg_forward,
                                        &avg_share,
                                        &avg_backward,
                                        &max_forward_stride2,
                                        &avg_forward_stride2};
  return kernels;
}

}  // namespace daas::nas::detail
