// The Winograd convolution's pieces shared by its wrapper and its kernels (private to src/ops/winograd).
#pragma once
#include <cstdint>

#include "../conv_epilogue.h"
#include "../cpu_dispatch.h"

namespace tessera::ops::winograd_detail {

using conv_epilogue::Activation;

struct Problem {
  const float* input;     // [N][IH][IW][Cin], channels-last
  const float* weight;    // [36][Cpad / block][Cin][block]: G g G^T per 6x6 position and block of
                          // output channels (block = conv_epilogue::kBlockVectors vectors), zero past Cout
  const float* bias;      // [Cpad]
  const float* residual;  // [N][H][W][Cout] added to the convolution, or null; may be `output`
  float* output;          // [N][H][W][Cout], channels-last: H = IH + 2 pad - 2, W likewise
  int64_t n, ih, iw, pad, h, w, cin, cout, cpad;
  Activation activation;  // of conv + bias (+ residual)
};

}  // namespace tessera::ops::winograd_detail

// The CPU loops (cpu/winograd_kernel.cpp, one build per instruction set), and the floats in one of
// that build's vectors.
TESSERA_CPU_KERNEL_DECL(void winograd_conv3x3(const ::tessera::ops::winograd_detail::Problem& p))
TESSERA_CPU_KERNEL_DECL(int64_t winograd_vector_width())
