#pragma once
// Vector helpers shared by the hand-written kernels of src/daas/nas/isa. Each
// kernel file is compiled once per instruction set, and everything here has
// internal linkage (an unnamed namespace), so every object file keeps its own
// copy built with its own -m flags: nothing built for AVX-512 can be picked by
// the linker for code that runs on a CPU without it. No LibTorch or
// standard-library template is used.
#include <cstdint>
#include <cstring>

#ifndef DAAS_DEPTHWISE_ISA
#error "compile with -DDAAS_DEPTHWISE_ISA=baseline|avx2|avx512 (see CMakeLists.txt)"
#endif

// NAME_<isa> and "<isa>": each file's entry point is named after its instruction set.
#define DAAS_ISA_CONCAT2(a, b) a##b
#define DAAS_ISA_CONCAT(a, b) DAAS_ISA_CONCAT2(a, b)
#define DAAS_ISA_STRING2(a) #a
#define DAAS_ISA_STRING(a) DAAS_ISA_STRING2(a)

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

template <int N>
struct Constant {
  static constexpr int value = N;
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

/// max(v, 0) lane by lane; NaN stays NaN, as LibTorch's relu.
template <typename T, int L>
inline Vec<T, L> relu(const Vec<T, L>& v) {
  const Vec<T, L> zero = {};
  return v < zero ? zero : v;
}

/// Stores v at p, or zero in the lanes where `gate` (not null) is ≤ 0: the
/// backward of a ReLU whose input was `gate`.
template <typename T, int L>
inline void store_gated(T* p, const T* gate, const Vec<T, L>& v) {
  if (gate == nullptr) return store<T, L>(p, v);
  const Vec<T, L> zero = {};
  store<T, L>(p, load<T, L>(gate) <= zero ? zero : v);
}

template <typename T>
constexpr int kLanes = kVectorBytes / static_cast<int>(sizeof(T));

/// Calls f(Constant<L>{}, c0) over the channels: full vectors, then one
/// half vector if it fits, then single channels (13 = 8 + 5·1 on AVX-512).
template <typename T, typename F>
void for_each_channel_block(int64_t C, F&& f) {
  constexpr int L = kLanes<T>;
  int64_t c0 = 0;
  for (; c0 + L <= C; c0 += L) f(Constant<L>{}, c0);
  if constexpr (L / 2 > 1) {
    if (c0 + L / 2 <= C) {
      f(Constant<L / 2>{}, c0);
      c0 += L / 2;
    }
  }
  for (; c0 < C; ++c0) f(Constant<1>{}, c0);
}

/// Calls f(Constant<L>{}, Constant<V>{}, i) over the float positions
/// [begin, end) in groups of V vectors of L lanes: groups of G whole vectors,
/// then single vectors, then half and quarter vectors, then single floats.
/// The loops that hold a group's values in registers walk it this way.
template <int G, typename F>
void for_each_vector_group(int64_t begin, int64_t end, F&& f) {
  constexpr int L = kLanes<float>;
  int64_t i = begin;
  for (; i + G * L <= end; i += G * L) f(Constant<L>{}, Constant<G>{}, i);
  for (; i + L <= end; i += L) f(Constant<L>{}, Constant<1>{}, i);
  if constexpr (L / 2 > 1) {
    if (i + L / 2 <= end) {
      f(Constant<L / 2>{}, Constant<1>{}, i);
      i += L / 2;
    }
  }
  if constexpr (L / 4 > 1) {
    if (i + L / 4 <= end) {
      f(Constant<L / 4>{}, Constant<1>{}, i);
      i += L / 4;
    }
  }
  for (; i < end; ++i) f(Constant<1>{}, Constant<1>{}, i);
}

/// Calls f(Constant<B>{}, j) over [0, count) in blocks of 8, then 4, 2 and
/// 1 columns (7 = 4 + 2 + 1): one weight load serves B multiply-adds, and the
/// B accumulators are independent.
template <typename F>
void for_each_column_block(int64_t count, F&& f) {
  int64_t j = 0;
  for (; j + 8 <= count; j += 8) f(Constant<8>{}, j);
  if (j + 4 <= count) {
    f(Constant<4>{}, j);
    j += 4;
  }
  if (j + 2 <= count) {
    f(Constant<2>{}, j);
    j += 2;
  }
  if (j < count) f(Constant<1>{}, j);
}

// ---------------------------------------------------------------------------
// Small helpers.

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

}  // namespace
}  // namespace daas::nas::detail
