// The YCoCg history clamp's pieces shared by its kernels (private to src/ops/history_clamp).
#pragma once
#include <ATen/core/Tensor.h>

#include "../cpu_dispatch.h"
#include "tessera/ops/ops.h"

namespace tessera::ops::history_clamp_detail {

// history and current: [N, 3, H, W], one shape, device and floating dtype; radius 0..8.
void check_inputs(const at::Tensor& history, const at::Tensor& current, int64_t radius);

#if defined(__CUDACC__)
#define TESSERA_HC_HD __host__ __device__ __forceinline__
#else
#define TESSERA_HC_HD inline
#endif
// RGB <-> YCoCg (Malvar and Sullivan 2003): Y = R/4 + G/2 + B/4, Co = (R - B)/2, Cg = -R/4 + G/2 - B/4.
template <class T>
TESSERA_HC_HD void to_ycocg(T r, T g, T b, T* o) {
  o[0] = T(0.25) * r + T(0.5) * g + T(0.25) * b;
  o[1] = T(0.5) * (r - b);
  o[2] = T(-0.25) * r + T(0.5) * g - T(0.25) * b;
}
template <class T>
TESSERA_HC_HD void to_rgb(const T* y, T* o) {
  o[0] = y[0] + y[1] - y[2];
  o[1] = y[0] + y[2];
  o[2] = y[0] - y[1] - y[2];
}

}  // namespace tessera::ops::history_clamp_detail

// The CPU loop (cpu/history_clamp_kernel.cpp, one build per instruction set), contiguous NCHW.
TESSERA_CPU_KERNEL_DECL(void history_clamp_float(const float* history, const float* current, float* out, int64_t n, int64_t h, int64_t w,
                                                 int64_t radius))
TESSERA_CPU_KERNEL_DECL(void history_clamp_double(const double* history, const double* current, double* out, int64_t n, int64_t h, int64_t w,
                                                  int64_t radius))
