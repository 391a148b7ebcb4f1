// tessera::history_clamp on CUDA: one thread per pixel, the current frame's YCoCg box read from its
// (2 radius + 1)^2 neighbours (replicated borders), the history clamped into it; float or double
// arithmetic, on the current stream.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../../dtypes.h"

#include "../history_clamp.h"

namespace tessera::ops {

namespace {

using namespace history_clamp_detail;

template <class T>
__global__ void clamp_kernel(const T* __restrict__ history, const T* __restrict__ current, T* __restrict__ out, int64_t total, int h, int w,
                             int radius) {
  const int64_t plane = int64_t(h) * w;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < total; k += int64_t(gridDim.x) * blockDim.x) {
    const int j = int(k % w), i = int((k / w) % h);
    const int64_t b = k / plane, pix = int64_t(i) * w + j;
    const T* cur = current + b * 3 * plane;
    T lo[3] = {T(INFINITY), T(INFINITY), T(INFINITY)}, hi[3] = {T(-INFINITY), T(-INFINITY), T(-INFINITY)};
    bool nan[3] = {false, false, false};
    for (int dy = -radius; dy <= radius; ++dy) {
      const int y = min(max(i + dy, 0), h - 1);
      for (int dx = -radius; dx <= radius; ++dx) {
        const int x = min(max(j + dx, 0), w - 1);
        const int64_t q = int64_t(y) * w + x;
        T p[3];
        to_ycocg(cur[q], cur[plane + q], cur[2 * plane + q], p);
        for (int c = 0; c < 3; ++c) lo[c] = fmin(lo[c], p[c]), hi[c] = fmax(hi[c], p[c]), nan[c] = nan[c] || isnan(p[c]);
      }
    }
    const T* hist = history + b * 3 * plane;
    T yc[3], rgb[3];
    to_ycocg(hist[pix], hist[plane + pix], hist[2 * plane + pix], yc);
    for (int c = 0; c < 3; ++c) yc[c] = nan[c] || isnan(yc[c]) ? T(NAN) : fmin(fmax(yc[c], lo[c]), hi[c]);
    to_rgb(yc, rgb);
    T* o = out + b * 3 * plane;
    for (int c = 0; c < 3; ++c) o[c * plane + pix] = rgb[c];
  }
}

at::Tensor clamp_cuda(const at::Tensor& history, const at::Tensor& current, int64_t radius) {
  check_inputs(history, current, radius);
  c10::cuda::CUDAGuard guard(history.device());
  const auto kt = detail::float_or_double(history.scalar_type());
  at::Tensor hs = history.to(kt).contiguous(), cs = current.to(kt).contiguous();
  at::Tensor out = at::empty(hs.sizes(), hs.options());
  const int64_t total = hs.size(0) * hs.size(2) * hs.size(3);
  if (total > 0) {
    const int blocks = static_cast<int>(std::min<int64_t>((total + 255) / 256, 65535));
    auto stream = at::cuda::getCurrentCUDAStream();
    if (kt == at::kDouble)
      clamp_kernel<double><<<blocks, 256, 0, stream>>>(hs.const_data_ptr<double>(), cs.const_data_ptr<double>(), out.mutable_data_ptr<double>(),
                                                       total, int(hs.size(2)), int(hs.size(3)), int(radius));
    else
      clamp_kernel<float><<<blocks, 256, 0, stream>>>(hs.const_data_ptr<float>(), cs.const_data_ptr<float>(), out.mutable_data_ptr<float>(),
                                                      total, int(hs.size(2)), int(hs.size(3)), int(radius));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return out.to(history.scalar_type());
}

}  // namespace

TORCH_LIBRARY_IMPL(tessera, CUDA, m) { m.impl("history_clamp", &clamp_cuda); }

}  // namespace tessera::ops
