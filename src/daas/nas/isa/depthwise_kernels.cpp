// Depthwise convolution kernels on channels-last arrays, vectorised over the
// channels with GCC vector types. Compiled once per instruction set with
// DAAS_DEPTHWISE_ISA naming it (CMakeLists.txt); the vector width follows the
// -m flags. No LibTorch or standard-library template is used here, and all
// code but the one entry point has internal linkage, so nothing built for
// AVX-512 can end up called on a CPU without it.
//
// Borders: each kernel copies the input rows a band of output rows needs into
// a zero-padded tile first, so every tap is read without a border check (the
// copy is ~1/k² of the multiply-adds).
#include <cstring>

#include "depthwise_kernels.h"

#ifndef DAAS_DEPTHWISE_ISA
#error "compile with -DDAAS_DEPTHWISE_ISA=baseline|avx2|avx512 (see CMakeLists.txt)"
#endif

namespace daas::nas::detail {
namespace {

#if defined(__AVX512F__)
constexpr int kVectorBytes = 64;
constexpr int kVectorRegisters = 32;
#elif defined(__AVX__)
constexpr int kVectorBytes = 32;
constexpr int kVectorRegisters = 16;
#else
constexpr int kVectorBytes = 16;
constexpr int kVectorRegisters = 16;
#endif

/// Output rows per tile: bounds the scratch memory; the tile's halo rows are
/// copied once per band.
constexpr int64_t kBandRows = 16;
/// The largest kernel side handled here (tap tables are sized by it).
constexpr int kMaxKernel = 5;

// ---------------------------------------------------------------------------
// Vectors: Vec<T, L> holds L channels; L = 1 is the plain scalar, so the
// channel tail runs through the same code.

template <typename T, int L>
struct VecOf {
  typedef T type __attribute__((vector_size(L * sizeof(T))));
};
template <typename T>
struct VecOf<T, 1> {
  using type = T;
};
template <typename T, int L>
using Vec = typename VecOf<T, L>::type;

template <int L>
struct Width {
  static constexpr int value = L;
};

template <typename T, int L>
inline Vec<T, L> load(const T* p) {
  Vec<T, L> v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

template <typename T, int L>
inline void store(T* p, const Vec<T, L>& v) {
  std::memcpy(p, &v, sizeof(v));
}

/// Calls f(Width<w>{}, c0) over the channels [c0, C): full vectors of L, then
/// halving widths down to one channel for the tail (13 = 8 + 4 + 1).
template <int L, typename F>
void channel_blocks(int64_t c0, int64_t C, F& f) {
  for (; c0 + L <= C; c0 += L) f(Width<L>{}, c0);
  if constexpr (L > 1) channel_blocks<L / 2>(c0, C, f);
}

template <typename T, typename F>
void for_each_channel_block(int64_t C, F&& f) {
  channel_blocks<kVectorBytes / static_cast<int>(sizeof(T))>(0, C, f);
}

/// Calls f(Width<b>{}, j) over [0, count) in blocks of 8, 4 and 1 columns:
/// independent accumulators hide the multiply-add latency.
template <typename F>
void for_each_column_block(int64_t count, F&& f) {
  int64_t j = 0;
  for (; j + 8 <= count; j += 8) f(Width<8>{}, j);
  for (; j + 4 <= count; j += 4) f(Width<4>{}, j);
  for (; j < count; ++j) f(Width<1>{}, j);
}

// ---------------------------------------------------------------------------
// Index helpers.

inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline int64_t min_of(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max_of(int64_t a, int64_t b) { return a > b ? a : b; }

/// Scratch memory owned by one kernel call (new[]: no standard template).
template <typename T>
class Scratch {
 public:
  explicit Scratch(int64_t n) : data_(new T[n]) {}
  ~Scratch() { delete[] data_; }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* data() const { return data_; }

 private:
  T* data_;
};

/// A zero-padded window [row0, row0 + rows) × [col0, col0 + cols) of one
/// image [Hs, Ws, C]; positions outside the image read as zero.
struct TileWindow {
  int64_t row0, rows, col0, cols;
};

template <typename T>
void fill_tile(const T* image, int64_t Hs, int64_t Ws, int64_t C, const TileWindow& t, T* tile) {
  const int64_t row_elems = t.cols * C;
  const int64_t lo = min_of(max_of(-t.col0, 0), t.cols);        // tile columns left of the image
  const int64_t hi = max_of(min_of(Ws - t.col0, t.cols), lo);  // end of the tile columns inside it
  for (int64_t r = 0; r < t.rows; ++r) {
    T* dst = tile + r * row_elems;
    const int64_t src_row = t.row0 + r;
    if (src_row < 0 || src_row >= Hs) {
      std::memset(dst, 0, sizeof(T) * row_elems);
      continue;
    }
    std::memset(dst, 0, sizeof(T) * lo * C);
    std::memcpy(dst + lo * C, image + (src_row * Ws + t.col0 + lo) * C, sizeof(T) * (hi - lo) * C);
    std::memset(dst + hi * C, 0, sizeof(T) * (t.cols - hi) * C);
  }
}

/// Calls f(n, first, last) for each image's part of the flattened rows
/// [begin, end) of (n, row), in bands of at most kBandRows rows.
template <typename F>
void for_each_band(int64_t rows_per_image, int64_t begin, int64_t end, F&& f) {
  for (int64_t row = begin; row < end;) {
    const int64_t n = row / rows_per_image;
    const int64_t first = row - n * rows_per_image;
    const int64_t last = min_of(min_of(rows_per_image, first + kBandRows), first + end - row);
    f(n, first, last);
    row += last - first;
  }
}

/// The input window output rows [oh0, oh1) read (forward and weight gradient).
TileWindow input_window(const DepthwiseShape& s, int64_t oh0, int64_t oh1) {
  const int64_t span = (s.kernel - 1) * s.dilation + 1;
  return {oh0 * s.stride - s.padding, (oh1 - 1 - oh0) * s.stride + span, -s.padding, (s.Wo - 1) * s.stride + span};
}

int64_t input_window_elems(const DepthwiseShape& s) {
  return input_window(s, 0, min_of(kBandRows, s.Ho)).rows * input_window(s, 0, 1).cols * s.C;
}

// ---------------------------------------------------------------------------
// Forward: y[oh, ow] = Σ_taps tile[oh·stride + kh·dilation, ow·stride + kw·dilation] · w[kh, kw].

/// Strides, in elements, shared by the inner loops of one band.
struct Steps {
  int64_t C;          // one pixel
  int64_t tile_row;   // one tile row
  int64_t column;     // the input pixels between two output columns (stride·C)
  int64_t tap_row;    // dilation·tile_row
  int64_t tap_col;    // dilation·C
};

/// B output columns from `in` (the tile at tap (0, 0) of the first of them).
template <typename T, int K, int L, int B>
inline void forward_columns(const Steps& st, const T* in, const T* w, T* out) {
  Vec<T, L> acc[B] = {};
#pragma GCC unroll 5
  for (int kh = 0; kh < K; ++kh) {
#pragma GCC unroll 5
    for (int kw = 0; kw < K; ++kw) {
      const auto wv = load<T, L>(w + (kh * K + kw) * st.C);
      const T* p = in + kh * st.tap_row + kw * st.tap_col;
#pragma GCC unroll 8
      for (int b = 0; b < B; ++b) acc[b] += load<T, L>(p + b * st.column) * wv;
    }
  }
#pragma GCC unroll 8
  for (int b = 0; b < B; ++b) store<T, L>(out + b * st.C, acc[b]);
}

template <typename T, int K>
void forward_band(const DepthwiseShape& s, const T* tile, const T* w, T* y, int64_t rows) {
  const int64_t tile_row = input_window(s, 0, 1).cols * s.C;
  const Steps st{s.C, tile_row, s.stride * s.C, s.dilation * tile_row, s.dilation * s.C};
  for_each_channel_block<T>(s.C, [&](auto width, int64_t c0) {
    constexpr int L = decltype(width)::value;
    for (int64_t r = 0; r < rows; ++r) {
      const T* in = tile + r * s.stride * tile_row + c0;
      T* out = y + r * s.Wo * s.C + c0;
      for_each_column_block(s.Wo, [&](auto block, int64_t ow) {
        constexpr int B = decltype(block)::value;
        forward_columns<T, K, L, B>(st, in + ow * st.column, w + c0, out + ow * s.C);
      });
    }
  });
}

template <typename T, int K>
void forward_rows(const DepthwiseShape& s, const T* x, const T* w, T* y, int64_t begin, int64_t end) {
  const Scratch<T> tile(input_window_elems(s));
  for_each_band(s.Ho, begin, end, [&](int64_t n, int64_t oh0, int64_t oh1) {
    fill_tile(x + n * s.H * s.W * s.C, s.H, s.W, s.C, input_window(s, oh0, oh1), tile.data());
    forward_band<T, K>(s, tile.data(), w, y + (n * s.Ho + oh0) * s.Wo * s.C, oh1 - oh0);
  });
}

// ---------------------------------------------------------------------------
// Input gradient, in gather form (each grad_x pixel is written once, so rows
// split between threads freely): grad_x[ih, iw] = Σ grad_y[oh, ow] · w[kh, kw]
// over the taps with ih = oh·stride − padding + kh·dilation (and so for iw).
// Along a row, the pixels iw ≡ r (mod stride) share one set of taps.

/// The grad_y window input rows [ih0, ih1) read: every (oh, ow) some tap of
/// theirs can reach, zero outside grad_y.
TileWindow grad_output_window(const DepthwiseShape& s, int64_t ih0, int64_t ih1) {
  const int64_t reach = s.padding - (s.kernel - 1) * s.dilation;
  const int64_t row0 = floor_div(ih0 + reach, s.stride);
  const int64_t col0 = floor_div(reach, s.stride);
  return {row0, floor_div(ih1 - 1 + s.padding, s.stride) - row0 + 1, col0,
          floor_div(s.W - 1 + s.padding, s.stride) - col0 + 1};
}

int64_t grad_output_window_elems(const DepthwiseShape& s) {
  int64_t rows = 0;
  for (int64_t ih0 = 0; ih0 < s.stride; ++ih0) {  // the window's height depends on ih0 mod stride only
    rows = max_of(rows, grad_output_window(s, ih0, ih0 + kBandRows).rows);
  }
  return rows * grad_output_window(s, 0, 1).cols * s.C;
}

/// The taps of one side (kh for a row, kw for a column phase): whether each
/// reaches a grad_y pixel, and that pixel's tile index (for a column phase,
/// of the phase's first pixel; pixel j of the phase adds j).
struct Taps {
  bool used[kMaxKernel];
  int64_t index[kMaxKernel];
};

Taps taps_of(const DepthwiseShape& s, int64_t position, int64_t window_start) {
  Taps taps{};
  for (int k = 0; k < s.kernel; ++k) {
    const int64_t reach = position + s.padding - k * s.dilation;
    const int64_t q = floor_div(reach, s.stride);
    taps.used[k] = q * s.stride == reach;
    taps.index[k] = q - window_start;
  }
  return taps;
}

/// B pixels j.. of one column phase of one grad_x row.
template <typename T, int K, int L, int B>
inline void grad_input_columns(const Taps& rows, const Taps& cols, const T* tile, int64_t tile_row, int64_t C,
                               int64_t j, const T* w, T* out, int64_t out_step) {
  Vec<T, L> acc[B] = {};
#pragma GCC unroll 5
  for (int kh = 0; kh < K; ++kh) {
    if (!rows.used[kh]) continue;
    const T* row = tile + rows.index[kh] * tile_row;
#pragma GCC unroll 5
    for (int kw = 0; kw < K; ++kw) {
      if (!cols.used[kw]) continue;
      const auto wv = load<T, L>(w + (kh * K + kw) * C);
      const T* p = row + (j + cols.index[kw]) * C;
#pragma GCC unroll 8
      for (int b = 0; b < B; ++b) acc[b] += load<T, L>(p + b * C) * wv;
    }
  }
#pragma GCC unroll 8
  for (int b = 0; b < B; ++b) store<T, L>(out + (j + b) * out_step, acc[b]);
}

/// grad_x rows [ih0, ih1) of one image from the grad_y tile.
template <typename T, int K>
void grad_input_band(const DepthwiseShape& s, const TileWindow& window, const T* tile, const T* w, T* grad_x,
                     int64_t ih0, int64_t ih1) {
  const int64_t tile_row = window.cols * s.C;
  for (int64_t ih = ih0; ih < ih1; ++ih) {
    const Taps rows = taps_of(s, ih, window.row0);
    T* out_row = grad_x + (ih - ih0) * s.W * s.C;
    for (int64_t phase = 0; phase < s.stride; ++phase) {
      const Taps cols = taps_of(s, phase, window.col0);
      const int64_t count = (s.W - phase + s.stride - 1) / s.stride;
      for_each_channel_block<T>(s.C, [&](auto width, int64_t c0) {
        constexpr int L = decltype(width)::value;
        for_each_column_block(count, [&](auto block, int64_t j) {
          constexpr int B = decltype(block)::value;
          grad_input_columns<T, K, L, B>(rows, cols, tile + c0, tile_row, s.C, j, w + c0,
                                         out_row + phase * s.C + c0, s.stride * s.C);
        });
      });
    }
  }
}

template <typename T, int K>
void grad_input_rows(const DepthwiseShape& s, const T* grad_y, const T* w, T* grad_x, int64_t begin, int64_t end) {
  const Scratch<T> tile(grad_output_window_elems(s));
  for_each_band(s.H, begin, end, [&](int64_t n, int64_t ih0, int64_t ih1) {
    const TileWindow window = grad_output_window(s, ih0, ih1);
    fill_tile(grad_y + n * s.Ho * s.Wo * s.C, s.Ho, s.Wo, s.C, window, tile.data());
    grad_input_band<T, K>(s, window, tile.data(), w, grad_x + (n * s.H + ih0) * s.W * s.C, ih0, ih1);
  });
}

// ---------------------------------------------------------------------------
// Weight gradient: partial[kh, kw] += grad_y[oh, ow] · tile[oh·stride + kh·dilation, ow·stride + kw·dilation],
// summed row by row, column by column, so the order never depends on threads.
// Each pass keeps the taps of R kernel rows in registers.

template <int K>
constexpr int kTapRowsPerPass = K * K + 2 <= kVectorRegisters ? K : 1;

template <typename T, int K, int L, int R>
void grad_weight_pass(const DepthwiseShape& s, const Steps& st, const T* tile, const T* grad_y, T* partial,
                      int64_t rows, int kh0) {
  Vec<T, L> acc[R * K];
#pragma GCC unroll 25
  for (int t = 0; t < R * K; ++t) acc[t] = load<T, L>(partial + (kh0 * K + t) * st.C);
  for (int64_t r = 0; r < rows; ++r) {
    const T* in = tile + (r * s.stride + kh0 * s.dilation) * st.tile_row;
    const T* g_row = grad_y + r * s.Wo * st.C;
    for (int64_t ow = 0; ow < s.Wo; ++ow) {
      const auto g = load<T, L>(g_row + ow * st.C);
      const T* p = in + ow * st.column;
#pragma GCC unroll 5
      for (int kh = 0; kh < R; ++kh) {
#pragma GCC unroll 5
        for (int kw = 0; kw < K; ++kw) acc[kh * K + kw] += g * load<T, L>(p + kh * st.tap_row + kw * st.tap_col);
      }
    }
  }
#pragma GCC unroll 25
  for (int t = 0; t < R * K; ++t) store<T, L>(partial + (kh0 * K + t) * st.C, acc[t]);
}

template <typename T, int K>
void grad_weight_band(const DepthwiseShape& s, const T* tile, const T* grad_y, T* partial, int64_t rows) {
  constexpr int R = kTapRowsPerPass<K>;
  const int64_t tile_row = input_window(s, 0, 1).cols * s.C;
  const Steps st{s.C, tile_row, s.stride * s.C, s.dilation * tile_row, s.dilation * s.C};
  for_each_channel_block<T>(s.C, [&](auto width, int64_t c0) {
    constexpr int L = decltype(width)::value;
    for (int kh0 = 0; kh0 < K; kh0 += R) {
      grad_weight_pass<T, K, L, R>(s, st, tile + c0, grad_y + c0, partial + c0, rows, kh0);
    }
  });
}

template <typename T, int K>
void grad_weight_rows(const DepthwiseShape& s, const T* x, const T* grad_y, T* partial, int64_t begin, int64_t end) {
  std::memset(partial, 0, sizeof(T) * K * K * s.C);
  const Scratch<T> tile(input_window_elems(s));
  for_each_band(s.Ho, begin, end, [&](int64_t n, int64_t oh0, int64_t oh1) {
    fill_tile(x + n * s.H * s.W * s.C, s.H, s.W, s.C, input_window(s, oh0, oh1), tile.data());
    grad_weight_band<T, K>(s, tile.data(), grad_y + (n * s.Ho + oh0) * s.Wo * s.C, partial, oh1 - oh0);
  });
}

// ---------------------------------------------------------------------------
// Entry points: the kernel side becomes a template argument.

template <typename T>
void forward(const DepthwiseShape& s, const T* x, const T* w, T* y, int64_t begin, int64_t end) {
  if (s.kernel == 3) {
    forward_rows<T, 3>(s, x, w, y, begin, end);
  } else {
    forward_rows<T, 5>(s, x, w, y, begin, end);
  }
}

template <typename T>
void grad_input(const DepthwiseShape& s, const T* grad_y, const T* w, T* grad_x, int64_t begin, int64_t end) {
  if (s.kernel == 3) {
    grad_input_rows<T, 3>(s, grad_y, w, grad_x, begin, end);
  } else {
    grad_input_rows<T, 5>(s, grad_y, w, grad_x, begin, end);
  }
}

template <typename T>
void grad_weight(const DepthwiseShape& s, const T* x, const T* grad_y, T* partial, int64_t begin, int64_t end) {
  if (s.kernel == 3) {
    grad_weight_rows<T, 3>(s, x, grad_y, partial, begin, end);
  } else {
    grad_weight_rows<T, 5>(s, x, grad_y, partial, begin, end);
  }
}

}  // namespace

#define DAAS_DEPTHWISE_CONCAT2(a, b) a##b
#define DAAS_DEPTHWISE_CONCAT(a, b) DAAS_DEPTHWISE_CONCAT2(a, b)
#define DAAS_DEPTHWISE_STRING2(a) #a
#define DAAS_DEPTHWISE_STRING(a) DAAS_DEPTHWISE_STRING2(a)

const DepthwiseKernelSet& DAAS_DEPTHWISE_CONCAT(depthwise_kernels_, DAAS_DEPTHWISE_ISA)() {
  static const DepthwiseKernelSet kernels = {
      DAAS_DEPTHWISE_STRING(DAAS_DEPTHWISE_ISA),
      {&forward<float>, &grad_input<float>, &grad_weight<float>},
      {&forward<double>, &grad_input<double>, &grad_weight<double>},
  };
  return kernels;
}

}  // namespace daas::nas::detail
