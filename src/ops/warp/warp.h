// The Catmull-Rom backward warp's pieces shared by its kernels (private to src/ops/warp).
#pragma once
#include <ATen/core/Tensor.h>

#include "../cpu_dispatch.h"
#include "tessera/ops/ops.h"

namespace tessera::ops::warp_detail {

// Checks image [N, C, H, W] and flow [N, 2, H, W] (same N, H, W, device and floating dtype).
void check_inputs(const at::Tensor& image, const at::Tensor& flow);

// Catmull-Rom weights of the four taps at offsets -1, 0, 1, 2 from floor(u), for t = u - floor(u),
// and their derivatives in t. Host and device.
#if defined(__CUDACC__)
#define TESSERA_HD __host__ __device__ __forceinline__
#else
#define TESSERA_HD inline
#endif
template <class T>
TESSERA_HD void catmull_rom(T t, T* w) {
  w[0] = ((-t + T(2)) * t - T(1)) * t * T(0.5);
  w[1] = ((T(3) * t - T(5)) * t * t + T(2)) * T(0.5);
  w[2] = ((-T(3) * t + T(4)) * t + T(1)) * t * T(0.5);
  w[3] = (t - T(1)) * t * t * T(0.5);
}
template <class T>
TESSERA_HD void catmull_rom_derivative(T t, T* d) {
  d[0] = ((-T(3) * t + T(4)) * t - T(1)) * T(0.5);
  d[1] = (T(9) * t - T(10)) * t * T(0.5);
  d[2] = ((-T(9) * t + T(8)) * t + T(1)) * T(0.5);
  d[3] = (T(3) * t - T(2)) * t * T(0.5);
}
template <class I>
TESSERA_HD I clamp_index(I i, I n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

}  // namespace tessera::ops::warp_detail

// The CPU loops (cpu/warp_kernel.cpp, one build per instruction set), contiguous NCHW:
// forward: out = warp(image, flow); backward: grad_image (zeroed by the caller) and grad_flow.
TESSERA_CPU_KERNEL_DECL(void warp_forward_float(const float* image, const float* flow, float* out, int64_t n, int64_t c, int64_t h, int64_t w))
TESSERA_CPU_KERNEL_DECL(void warp_forward_double(const double* image, const double* flow, double* out, int64_t n, int64_t c, int64_t h, int64_t w))
TESSERA_CPU_KERNEL_DECL(void warp_backward_float(const float* grad, const float* image, const float* flow, float* grad_image, float* grad_flow,
                                                 int64_t n, int64_t c, int64_t h, int64_t w))
TESSERA_CPU_KERNEL_DECL(void warp_backward_double(const double* grad, const double* image, const double* flow, double* grad_image,
                                                  double* grad_flow, int64_t n, int64_t c, int64_t h, int64_t w))
