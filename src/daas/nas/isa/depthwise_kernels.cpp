// Depthwise convolution kernels on channels-last arrays, vectorised over the
// channels with GCC vector types. Compiled once per instruction set with
// DAAS_DEPTHWISE_ISA naming it (CMakeLists.txt); the vector width follows the
// -m flags. No LibTorch or standard-library template is used here, and all
// code but the one entry point has internal linkage, so nothing built for
// AVX-512 can end up called on a CPU without it.
//
// Layout: the channels are cut into blocks of one vector (then half a vector,
// then single channels for a tail). The input rows a group of output rows
// reads are copied into a small ring of zero-padded rows, each channel block
// contiguous ([cols, L]), and the weights into [k·k, L] per block. Every tap
// then reads without a border check, at a row pointer plus a compile-time
// displacement: with NHWC strides GCC hoisted one address per tap and column
// and spilled them. Measured on the 2-core AVX-512 development machine:
// AVX-512 beats AVX2 in every benchmark case, so it is chosen where present.
#include <cstdint>
#include <cstring>

#include "depthwise_kernels.h"
#include "vectors.h"

namespace daas::nas::detail {
namespace {

/// How many rows ahead the row rings prefetch the image rows they will copy.
constexpr int64_t kPrefetchRows = 2;
/// Output rows computed per channel block in one go: the ring holds the input
/// rows of a group, each weight-gradient accumulator is loaded and stored once
/// a group, and all channels of a row are copied together.
constexpr int64_t kRowGroup = 4;
/// The largest kernel side handled here (tap tables are sized by it).
constexpr int kMaxKernel = 5;
/// Stride or dilation template argument meaning "read it from the shape":
/// double (tests only) and unusual dilations take the runtime value.
constexpr int kRuntime = 0;

/// Makes `p` opaque to the optimiser where this is inlined, so loads through
/// it stay in the loop: GCC would otherwise hoist all k·k weight vectors out
/// of the column loop and spill them, with more stack traffic than the one
/// load per tap and column block they cost in the loop.
template <typename T>
inline void hide_from_hoisting(const T*& p) {
  asm("" : "+r"(p));
}

// ---------------------------------------------------------------------------
// Index helpers, scratch memory, row rings.

inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/// Requests `count` pixels of C channels from `rows` rows below `pixel`
/// (in a dense NHWC array of `W` columns: past an image's last row comes the
/// next image's first) ahead of their use, so their loads from memory overlap
/// the arithmetic on the rows before. Addresses are computed as integers:
/// they may lie past the array, which a prefetch does not mind.
template <typename T>
inline void prefetch_pixels(const T* pixel, int64_t rows, int64_t W, int64_t count, int64_t C) {
  constexpr int64_t kLineBytes = 64;
  const uintptr_t first = reinterpret_cast<uintptr_t>(pixel) + sizeof(T) * rows * W * C;
  for (int64_t byte = 0; byte < static_cast<int64_t>(sizeof(T)) * count * C; byte += kLineBytes) {
    __builtin_prefetch(reinterpret_cast<const void*>(first + byte));
  }
}

/// One image [H, W, C] of a dense NHWC array.
template <typename T>
struct Image {
  const T* data;
  int64_t H, W, C;
};

/// A window of an Image kept in `slots` ring rows: window row r (image row
/// row0 + r) lives in slot r mod slots, as the columns [col0, col0 + cols) of
/// each channel block in turn ([cols, L] at cols·c0), and whatever lies
/// outside the image reads as zero. Rows are copied, all channels together
/// (sequential reads), just before their first use, so the ring stays in L1
/// and the kernels read every tap without a border check. With `relu` the
/// ring holds max(x, 0).
template <typename T>
class RowRing {
 public:
  RowRing(const Image<T>& image, int64_t row0, int64_t col0, int64_t cols, int64_t slots, T* memory, bool relu)
      : image_(image), row0_(row0), col0_(col0), cols_(cols), slots_(slots), data_(memory), relu_(relu) {
    lo_ = min_of(max_of(-col0, 0), cols);             // ring columns left of the image
    hi_ = max_of(min_of(image.W - col0, cols), lo_);  // end of the columns inside it
    for (int64_t slot = 0; slot < slots_; ++slot) {   // no row copy writes there: they stay zero
      T* row = data_ + slot * cols_ * image_.C;
      for_each_channel_block<T>(image_.C, [&](auto width, int64_t c0) {
        constexpr int L = decltype(width)::value;
        std::memset(row + c0 * cols_, 0, sizeof(T) * lo_ * L);
        std::memset(row + c0 * cols_ + hi_ * L, 0, sizeof(T) * (cols_ - hi_) * L);
      });
    }
  }

  /// Starts on the image at `data` (same shape), whose window rows before
  /// `first` are never read.
  void start(const T* data, int64_t first) {
    image_.data = data;
    filled_ = first;
  }

  /// Makes window rows [end − slots, end) readable.
  void fill_until(int64_t end) {
    for (; filled_ < end; ++filled_) fill(filled_);
  }

  /// Channel block c0 of window row r.
  const T* row(int64_t r, int64_t c0) const { return data_ + ((r % slots_) * image_.C + c0) * cols_; }

 private:
  void fill(int64_t r) {
    T* dst = data_ + (r % slots_) * cols_ * image_.C;
    const int64_t image_row = row0_ + r;
    const bool inside = image_row >= 0 && image_row < image_.H;
    const T* src = inside ? image_.data + (image_row * image_.W + col0_ + lo_) * image_.C : nullptr;
    for_each_channel_block<T>(image_.C, [&](auto width, int64_t c0) {
      constexpr int L = decltype(width)::value;
      T* out = dst + c0 * cols_ + lo_ * L;
      if (!inside) {
        std::memset(out, 0, sizeof(T) * (hi_ - lo_) * L);
        return;
      }
      if (relu_) {
        for (int64_t col = 0; col < hi_ - lo_; ++col) {
          store<T, L>(out + col * L, relu<T, L>(load<T, L>(src + col * image_.C + c0)));
        }
      } else {
        for (int64_t col = 0; col < hi_ - lo_; ++col) {
          store<T, L>(out + col * L, load<T, L>(src + col * image_.C + c0));
        }
      }
    });
    if (inside) prefetch_pixels(src, kPrefetchRows, image_.W, hi_ - lo_, image_.C);
  }

  Image<T> image_;
  int64_t row0_, col0_, cols_, slots_;
  T* data_;
  bool relu_;
  int64_t lo_ = 0, hi_ = 0, filled_ = 0;
};

/// Taps [k·k, C] -> one [k·k, L] block per channel block, at k·k·c0; `flip`
/// reverses the taps (the input gradient of a stride-1 convolution is the
/// convolution of grad_y with the flipped kernel).
template <typename T>
void block_weights(const T* taps, int64_t kernel, int64_t C, bool flip, T* blocked) {
  const int64_t count = kernel * kernel;
  for_each_channel_block<T>(C, [&](auto width, int64_t c0) {
    constexpr int L = decltype(width)::value;
    for (int64_t t = 0; t < count; ++t) {
      store<T, L>(blocked + count * c0 + t * L, load<T, L>(taps + (flip ? count - 1 - t : t) * C + c0));
    }
  });
}

/// Calls f(n, first, last) over the flattened rows [begin, end) of (n, row):
/// each image's part, in groups of at most kRowGroup rows.
template <typename F>
void for_each_row_group(int64_t rows_per_image, int64_t begin, int64_t end, F&& f) {
  for (int64_t row = begin; row < end;) {
    const int64_t n = row / rows_per_image;
    const int64_t first = row - n * rows_per_image;
    const int64_t last = min_of(min_of(rows_per_image, first + kRowGroup), first + end - row);
    f(n, first, last);
    row += last - first;
  }
}

/// Stride and dilation: compile-time where the template argument gives them.
template <int S, int D>
struct Steps {
  int64_t stride_value, dilation_value;
  int64_t stride() const { return S != kRuntime ? S : stride_value; }
  int64_t dilation() const { return D != kRuntime ? D : dilation_value; }
};

/// Input rows one output row reads: (k − 1)·dilation + 1.
int64_t input_span(const DepthwiseShape& s) { return (s.kernel - 1) * s.dilation + 1; }
/// Input columns one output row reads, padding included.
int64_t input_cols(const DepthwiseShape& s) { return (s.Wo - 1) * s.stride + input_span(s); }
/// Input rows a group of output rows reads.
int64_t input_slots(const DepthwiseShape& s) { return (kRowGroup - 1) * s.stride + input_span(s); }

/// The ring of input rows the output rows of an image read (forward and
/// weight gradient): output row oh reads window rows oh·stride + kh·dilation.
template <typename T>
RowRing<T> input_ring(const DepthwiseShape& s, T* memory) {
  const Image<T> image{nullptr, s.H, s.W, s.C};
  return RowRing<T>(image, -s.padding, -s.padding, input_cols(s), input_slots(s), memory, s.relu_input);
}

/// Calls f(n, first, last) for the row groups of the flattened output rows
/// [begin, end) of (n, oh), with `ring` started on each image of x in turn.
template <typename T, typename F>
void for_each_input_group(const DepthwiseShape& s, const T* x, RowRing<T>& ring, int64_t begin, int64_t end, F&& f) {
  int64_t image = -1;
  for_each_row_group(s.Ho, begin, end, [&](int64_t n, int64_t oh0, int64_t oh1) {
    if (n != image) {
      ring.start(x + n * s.H * s.W * s.C, oh0 * s.stride);
      image = n;
    }
    f(n, oh0, oh1);
  });
}

/// The k ring rows output row oh reads, channel block c0.
template <typename T, int K, int S, int D>
void input_rows(const RowRing<T>& ring, const Steps<S, D>& st, int64_t oh, int64_t c0, const T* (&rows)[K]) {
  for (int kh = 0; kh < K; ++kh) rows[kh] = ring.row(oh * st.stride() + kh * st.dilation(), c0);
}

// ---------------------------------------------------------------------------
// Forward: y[oh, ow] = Σ_taps x[oh·stride − padding + kh·dilation, ow·stride − padding + kw·dilation] · w[kh, kw].

/// One kernel row's taps into B output columns, for a compile-time stride S
/// and dilation D: each input vector x[j] of the row is loaded once and feeds
/// every (column b, tap kw) with j = b·S + kw·D (up to k multiply-adds a load
/// instead of one).
template <typename T, int K, int L, int B, int S, int D>
inline void forward_row_taps(const T* row, const T* w, Vec<T, L> (&acc)[B]) {
  Vec<T, L> wv[K];
#pragma GCC unroll 5
  for (int kw = 0; kw < K; ++kw) wv[kw] = load<T, L>(w + kw * L);
  constexpr int kSpan = (B - 1) * S + (K - 1) * D + 1;
#pragma GCC unroll 64
  for (int j = 0; j < kSpan; ++j) {
    const auto xv = load<T, L>(row + j * L);
#pragma GCC unroll 5
    for (int kw = 0; kw < K; ++kw) {
      const int t = j - kw * D;
      if (t >= 0 && t % S == 0 && t / S < B) acc[t / S] += xv * wv[kw];
    }
  }
}

/// The same with the stride or dilation known at run time only: one load per
/// multiply-add.
template <typename T, int K, int L, int B, int S, int D>
inline void forward_row_taps(const Steps<S, D>& st, const T* row, const T* w, Vec<T, L> (&acc)[B]) {
#pragma GCC unroll 5
  for (int kw = 0; kw < K; ++kw) {
    const auto wv = load<T, L>(w + kw * L);
    const T* p = row + kw * st.dilation() * L;
    hide_from_hoisting(p);  // loads of different taps may coincide; reusing them runs out of registers
#pragma GCC unroll 8
    for (int b = 0; b < B; ++b) acc[b] += load<T, L>(p + b * st.stride() * L) * wv;
  }
}

/// B output columns from the k input rows (each at the first column's tap
/// kw = 0).
template <typename T, int K, int L, int B, int S, int D>
inline void forward_columns(const Steps<S, D>& st, const T* const (&rows)[K], int64_t offset, const T* w, T* out,
                            const T* gate, int64_t C) {
  hide_from_hoisting(w);
  Vec<T, L> acc[B] = {};
#pragma GCC unroll 5
  for (int kh = 0; kh < K; ++kh) {
    if constexpr (S != kRuntime && D != kRuntime) {
      forward_row_taps<T, K, L, B, S, D>(rows[kh] + offset, w + kh * K * L, acc);
      asm volatile("" ::: "memory");  // one kernel row at a time, or GCC interleaves them all and spills
    } else {
      forward_row_taps<T, K, L, B>(st, rows[kh] + offset, w + kh * K * L, acc);
    }
  }
#pragma GCC unroll 8
  for (int b = 0; b < B; ++b) store_gated<T, L>(out + b * C, gate == nullptr ? nullptr : gate + b * C, acc[b]);
}

/// Output rows [oh0, oh1) of image n, every channel block; `gate` (or null)
/// as store_gated's, laid out as y.
template <typename T, int K, int S, int D>
void forward_group(const DepthwiseShape& s, RowRing<T>& ring, const T* w, const T* gate, T* y, int64_t n, int64_t oh0,
                   int64_t oh1) {
  const Steps<S, D> st{s.stride, s.dilation};
  ring.fill_until((oh1 - 1) * st.stride() + (K - 1) * st.dilation() + 1);
  for_each_channel_block<T>(s.C, [&](auto width, int64_t c0) {
    constexpr int L = decltype(width)::value;
    for (int64_t oh = oh0; oh < oh1; ++oh) {
      const T* rows[K];
      input_rows(ring, st, oh, c0, rows);
      const int64_t first = ((n * s.Ho + oh) * s.Wo) * s.C + c0;
      for_each_column_block(s.Wo, [&](auto block, int64_t ow) {
        constexpr int B = decltype(block)::value;
        forward_columns<T, K, L, B>(st, rows, ow * st.stride() * L, w + K * K * c0, y + first + ow * s.C,
                                    gate == nullptr ? nullptr : gate + first + ow * s.C, s.C);
      });
    }
  });
}

template <typename T, int K, int S, int D>
void forward_rows(const DepthwiseShape& s, const T* x, const T* taps, bool flip, const T* gate, T* y, int64_t begin,
                  int64_t end) {
  const Scratch<T> w(K * K * s.C);
  block_weights(taps, K, s.C, flip, w.data());
  const Scratch<T> ring_memory(input_slots(s) * input_cols(s) * s.C);
  RowRing<T> ring = input_ring(s, ring_memory.data());
  for_each_input_group(s, x, ring, begin, end, [&](int64_t n, int64_t oh0, int64_t oh1) {
    forward_group<T, K, S, D>(s, ring, w.data(), gate, y, n, oh0, oh1);
  });
}

// ---------------------------------------------------------------------------
// Input gradient. Stride 1: the convolution of grad_y with the flipped kernel
// and padding (k − 1)·dilation − padding, through the forward kernel. Stride
// 2, in gather form (each grad_x pixel written once, so rows split between
// threads freely): grad_x[ih, iw] = Σ grad_y[oh, ow] · w[kh, kw] over the taps
// with ih = oh·stride − padding + kh·dilation (and so for iw). Along a row, the
// pixels iw ≡ r (mod stride) share one set of taps.

/// The stride-1 input gradient as a forward convolution of grad_y.
DepthwiseShape transposed(const DepthwiseShape& s) {
  return {s.N,
          s.C,
          s.Ho,
          s.Wo,
          s.H,
          s.W,
          s.kernel,
          1,
          (s.kernel - 1) * s.dilation - s.padding,
          s.dilation,
          /*relu_input=*/false};
}

/// The taps of one side (kh for a row, kw for a column phase): whether each
/// reaches a grad_y pixel, and that pixel's index from `window_start` (for a
/// column phase, of the phase's first pixel; pixel j of the phase adds j).
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

/// The grad_y window of the input gradient: rows from the first that grad_x
/// row 0 reads, columns [col0, col0 + cols) those any grad_x row reads.
int64_t grad_output_row0(const DepthwiseShape& s) {
  return floor_div(s.padding - (s.kernel - 1) * s.dilation, s.stride);
}
int64_t grad_output_col0(const DepthwiseShape& s) { return grad_output_row0(s); }
int64_t grad_output_cols(const DepthwiseShape& s) {
  return floor_div(s.W - 1 + s.padding, s.stride) - grad_output_col0(s) + 1;
}
/// The most grad_y rows a group of grad_x rows reads.
int64_t grad_output_slots(const DepthwiseShape& s) {
  return ((kRowGroup - 1) + (s.kernel - 1) * s.dilation + s.stride - 1) / s.stride + 1;
}

/// B pixels j.. of one column phase of one grad_x row; rows[kh] is the
/// grad_y row of tap kh where row_taps.used[kh].
template <typename T, int K, int L, int B>
inline void grad_input_columns(const Taps& row_taps, const T* const (&rows)[K], const Taps& cols, int64_t j, const T* w,
                               T* out, const T* gate, int64_t out_step) {
  hide_from_hoisting(w);
  Vec<T, L> acc[B] = {};
#pragma GCC unroll 5
  for (int kh = 0; kh < K; ++kh) {
    if (!row_taps.used[kh]) continue;
#pragma GCC unroll 5
    for (int kw = 0; kw < K; ++kw) {
      if (!cols.used[kw]) continue;
      const auto wv = load<T, L>(w + (kh * K + kw) * L);
      const T* p = rows[kh] + (j + cols.index[kw]) * L;
#pragma GCC unroll 8
      for (int b = 0; b < B; ++b) acc[b] += load<T, L>(p + b * L) * wv;
    }
  }
#pragma GCC unroll 8
  for (int b = 0; b < B; ++b) {
    store_gated<T, L>(out + (j + b) * out_step, gate == nullptr ? nullptr : gate + (j + b) * out_step, acc[b]);
  }
}

/// grad_x rows [ih0, ih1) of image n, every channel block.
template <typename T, int K>
void grad_input_group(const DepthwiseShape& s, RowRing<T>& ring, const T* w, const T* gate, T* grad_x, int64_t n,
                      int64_t ih0, int64_t ih1) {
  const int64_t row0 = grad_output_row0(s), col0 = grad_output_col0(s);
  ring.fill_until(taps_of(s, ih1 - 1, row0).index[0] + 1);  // tap 0 reads the last grad_y row
  for_each_channel_block<T>(s.C, [&](auto width, int64_t c0) {
    constexpr int L = decltype(width)::value;
    for (int64_t ih = ih0; ih < ih1; ++ih) {
      const Taps row_taps = taps_of(s, ih, row0);
      const T* rows[K];
      for (int kh = 0; kh < K; ++kh) rows[kh] = row_taps.used[kh] ? ring.row(row_taps.index[kh], c0) : nullptr;
      for (int64_t phase = 0; phase < s.stride; ++phase) {
        const Taps cols = taps_of(s, phase, col0);
        const int64_t count = (s.W - phase + s.stride - 1) / s.stride;
        const int64_t first = (((n * s.H + ih) * s.W) + phase) * s.C + c0;
        for_each_column_block(count, [&](auto block, int64_t j) {
          constexpr int B = decltype(block)::value;
          grad_input_columns<T, K, L, B>(row_taps, rows, cols, j, w + K * K * c0, grad_x + first,
                                         gate == nullptr ? nullptr : gate + first, s.stride * s.C);
        });
      }
    }
  });
}

template <typename T, int K>
void grad_input_strided_rows(const DepthwiseShape& s, const T* grad_y, const T* taps, const T* gate, T* grad_x,
                             int64_t begin, int64_t end) {
  const Scratch<T> w(K * K * s.C);
  block_weights(taps, K, s.C, /*flip=*/false, w.data());
  const Scratch<T> ring_memory(grad_output_slots(s) * grad_output_cols(s) * s.C);
  const int64_t row0 = grad_output_row0(s);
  RowRing<T> ring(Image<T>{nullptr, s.Ho, s.Wo, s.C}, row0, grad_output_col0(s), grad_output_cols(s),
                  grad_output_slots(s), ring_memory.data(), /*relu=*/false);
  int64_t image = -1;
  for_each_row_group(s.H, begin, end, [&](int64_t n, int64_t ih0, int64_t ih1) {
    if (n != image) {
      ring.start(grad_y + n * s.Ho * s.Wo * s.C, taps_of(s, ih0, row0).index[K - 1]);  // tap k−1 reads the first
      image = n;
    }
    grad_input_group<T, K>(s, ring, w.data(), gate, grad_x, n, ih0, ih1);
  });
}

// ---------------------------------------------------------------------------
// Weight gradient: partial[kh, kw] += grad_y[oh, ow] · x[oh·stride − padding + kh·dilation, ow·stride − padding +
// kw·dilation], summed row by row, column by column, so the order never depends on threads. Each pass keeps the taps of
// R kernel rows in registers.

template <int K>
constexpr int kTapRowsPerPass = K* K + 2 <= kVectorRegisters ? K : 1;

/// Kernel rows [kh0, kh0 + R) of one channel block, one output row: rows[kh]
/// is the input row of tap kh, acc[t] the sum of tap kh0·k + t.
template <typename T, int K, int L, int R, int S, int D>
inline void grad_weight_row(const Steps<S, D>& st, const T* const (&rows)[K], const T* g_row, int64_t Wo, int64_t C,
                            int kh0, Vec<T, L>* acc) {
  for (int64_t ow = 0; ow < Wo; ++ow) {
    const auto g = load<T, L>(g_row + ow * C);
    const int64_t offset = ow * st.stride() * L;
#pragma GCC unroll 5
    for (int kh = 0; kh < R; ++kh) {
#pragma GCC unroll 5
      for (int kw = 0; kw < K; ++kw) {
        acc[kh * K + kw] += g * load<T, L>(rows[kh0 + kh] + offset + kw * st.dilation() * L);
      }
    }
  }
}

/// Output rows [oh0, oh1) of image n, every channel block, into partial.
template <typename T, int K, int S, int D>
void grad_weight_group(const DepthwiseShape& s, RowRing<T>& ring, const T* grad_y, int64_t n, int64_t oh0, int64_t oh1,
                       T* partial) {
  constexpr int R = kTapRowsPerPass<K>;
  const Steps<S, D> st{s.stride, s.dilation};
  ring.fill_until((oh1 - 1) * st.stride() + (K - 1) * st.dilation() + 1);
  for_each_channel_block<T>(s.C, [&](auto width, int64_t c0) {
    constexpr int L = decltype(width)::value;
    Vec<T, L> acc[K * K];
    for (int t = 0; t < K * K; ++t) acc[t] = load<T, L>(partial + t * s.C + c0);
    for (int64_t oh = oh0; oh < oh1; ++oh) {
      const T* rows[K];
      input_rows(ring, st, oh, c0, rows);
      const T* g_row = grad_y + ((n * s.Ho + oh) * s.Wo) * s.C + c0;
      for (int kh0 = 0; kh0 < K; kh0 += R) grad_weight_row<T, K, L, R>(st, rows, g_row, s.Wo, s.C, kh0, acc + kh0 * K);
    }
    for (int t = 0; t < K * K; ++t) store<T, L>(partial + t * s.C + c0, acc[t]);
  });
}

template <typename T, int K, int S, int D>
void grad_weight_rows(const DepthwiseShape& s, const T* x, const T* grad_y, T* partial, int64_t begin, int64_t end) {
  std::memset(partial, 0, sizeof(T) * K * K * s.C);
  const Scratch<T> ring_memory(input_slots(s) * input_cols(s) * s.C);
  RowRing<T> ring = input_ring(s, ring_memory.data());
  for_each_input_group(s, x, ring, begin, end, [&](int64_t n, int64_t oh0, int64_t oh1) {
    grad_weight_group<T, K, S, D>(s, ring, grad_y, n, oh0, oh1, partial);
  });
}

// ---------------------------------------------------------------------------
// Entry points: kernel side, stride and dilation become template arguments
// (float only: double serves the gradient checks, and each constant
// multiplies the instantiations).

template <typename T, typename F>
void with_constants(const DepthwiseShape& s, F&& f) {
  const auto with_dilation = [&](auto kernel, auto stride) {
    if constexpr (sizeof(T) == sizeof(float)) {
      if (s.dilation == 1) return f(kernel, stride, Constant<1>{});
      if (s.dilation == 2) return f(kernel, stride, Constant<2>{});
    }
    f(kernel, stride, Constant<kRuntime>{});
  };
  const auto with_stride = [&](auto kernel) {
    if constexpr (sizeof(T) == sizeof(float)) {
      if (s.stride == 1) return with_dilation(kernel, Constant<1>{});
      return with_dilation(kernel, Constant<2>{});
    }
    with_dilation(kernel, Constant<kRuntime>{});
  };
  if (s.kernel == 3) return with_stride(Constant<3>{});
  with_stride(Constant<5>{});
}

template <typename T>
void forward(const DepthwiseShape& s, const T* x, const T* taps, T* y, int64_t begin, int64_t end) {
  with_constants<T>(s, [&](auto k, auto stride, auto dilation) {
    forward_rows<T, decltype(k)::value, decltype(stride)::value, decltype(dilation)::value>(
        s, x, taps, /*flip=*/false, /*gate=*/nullptr, y, begin, end);
  });
}

template <typename T>
void grad_input(const DepthwiseShape& s, const T* grad_y, const T* taps, const T* relu_x, T* grad_x, int64_t begin,
                int64_t end) {
  if (s.stride == 1) {
    const DepthwiseShape t = transposed(s);
    return with_constants<T>(t, [&](auto k, auto stride, auto dilation) {
      forward_rows<T, decltype(k)::value, decltype(stride)::value, decltype(dilation)::value>(
          t, grad_y, taps, /*flip=*/true, relu_x, grad_x, begin, end);
    });
  }
  if (s.kernel == 3) return grad_input_strided_rows<T, 3>(s, grad_y, taps, relu_x, grad_x, begin, end);
  grad_input_strided_rows<T, 5>(s, grad_y, taps, relu_x, grad_x, begin, end);
}

template <typename T>
void grad_weight(const DepthwiseShape& s, const T* x, const T* grad_y, T* partial, int64_t begin, int64_t end) {
  with_constants<T>(s, [&](auto k, auto stride, auto dilation) {
    grad_weight_rows<T, decltype(k)::value, decltype(stride)::value, decltype(dilation)::value>(s, x, grad_y, partial,
                                                                                                begin, end);
  });
}

}  // namespace

const DepthwiseKernelSet& DAAS_ISA_CONCAT(depthwise_kernels_, DAAS_DEPTHWISE_ISA)() {
  static const DepthwiseKernelSet kernels = {
      DAAS_ISA_STRING(DAAS_DEPTHWISE_ISA),
      {&forward<float>, &grad_input<float>, &grad_weight<float>},
      {&forward<double>, &grad_input<double>, &grad_weight<double>},
  };
  return kernels;
}

}  // namespace daas::nas::detail
