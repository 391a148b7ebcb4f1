// The stem convolution's pieces shared by its wrapper and its kernels (private to src/ops/stem_conv).
#pragma once
#include <cstdint>

#include "../conv_epilogue.h"
#include "../cpu_dispatch.h"

namespace tessera::ops::stem_conv_detail {

using conv_epilogue::Activation;

struct Problem {
  const float* input;   // [N][H + k - 1][W + k - 1][Cin], zero-padded
  const float* weight;  // [k][k][Cin][Cpad], Cpad = cout rounded up to whole blocks, zero-padded
  const float* bias;    // [Cpad]
  float* output;        // [N][H][W][Cout] (channels-last)
  int64_t n, h, w, cin, k, cout, cpad;
  Activation activation;
};

}  // namespace tessera::ops::stem_conv_detail

// The CPU loops (cpu/stem_conv_kernel.cpp, one build per instruction set), and the number of floats
// in one of that build's vectors (weights are padded to kBlockVectors of them).
TESSERA_CPU_KERNEL_DECL(void stem_conv(const ::tessera::ops::stem_conv_detail::Problem& p))
TESSERA_CPU_KERNEL_DECL(int64_t stem_conv_vector_width())
