// tessera::history_clamp's CPU loop, compiled once per instruction set (see cpu_dispatch.h): one
// task per output row of a sample; the current frame's YCoCg neighbourhood box of each pixel
// (replicated borders), the history pixel clamped into it, back to RGB.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "../history_clamp.h"

namespace tessera::ops::cpu::CPU_CAPABILITY {

namespace {

using namespace tessera::ops::history_clamp_detail;

template <class T>
void run(const T* history, const T* current, T* out, int64_t n, int64_t h, int64_t w, int64_t radius) {
  const int64_t plane = h * w;
  at::parallel_for(0, n * h, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> ycc(static_cast<size_t>(3 * (2 * radius + 1) * w));  // the rows around this one, in YCoCg
    for (int64_t r = begin; r < end; ++r) {
      const int64_t b = r / h, i = r % h;
      const T* cur = current + b * 3 * plane;
      for (int64_t dy = -radius; dy <= radius; ++dy) {
        const int64_t y = std::clamp<int64_t>(i + dy, 0, h - 1);
        T* row = ycc.data() + (dy + radius) * 3 * w;
        for (int64_t x = 0; x < w; ++x) to_ycocg(cur[y * w + x], cur[plane + y * w + x], cur[2 * plane + y * w + x], row + 3 * x);
      }
      const T* hist = history + b * 3 * plane;
      T* o = out + b * 3 * plane;
      for (int64_t j = 0; j < w; ++j) {
        T lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
        bool nan[3] = {false, false, false};  // a NaN in the box makes the result NaN, as max_pool2d does
        for (int64_t dy = 0; dy <= 2 * radius; ++dy)
          for (int64_t dx = -radius; dx <= radius; ++dx) {
            const T* p = ycc.data() + dy * 3 * w + 3 * std::clamp<int64_t>(j + dx, 0, w - 1);
            for (int k = 0; k < 3; ++k) lo[k] = std::min(lo[k], p[k]), hi[k] = std::max(hi[k], p[k]), nan[k] = nan[k] || std::isnan(p[k]);
          }
        T y[3], rgb[3];
        to_ycocg(hist[i * w + j], hist[plane + i * w + j], hist[2 * plane + i * w + j], y);
        for (int k = 0; k < 3; ++k) y[k] = nan[k] ? NAN : std::min(std::max(y[k], lo[k]), hi[k]);  // a NaN history stays NaN
        to_rgb(y, rgb);
        for (int k = 0; k < 3; ++k) o[k * plane + i * w + j] = rgb[k];
      }
    }
  });
}

}  // namespace

void history_clamp_float(const float* history, const float* current, float* out, int64_t n, int64_t h, int64_t w, int64_t radius) {
  run(history, current, out, n, h, w, radius);
}
void history_clamp_double(const double* history, const double* current, double* out, int64_t n, int64_t h, int64_t w, int64_t radius) {
  run(history, current, out, n, h, w, radius);
}

}  // namespace tessera::ops::cpu::CPU_CAPABILITY
