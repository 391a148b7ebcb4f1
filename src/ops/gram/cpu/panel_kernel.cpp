// tessera::gram's float32 CPU kernel, compiled once per instruction set (see cpu_dispatch.h): the
// upper triangle of X X^T for each batch item of X [N, C, L], as a symmetric rank-k update of its
// own. The positions are taken in chunks; each chunk's rows are packed in panels of P rows stored
// position-major (dst[k * P + r], P = the vector width: 8 floats with AVX2, 16 with AVX-512), and
// every P x P block on or above the diagonal is one register-resident block of P vector
// accumulators, fed by one vector load and P broadcasts per position. So C (C + P) / 2 of bmm's
// C^2 multiply-adds are done, with no matrix-library call per block. The DEFAULT build (no
// vector instructions) has no such kernel; gram then uses the block recursion on mm.
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#if defined(CPU_CAPABILITY_AVX2) || defined(CPU_CAPABILITY_AVX512)
#include <immintrin.h>
#endif

#include "../gram.h"

namespace tessera::ops::cpu::CPU_CAPABILITY {

#if defined(CPU_CAPABILITY_AVX2) || defined(CPU_CAPABILITY_AVX512)
namespace {

// Positions per chunk: a packed panel is P x 256 floats (8 or 16 KiB), so a block's two panels sit
// in L1 and a chunk of all panels in L2 for C up to 512. Measured with bench/ops_bench.py.
constexpr int64_t kChunk = 256;

#if defined(CPU_CAPABILITY_AVX512)
using Reg = __m512;
constexpr int kWidth = 16;
inline Reg load(const float* p) { return _mm512_loadu_ps(p); }
inline void store(float* p, Reg r) { _mm512_storeu_ps(p, r); }
inline Reg broadcast(const float* p) { return _mm512_set1_ps(*p); }
inline Reg fmadd(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
inline Reg zero() { return _mm512_setzero_ps(); }
#elif defined(CPU_CAPABILITY_AVX2)
using Reg = __m256;
constexpr int kWidth = 8;
inline Reg load(const float* p) { return _mm256_loadu_ps(p); }
inline void store(float* p, Reg r) { _mm256_storeu_ps(p, r); }
inline Reg broadcast(const float* p) { return _mm256_broadcast_ss(p); }
inline Reg fmadd(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
inline Reg zero() { return _mm256_setzero_ps(); }
#endif

// Transposes the 8 x 8 floats in r (row i in r[i]) in registers.
inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)), s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)), s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// dst[k * P + r] = src[r * ld + k] for the panel's rows r < rows (zeros for the rows past C) and
// positions k < kc.
template <int P>
void pack_panel(const float* src, int64_t ld, int64_t rows, int64_t kc, float* dst) {
  int64_t k = 0;
  if (rows == P) {
    for (; k + 8 <= kc; k += 8)
      for (int g = 0; g < P; g += 8) {  // 8 x 8 tiles
        __m256 r[8];
        for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + (g + i) * ld + k);
        transpose8(r);
        for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dst + (k + i) * P + g, r[i]);
      }
  }
  for (; k < kc; ++k)
    for (int r = 0; r < P; ++r) dst[k * P + r] = r < rows ? src[r * ld + k] : 0.0f;
}

// out[c * ld + j] (+)= sum_k a[k * P + j] * b[k * P + c] for c < rows, j < cols: the block whose
// rows are panel b's and whose columns are panel a's.
template <int P>
void block(const float* a, const float* b, int64_t kc, float* out, int64_t ld, int64_t rows, int64_t cols, bool accumulate) {
  constexpr int V = P / kWidth;
  static_assert(P % kWidth == 0, "a panel is a whole number of vectors");
  float edge[P * P];  // a block past C's last row or column is computed here, then its valid part copied
  const bool whole = rows == P && cols == P;
  float* dst = whole ? out : edge;
  const int64_t ldd = whole ? ld : P;
  if (!whole) {
    std::fill(edge, edge + P * P, 0.0f);
    if (accumulate)
      for (int64_t c = 0; c < rows; ++c) std::copy(out + c * ld, out + c * ld + cols, edge + c * P);
  }
  // Raw registers and fully unrolled loops, so that the accumulators stay in registers.
  Reg acc[P][V];
#pragma GCC unroll 16
  for (int c = 0; c < P; ++c)
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) acc[c][v] = accumulate ? load(dst + c * ldd + v * kWidth) : zero();
  for (int64_t k = 0; k < kc; ++k) {
    Reg av[V];
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) av[v] = load(a + k * P + v * kWidth);
#pragma GCC unroll 16
    for (int c = 0; c < P; ++c) {
      const Reg bc = broadcast(b + k * P + c);
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) acc[c][v] = fmadd(av[v], bc, acc[c][v]);
    }
  }
#pragma GCC unroll 16
  for (int c = 0; c < P; ++c)
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) store(dst + c * ldd + v * kWidth, acc[c][v]);
  if (!whole)
    for (int64_t c = 0; c < rows; ++c) std::copy(edge + c * P, edge + c * P + cols, out + c * ld);
}

// The upper blocks of x[b] x[b]^T for positions [k_begin, k_end), into out (C x C).
template <int P>
void upper_blocks_of(const float* x, int64_t c, int64_t l, int64_t k_begin, int64_t k_end, float* out, std::vector<float>& pack) {
  const int64_t panels = (c + P - 1) / P;
  for (int64_t k0 = k_begin; k0 < k_end; k0 += kChunk) {
    const int64_t kc = std::min(kChunk, k_end - k0);
    for (int64_t p = 0; p < panels; ++p) pack_panel<P>(x + p * P * l + k0, l, std::min<int64_t>(P, c - p * P), kc, pack.data() + p * kc * P);
    for (int64_t pi = 0; pi < panels; ++pi)
      for (int64_t pj = 0; pj <= pi; ++pj)
        block<P>(pack.data() + pi * kc * P, pack.data() + pj * kc * P, kc, out + pj * P * c + pi * P, c,
                 std::min<int64_t>(P, c - pj * P), std::min<int64_t>(P, c - pi * P), k0 > k_begin);
  }
}

template <int P>
void upper_blocks(const float* x, float* u, int64_t n, int64_t c, int64_t l) {
  // One work unit per batch item; with fewer items than threads, each item's positions are split
  // into slices whose partial triangles are added at the end.
  const int64_t threads = at::get_num_threads();
  const int64_t slices = n >= threads ? 1 : std::clamp<int64_t>((threads + n - 1) / n, 1, std::max<int64_t>(1, l / kChunk));
  std::vector<float> partial(static_cast<size_t>((slices - 1) * n * c * c));
  at::parallel_for(0, n * slices, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> pack(static_cast<size_t>((c + P - 1) / P * P * kChunk));
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t b = unit / slices, s = unit % slices;
      float* out = s == 0 ? u + b * c * c : partial.data() + ((s - 1) * n + b) * c * c;
      upper_blocks_of<P>(x + b * c * l, c, l, l * s / slices, l * (s + 1) / slices, out, pack);
    }
  });
  for (int64_t s = 1; s < slices; ++s)
    at::parallel_for(0, n * c, 16, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t i = r % c;  // row i of item r / c: its upper part, columns i..C-1
        const float* add = partial.data() + ((s - 1) * n * c + r) * c;
        float* row = u + r * c;
        for (int64_t j = i; j < c; ++j) row[j] += add[j];
      }
    });
}

}  // namespace

bool gram_upper_f32(const float* x, float* u, int64_t n, int64_t c, int64_t l, int64_t panel) {
  if (panel == 0) panel = kWidth;
  if constexpr (kWidth == 8) {
    if (panel == 8) {
      upper_blocks<8>(x, u, n, c, l);
      return true;
    }
  }
  if (panel == 16) {
    upper_blocks<16>(x, u, n, c, l);
    return true;
  }
  return false;
}
#else
bool gram_upper_f32(const float*, float*, int64_t, int64_t, int64_t, int64_t) { return false; }  // no vector instructions
#endif

}  // namespace tessera::ops::cpu::CPU_CAPABILITY
