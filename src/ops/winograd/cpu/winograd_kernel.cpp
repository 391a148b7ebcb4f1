// tessera::ops::winograd_conv3x3's CPU loops, compiled once per instruction set (see cpu_dispatch.h).
//
// Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray, 2016): each 4x4 block of outputs is
// A^T [ (G g G^T) . (B^T d B) ] A over its 6x6 input block d, so the products are 36 per block
// instead of 144: 2.25 multiply-adds per output and input channel instead of 9. The weights' G g G^T
// is done once by the caller. A work unit is a run of T blocks along one row of blocks:
//  1. the input transform B^T d B of each block, a vector of channels at a time, into a buffer
//     [36][T][Cin] (outside the input reads as zeros: the convolution's padding, 0 or 1);
//  2. for each of the 36 positions, a small GEMM [T x Cin] x [Cin x Cout] with the register
//     tile of the stem kernel (PX blocks x kBlockVectors vectors of output channels), the weights
//     packed in contiguous panels of one block of output channels;
//  3. the output transform A^T m A, then bias, residual and activation, stored channels-last.
// Both buffers stay in the core's caches; the input is read and the output written once.
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <vector>

#include "../winograd.h"

namespace tessera::ops::cpu::CPU_CAPABILITY {

namespace {

using winograd_detail::Activation;
using conv_epilogue::kBlockVectors;
using winograd_detail::Problem;
using V = at::vec::Vectorized<float>;
constexpr int64_t kV = V::size();
constexpr int64_t kPixels = kV == 16 ? 12 : 6;  // register tile rows: PX x kBlockVectors accumulators

#include "../../cpu_vec_math.h"

// B^T applied to 6 vectors (a column or a row of the 6x6 block).
inline void input_1d(const V* d, int64_t s, V* o, int64_t os) {
  const V d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s];
  const V four(4.f), five(5.f), two(2.f);
  o[0] = at::vec::fmadd(four, d0, at::vec::fnmadd(five, d2, d4));
  o[os] = at::vec::fnmadd(four, d1 + d2, d3 + d4);
  o[2 * os] = at::vec::fmadd(four, d1 - d2, d4 - d3);
  o[3 * os] = at::vec::fmadd(two, d3 - d1, d4 - d2);
  o[4 * os] = at::vec::fmadd(two, d1 - d3, d4 - d2);
  o[5 * os] = at::vec::fmadd(four, d1, at::vec::fnmadd(five, d3, d5));
}

// A^T applied to 6 vectors: 4 results.
inline void output_1d(const V* m, int64_t s, V* o, int64_t os) {
  const V m0 = m[0], m1 = m[s], m2 = m[2 * s], m3 = m[3 * s], m4 = m[4 * s], m5 = m[5 * s];
  const V a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
  o[0] = m0 + a + c;
  o[os] = at::vec::fmadd(V(2.f), d, b);
  o[2 * os] = at::vec::fmadd(V(4.f), c, a);
  o[3 * os] = at::vec::fmadd(V(8.f), d, b) + m5;
}

void input_transform(const Problem& p, int64_t n, int64_t ty, int64_t tx0, int64_t tiles, int64_t T, int64_t cin_pad, float* buf) {
  V d[36], t[36];
  for (int64_t t_i = 0; t_i < tiles; ++t_i) {
    const int64_t y0 = 4 * ty - p.pad, x0 = 4 * (tx0 + t_i) - p.pad;
    const bool inside = y0 >= 0 && x0 >= 0 && y0 + 6 <= p.ih && x0 + 6 <= p.iw;
    for (int64_t c = 0; c < p.cin; c += kV) {
      const int count = static_cast<int>(std::min(kV, p.cin - c));
      for (int64_t i = 0; i < 6; ++i) {
        const int64_t y = y0 + i;
        for (int64_t j = 0; j < 6; ++j) {
          const int64_t x = x0 + j;
          if (inside || (y >= 0 && y < p.ih && x >= 0 && x < p.iw)) {
            const float* src = p.input + ((n * p.ih + y) * p.iw + x) * p.cin + c;
            d[i * 6 + j] = count == kV ? V::loadu(src) : V::loadu(src, count);
          } else {
            d[i * 6 + j] = V(0.f);
          }
        }
      }
      for (int64_t j = 0; j < 6; ++j) input_1d(d + j, 6, t + j, 6);        // columns: B^T d
      for (int64_t i = 0; i < 6; ++i) input_1d(t + 6 * i, 1, d + 6 * i, 1);  // rows: (B^T d) B
      for (int64_t k = 0; k < 36; ++k) d[k].store(buf + (k * T + t_i) * cin_pad + c);
    }
  }
}

// PX blocks' products for one position and one block of output channels: u is that block's panel
// [Cin][kBlockVectors * kV] (contiguous, so it stays in L1 across the unit's blocks).
template <int64_t PX>
inline void gemm_tile(const float* v, int64_t cin_pad, const float* u, int64_t cin, float* m, int64_t cpad) {
  constexpr int64_t CB = kBlockVectors;
  V acc[PX][CB];
  for (int64_t q = 0; q < PX; ++q)
    for (int64_t j = 0; j < CB; ++j) acc[q][j] = V(0.f);
  for (int64_t c = 0; c < cin; ++c) {
    V wv[CB];
    for (int64_t j = 0; j < CB; ++j) wv[j] = V::loadu(u + (c * CB + j) * kV);
    for (int64_t q = 0; q < PX; ++q) {
      const V xv(v[q * cin_pad + c]);
      for (int64_t j = 0; j < CB; ++j) acc[q][j] = at::vec::fmadd(xv, wv[j], acc[q][j]);
    }
  }
  for (int64_t q = 0; q < PX; ++q)
    for (int64_t j = 0; j < CB; ++j) acc[q][j].store(m + q * cpad + j * kV);
}

void gemms(const Problem& p, int64_t tiles, int64_t T, int64_t cin_pad, const float* vbuf, float* mbuf) {
  const int64_t block = kBlockVectors * kV, blocks = p.cpad / block;
  for (int64_t k = 0; k < 36; ++k) {
    const float* v = vbuf + k * T * cin_pad;
    float* m = mbuf + k * T * p.cpad;
    for (int64_t b = 0; b < blocks; ++b) {
      const float* u = p.weight + (k * blocks + b) * p.cin * block;
      int64_t t = 0;
      for (; t + kPixels <= tiles; t += kPixels) gemm_tile<kPixels>(v + t * cin_pad, cin_pad, u, p.cin, m + t * p.cpad + b * block, p.cpad);
      for (; t < tiles; ++t) gemm_tile<1>(v + t * cin_pad, cin_pad, u, p.cin, m + t * p.cpad + b * block, p.cpad);
    }
  }
}

template <Activation A>
void output_transform(const Problem& p, int64_t n, int64_t ty, int64_t tx0, int64_t tiles, int64_t T, const float* mbuf) {
  V m[36], s[24], y[16];
  for (int64_t t_i = 0; t_i < tiles; ++t_i) {
    const int64_t oy = 4 * ty, ox = 4 * (tx0 + t_i);
    const int64_t rows = std::min<int64_t>(4, p.h - oy), cols = std::min<int64_t>(4, p.w - ox);
    for (int64_t c = 0; c < p.cout; c += kV) {
      const int count = static_cast<int>(std::min(kV, p.cout - c));
      for (int64_t k = 0; k < 36; ++k) m[k] = V::loadu(mbuf + (k * T + t_i) * p.cpad + c);
      for (int64_t j = 0; j < 6; ++j) output_1d(m + j, 6, s + j, 6);       // columns: A^T m (4 x 6)
      for (int64_t i = 0; i < 4; ++i) output_1d(s + 6 * i, 1, y + 4 * i, 1);  // rows: (A^T m) A (4 x 4)
      const V bias = V::loadu(p.bias + c);
      for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = 0; j < cols; ++j) {
          const int64_t idx = ((n * p.h + oy + i) * p.w + ox + j) * p.cout + c;
          V v = y[i * 4 + j] + bias;
          if (p.residual) v = v + (count == kV ? V::loadu(p.residual + idx) : V::loadu(p.residual + idx, count));
          v = activate<A>(v);
          v.store(p.output + idx, count);
        }
      }
    }
  }
}

template <Activation A>
void run(const Problem& p) {
  const int64_t cin_pad = (p.cin + kV - 1) / kV * kV;
  // One register tile's worth of blocks per unit: measured against 2, 4 and 8 tiles' worth (EDSR's
  // 64 channels: 7% faster than 2; CycleGAN's 256: the same within noise).
  const int64_t T = kPixels;
  const int64_t tiles_h = (p.h + 3) / 4, tiles_w = (p.w + 3) / 4, chunks = (tiles_w + T - 1) / T;
  at::parallel_for(0, p.n * tiles_h * chunks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> vbuf(36 * T * cin_pad), mbuf(36 * T * p.cpad);
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t n = unit / (tiles_h * chunks), ty = unit / chunks % tiles_h, tx0 = unit % chunks * T;
      const int64_t tiles = std::min(T, tiles_w - tx0);
      input_transform(p, n, ty, tx0, tiles, T, cin_pad, vbuf.data());
      gemms(p, tiles, T, cin_pad, vbuf.data(), mbuf.data());
      output_transform<A>(p, n, ty, tx0, tiles, T, mbuf.data());
    }
  });
}

}  // namespace

void winograd_conv3x3(const Problem& p) {
  conv_epilogue::with_activation(p.activation, [&](auto a) { run<decltype(a)::value>(p); });
}

int64_t winograd_vector_width() { return kV; }

}  // namespace tessera::ops::cpu::CPU_CAPABILITY
