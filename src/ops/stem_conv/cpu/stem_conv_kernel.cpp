// tessera::ops::stem_conv's CPU loops, compiled once per instruction set (see cpu_dispatch.h).
//
// A direct convolution for inputs of a few channels, where the GEMM-shaped kernels of oneDNN have
// almost no reduction to work with (5x5x3 = 75 multiply-adds per output). Each step of the register
// tile multiplies PX output pixels by kBlockVectors vectors of output channels: PX x kBlockVectors
// accumulators, kBlockVectors weight vectors loaded once and reused by PX pixels, one broadcast
// input value reused by kBlockVectors vectors. Over the padded NHWC input, the (kx, ci) taps of one
// kernel row are one contiguous run, so a pixel's inputs for a kernel row are x[p * Cin + t],
// t < k * Cin. The bias starts the sum and the activation is applied in registers before the store.
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include "../stem_conv.h"

namespace tessera::ops::cpu::CPU_CAPABILITY {

namespace {

using stem_conv_detail::Activation;
using conv_epilogue::kBlockVectors;
using stem_conv_detail::Problem;
using V = at::vec::Vectorized<float>;
constexpr int64_t kV = V::size();
// Pixels per register tile: PX x kBlockVectors accumulators plus the weight vectors and a broadcast
// within the 16 (AVX2) or 32 (AVX-512) vector registers.
constexpr int64_t kPixels = kV == 16 ? 12 : 6;

#include "../../cpu_vec_math.h"

template <int64_t PX, Activation A>
inline void tile(const Problem& p, const float* x, const float* w, const float* b, float* out, int64_t co0) {
  constexpr int64_t CB = kBlockVectors;
  V acc[PX][CB];
  for (int64_t j = 0; j < CB; ++j) {
    const V bias = V::loadu(b + j * kV);
    for (int64_t q = 0; q < PX; ++q) acc[q][j] = bias;
  }
  const int64_t row_in = (p.w + p.k - 1) * p.cin, taps = p.k * p.cin;
  for (int64_t ky = 0; ky < p.k; ++ky) {
    const float* xr = x + ky * row_in;
    const float* wr = w + ky * taps * p.cpad;
    for (int64_t t = 0; t < taps; ++t) {
      V wv[CB];
      for (int64_t j = 0; j < CB; ++j) wv[j] = V::loadu(wr + t * p.cpad + j * kV);
      for (int64_t q = 0; q < PX; ++q) {
        const V xv(xr[q * p.cin + t]);
        for (int64_t j = 0; j < CB; ++j) acc[q][j] = at::vec::fmadd(xv, wv[j], acc[q][j]);
      }
    }
  }
  for (int64_t j = 0; j < CB; ++j) {
    const int64_t c = co0 + j * kV;
    if (c >= p.cout) break;
    const int64_t count = std::min(kV, p.cout - c);
    for (int64_t q = 0; q < PX; ++q) {
      V v = acc[q][j];
      v = activate<A>(v);
      v.store(out + q * p.cout + c, static_cast<int>(count));
    }
  }
}

template <Activation A>
void run(const Problem& p) {
  const int64_t block = kBlockVectors * kV, blocks = p.cpad / block;
  const int64_t wp = p.w + p.k - 1, hp = p.h + p.k - 1;
  at::parallel_for(0, p.n * p.h, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / p.h, y = row % p.h;
      const float* xrow = p.input + (n * hp + y) * wp * p.cin;
      float* orow = p.output + row * p.w * p.cout;
      int64_t x0 = 0;
      for (; x0 + kPixels <= p.w; x0 += kPixels)
        for (int64_t bk = 0; bk < blocks; ++bk)
          tile<kPixels, A>(p, xrow + x0 * p.cin, p.weight + bk * block, p.bias + bk * block, orow + x0 * p.cout, bk * block);
      for (; x0 < p.w; ++x0)
        for (int64_t bk = 0; bk < blocks; ++bk)
          tile<1, A>(p, xrow + x0 * p.cin, p.weight + bk * block, p.bias + bk * block, orow + x0 * p.cout, bk * block);
    }
  });
}

}  // namespace

void stem_conv(const Problem& p) {
  conv_epilogue::with_activation(p.activation, [&](auto a) { run<decltype(a)::value>(p); });
}

int64_t stem_conv_vector_width() { return kV; }

}  // namespace tessera::ops::cpu::CPU_CAPABILITY
