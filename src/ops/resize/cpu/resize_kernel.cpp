// tessera::imresize_bicubic's CPU loop, compiled once per instruction set (see cpu_dispatch.h):
// one task per output row: that row filtered along H (a vectorisable sum of whole input rows),
// then each output pixel gathered from it along W.
#include <ATen/Parallel.h>

#include <vector>

#include "../resize.h"

namespace tessera::ops::cpu::CPU_CAPABILITY {

void bicubic_resize(const double* x, float* out, int64_t planes, int64_t h, int64_t w, int64_t out_h, int64_t out_w, const int64_t* h_index,
                    const double* h_weight, int64_t h_taps, const int64_t* w_index, const double* w_weight, int64_t w_taps) {
  at::parallel_for(0, planes * out_h, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> row(static_cast<size_t>(w));
    for (int64_t r = begin; r < end; ++r) {
      const int64_t p = r / out_h, o = r % out_h;
      const double* xp = x + p * h * w;
      std::fill(row.begin(), row.end(), 0.0);
      for (int64_t t = 0; t < h_taps; ++t) {
        const double wt = h_weight[o * h_taps + t];
        if (wt == 0.0) continue;  // padding
        const double* src = xp + h_index[o * h_taps + t] * w;
        for (int64_t j = 0; j < w; ++j) row[j] += wt * src[j];
      }
      float* op = out + r * out_w;
      for (int64_t q = 0; q < out_w; ++q) {
        double s = 0;
        for (int64_t t = 0; t < w_taps; ++t) s += w_weight[q * w_taps + t] * row[w_index[q * w_taps + t]];
        op[q] = static_cast<float>(s);
      }
    }
  });
}

}  // namespace tessera::ops::cpu::CPU_CAPABILITY
