// The Catmull-Rom backward warp's pieces shared by its kernels (private to src/ops/warp).
#pragma once
#include <ATen/core/Tensor.h>

#include <cmath>

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
template <class T>
TESSERA_HD bool is_nan(T x) {
#if defined(__CUDA_ARCH__)
  return isnan(x);
#else
  return std::isnan(x);
#endif
}
template <class T>
TESSERA_HD T floor_of(T x) {
#if defined(__CUDA_ARCH__)
  return floor(x);
#else
  return std::floor(x);
#endif
}

// The 4 x 4 taps of output pixel (i, j) of one sample (its flow planes at `flow`, `plane` = h * w),
// shared by the CPU and CUDA kernels: positions in pixel-index space (centres at integers), pulled
// into [-4, size + 3] where every tap is a border pixel anyway (a position pulled in does not move
// with the flow: moves_u / moves_v are false and its flow gradient is zero). A NaN flow gives NaN
// weights, so a NaN output, as the composite does.
template <class T, class I>
struct Taps {
  I x[4], y[4];
  T wx[4], wy[4], dx[4], dy[4];
  bool moves_u, moves_v;

  TESSERA_HD void at(const T* flow, I plane, I i, I j, I h, I w, bool derivatives) {
    T u = T(j) + flow[i * w + j], v = T(i) + flow[plane + i * w + j];
    const T uhi = T(w + 3), vhi = T(h + 3);
    moves_u = u >= T(-4) && u <= uhi;
    moves_v = v >= T(-4) && v <= vhi;
    if (is_nan(u) || is_nan(v)) {
      for (int k = 0; k < 4; ++k) x[k] = y[k] = 0, wx[k] = wy[k] = dx[k] = dy[k] = u + v;
      return;
    }
    u = u < T(-4) ? T(-4) : (u > uhi ? uhi : u);
    v = v < T(-4) ? T(-4) : (v > vhi ? vhi : v);
    const T fu = floor_of(u), fv = floor_of(v);
    catmull_rom(u - fu, wx);
    catmull_rom(v - fv, wy);
    if (derivatives) {
      catmull_rom_derivative(u - fu, dx);
      catmull_rom_derivative(v - fv, dy);
    }
    for (int k = 0; k < 4; ++k) {
      x[k] = clamp_index<I>(static_cast<I>(fu) - 1 + k, w);
      y[k] = clamp_index<I>(static_cast<I>(fv) - 1 + k, h);
    }
  }
  // The interpolated value of one channel plane `src` (row length w).
  TESSERA_HD T sample(const T* src, I w) const {
    T s = 0;
    for (int a = 0; a < 4; ++a) {
      const T* row = src + y[a] * w;
      s += wy[a] * (wx[0] * row[x[0]] + wx[1] * row[x[1]] + wx[2] * row[x[2]] + wx[3] * row[x[3]]);
    }
    return s;
  }
  // Its derivatives in the position (u, v); needs at(..., derivatives = true).
  TESSERA_HD void slope(const T* src, I w, T& su, T& sv) const {
    su = sv = 0;
    for (int a = 0; a < 4; ++a) {
      const T* row = src + y[a] * w;
      const T p0 = row[x[0]], p1 = row[x[1]], p2 = row[x[2]], p3 = row[x[3]];
      su += wy[a] * (dx[0] * p0 + dx[1] * p1 + dx[2] * p2 + dx[3] * p3);
      sv += dy[a] * (wx[0] * p0 + wx[1] * p1 + wx[2] * p2 + wx[3] * p3);
    }
  }
};

}  // namespace tessera::ops::warp_detail

// The CPU loops (cpu/warp_kernel.cpp, one build per instruction set), contiguous NCHW:
// forward: out = warp(image, flow); backward: grad_image (zeroed by the caller) and grad_flow.
TESSERA_CPU_KERNEL_DECL(void warp_forward_float(const float* image, const float* flow, float* out, int64_t n, int64_t c, int64_t h, int64_t w))
TESSERA_CPU_KERNEL_DECL(void warp_forward_double(const double* image, const double* flow, double* out, int64_t n, int64_t c, int64_t h, int64_t w))
TESSERA_CPU_KERNEL_DECL(void warp_backward_float(const float* grad, const float* image, const float* flow, float* grad_image, float* grad_flow,
                                                 int64_t n, int64_t c, int64_t h, int64_t w))
TESSERA_CPU_KERNEL_DECL(void warp_backward_double(const double* grad, const double* image, const double* flow, double* grad_image,
                                                  double* grad_flow, int64_t n, int64_t c, int64_t h, int64_t w))
