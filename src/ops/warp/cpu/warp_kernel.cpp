// tessera::warp_catmull_rom's CPU loops, compiled once per instruction set (see cpu_dispatch.h).
// Forward: one task per output row of a sample, the 4 x 4 taps' weights computed once per pixel
// and applied to every channel. Backward: grad_flow per pixel (the channel sum, by rows), then
// grad_image scattered one (sample, channel) plane per task, so no two tasks write one element.
#include <ATen/Parallel.h>

#include <cmath>
#include <limits>

#include "../warp.h"

namespace tessera::ops::cpu::CPU_CAPABILITY {

namespace {

using namespace tessera::ops::warp_detail;

template <class T>
struct Taps {
  int64_t x[4], y[4];
  T wx[4], wy[4], dx[4], dy[4];
  void at(T u, T v, int64_t h, int64_t w, bool derivatives) {
    if (std::isnan(u) || std::isnan(v)) {  // a NaN flow gives a NaN output, as the composite does
      for (int k = 0; k < 4; ++k) x[k] = y[k] = 0, wx[k] = wy[k] = dx[k] = dy[k] = std::numeric_limits<T>::quiet_NaN();
      return;
    }
    const T fx = std::floor(u), fy = std::floor(v);
    const int64_t ix = static_cast<int64_t>(fx), iy = static_cast<int64_t>(fy);
    catmull_rom(u - fx, wx);
    catmull_rom(v - fy, wy);
    if (derivatives) {
      catmull_rom_derivative(u - fx, dx);
      catmull_rom_derivative(v - fy, dy);
    }
    for (int k = 0; k < 4; ++k) {
      x[k] = clamp_index<int64_t>(ix - 1 + k, w);
      y[k] = clamp_index<int64_t>(iy - 1 + k, h);
    }
  }
};

// The sample position of output pixel (i, j) in index space (pixel centres at integers), with
// positions far outside the image pulled in (their taps are all border pixels anyway).
template <class T>
void position(const T* flow, int64_t plane, int64_t i, int64_t j, int64_t h, int64_t w, T& u, T& v) {
  u = static_cast<T>(j) + flow[i * w + j];
  v = static_cast<T>(i) + flow[plane + i * w + j];
  u = std::min(std::max(u, T(-4)), static_cast<T>(w + 3));
  v = std::min(std::max(v, T(-4)), static_cast<T>(h + 3));
}

template <class T>
void forward(const T* image, const T* flow, T* out, int64_t n, int64_t c, int64_t h, int64_t w) {
  const int64_t plane = h * w;
  at::parallel_for(0, n * h, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t b = r / h, i = r % h;
      const T* fl = flow + b * 2 * plane;
      for (int64_t j = 0; j < w; ++j) {
        T u, v;
        position(fl, plane, i, j, h, w, u, v);
        Taps<T> t;
        t.at(u, v, h, w, false);
        for (int64_t ch = 0; ch < c; ++ch) {
          const T* src = image + (b * c + ch) * plane;
          T s = 0;
          for (int a = 0; a < 4; ++a) {
            const T* row = src + t.y[a] * w;
            s += t.wy[a] * (t.wx[0] * row[t.x[0]] + t.wx[1] * row[t.x[1]] + t.wx[2] * row[t.x[2]] + t.wx[3] * row[t.x[3]]);
          }
          out[(b * c + ch) * plane + i * w + j] = s;
        }
      }
    }
  });
}

template <class T>
void backward(const T* grad, const T* image, const T* flow, T* grad_image, T* grad_flow, int64_t n, int64_t c, int64_t h, int64_t w) {
  const int64_t plane = h * w;
  // A position clamped by position() does not move with the flow: its derivative is zero there.
  auto moves = [](T p, T lo, T hi) { return p >= lo && p <= hi; };
  at::parallel_for(0, n * h, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t b = r / h, i = r % h;
      const T* fl = flow + b * 2 * plane;
      for (int64_t j = 0; j < w; ++j) {
        T u, v;
        position(fl, plane, i, j, h, w, u, v);
        Taps<T> t;
        t.at(u, v, h, w, true);
        T gu = 0, gv = 0;
        for (int64_t ch = 0; ch < c; ++ch) {
          const T g = grad[(b * c + ch) * plane + i * w + j];
          if (g == T(0)) continue;
          const T* src = image + (b * c + ch) * plane;
          T su = 0, sv = 0;
          for (int a = 0; a < 4; ++a) {
            const T* row = src + t.y[a] * w;
            const T p0 = row[t.x[0]], p1 = row[t.x[1]], p2 = row[t.x[2]], p3 = row[t.x[3]];
            su += t.wy[a] * (t.dx[0] * p0 + t.dx[1] * p1 + t.dx[2] * p2 + t.dx[3] * p3);
            sv += t.dy[a] * (t.wx[0] * p0 + t.wx[1] * p1 + t.wx[2] * p2 + t.wx[3] * p3);
          }
          gu += g * su;
          gv += g * sv;
        }
        const T raw_u = static_cast<T>(j) + fl[i * w + j], raw_v = static_cast<T>(i) + fl[plane + i * w + j];
        grad_flow[b * 2 * plane + i * w + j] = moves(raw_u, T(-4), static_cast<T>(w + 3)) ? gu : T(0);
        grad_flow[b * 2 * plane + plane + i * w + j] = moves(raw_v, T(-4), static_cast<T>(h + 3)) ? gv : T(0);
      }
    }
  });
  at::parallel_for(0, n * c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const int64_t b = p / c;
      const T* fl = flow + b * 2 * plane;
      const T* g = grad + p * plane;
      T* gi = grad_image + p * plane;
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j) {
          const T gv = g[i * w + j];
          if (gv == T(0)) continue;
          T u, v;
          position(fl, plane, i, j, h, w, u, v);
          Taps<T> t;
          t.at(u, v, h, w, false);
          for (int a = 0; a < 4; ++a)
            for (int k = 0; k < 4; ++k) gi[t.y[a] * w + t.x[k]] += gv * t.wy[a] * t.wx[k];
        }
    }
  });
}

}  // namespace

void warp_forward_float(const float* image, const float* flow, float* out, int64_t n, int64_t c, int64_t h, int64_t w) {
  forward(image, flow, out, n, c, h, w);
}
void warp_forward_double(const double* image, const double* flow, double* out, int64_t n, int64_t c, int64_t h, int64_t w) {
  forward(image, flow, out, n, c, h, w);
}
void warp_backward_float(const float* grad, const float* image, const float* flow, float* grad_image, float* grad_flow, int64_t n, int64_t c,
                         int64_t h, int64_t w) {
  backward(grad, image, flow, grad_image, grad_flow, n, c, h, w);
}
void warp_backward_double(const double* grad, const double* image, const double* flow, double* grad_image, double* grad_flow, int64_t n,
                          int64_t c, int64_t h, int64_t w) {
  backward(grad, image, flow, grad_image, grad_flow, n, c, h, w);
}

}  // namespace tessera::ops::cpu::CPU_CAPABILITY
