// tessera::warp_catmull_rom's CPU loops, compiled once per instruction set (see cpu_dispatch.h).
// Forward: one task per output row of a sample, the 4 x 4 taps' weights computed once per pixel
// and applied to every channel. Backward: grad_flow per pixel (the channel sum, by rows), then
// grad_image scattered one (sample, channel) plane per task, so no two tasks write one element.
#include <ATen/Parallel.h>

#include "../warp.h"

namespace tessera::ops::cpu::CPU_CAPABILITY {

namespace {

using namespace tessera::ops::warp_detail;

// fn(b, i, j, taps) for every output pixel, one task per output row of a sample.
template <class T, class Fn>
void each_pixel(const T* flow, int64_t n, int64_t h, int64_t w, bool derivatives, const Fn& fn) {
  const int64_t plane = h * w;
  at::parallel_for(0, n * h, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t b = r / h, i = r % h;
      for (int64_t j = 0; j < w; ++j) {
        Taps<T, int64_t> t;
        t.at(flow + b * 2 * plane, plane, i, j, h, w, derivatives);
        fn(b, i, j, t);
      }
    }
  });
}

template <class T>
void forward(const T* image, const T* flow, T* out, int64_t n, int64_t c, int64_t h, int64_t w) {
  const int64_t plane = h * w;
  each_pixel(flow, n, h, w, false, [&](int64_t b, int64_t i, int64_t j, const Taps<T, int64_t>& t) {
    for (int64_t ch = 0; ch < c; ++ch) out[(b * c + ch) * plane + i * w + j] = t.sample(image + (b * c + ch) * plane, w);
  });
}

template <class T>
void backward(const T* grad, const T* image, const T* flow, T* grad_image, T* grad_flow, int64_t n, int64_t c, int64_t h, int64_t w) {
  const int64_t plane = h * w;
  each_pixel(flow, n, h, w, true, [&](int64_t b, int64_t i, int64_t j, const Taps<T, int64_t>& t) {
    T gu = 0, gv = 0;
    for (int64_t ch = 0; ch < c; ++ch) {
      const T g = grad[(b * c + ch) * plane + i * w + j];
      if (g == T(0)) continue;
      T su, sv;
      t.slope(image + (b * c + ch) * plane, w, su, sv);
      gu += g * su;
      gv += g * sv;
    }
    grad_flow[b * 2 * plane + i * w + j] = t.moves_u ? gu : T(0);
    grad_flow[b * 2 * plane + plane + i * w + j] = t.moves_v ? gv : T(0);
  });
  at::parallel_for(0, n * c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const int64_t b = p / c;
      const T* g = grad + p * plane;
      T* gi = grad_image + p * plane;
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j) {
          const T gv = g[i * w + j];
          if (gv == T(0)) continue;
          Taps<T, int64_t> t;
          t.at(flow + b * 2 * plane, plane, i, j, h, w, false);
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
