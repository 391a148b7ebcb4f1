// tessera::warp_catmull_rom on CUDA: one thread per output pixel, its 4 x 4 taps' weights computed
// once and applied to every channel; the backward accumulates grad_flow in the thread and scatters
// grad_image with atomicAdd. float or double arithmetic (other dtypes go through float), on the
// current stream.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../../dtypes.h"

#include "../warp.h"

namespace tessera::ops {

namespace {

using namespace warp_detail;

template <class T>
__global__ void warp_forward_kernel(const T* __restrict__ image, const T* __restrict__ flow, T* __restrict__ out, int64_t total, int c, int h,
                                    int w) {
  const int64_t plane = int64_t(h) * w;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < total; k += int64_t(gridDim.x) * blockDim.x) {
    const int j = int(k % w), i = int((k / w) % h);
    const int64_t b = k / plane;
    Taps<T, int64_t> t;
    t.at(flow + b * 2 * plane, plane, i, j, h, w, false);
    for (int ch = 0; ch < c; ++ch) out[(b * c + ch) * plane + int64_t(i) * w + j] = t.sample(image + (b * c + ch) * plane, w);
  }
}

template <class T>
__global__ void warp_backward_kernel(const T* __restrict__ grad, const T* __restrict__ image, const T* __restrict__ flow, T* __restrict__ grad_image,
                                     T* __restrict__ grad_flow, int64_t total, int c, int h, int w) {
  const int64_t plane = int64_t(h) * w;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < total; k += int64_t(gridDim.x) * blockDim.x) {
    const int j = int(k % w), i = int((k / w) % h);
    const int64_t b = k / plane, pix = int64_t(i) * w + j;
    Taps<T, int64_t> t;
    t.at(flow + b * 2 * plane, plane, i, j, h, w, true);
    T gu = 0, gv = 0;
    for (int ch = 0; ch < c; ++ch) {
      const T g = grad[(b * c + ch) * plane + pix];
      if (g == T(0)) continue;
      T su, sv;
      t.slope(image + (b * c + ch) * plane, w, su, sv);
      T* gi = grad_image + (b * c + ch) * plane;
      for (int a = 0; a < 4; ++a)
        for (int q = 0; q < 4; ++q) atomicAdd(gi + t.y[a] * w + t.x[q], g * t.wy[a] * t.wx[q]);
      gu += g * su;
      gv += g * sv;
    }
    grad_flow[b * 2 * plane + pix] = t.moves_u ? gu : T(0);
    grad_flow[b * 2 * plane + plane + pix] = t.moves_v ? gv : T(0);
  }
}

int blocks_for(int64_t total) { return static_cast<int>(std::min<int64_t>((total + 255) / 256, 65535)); }

at::Tensor warp_cuda(const at::Tensor& image, const at::Tensor& flow) {
  check_inputs(image, flow);
  c10::cuda::CUDAGuard guard(image.device());
  const auto kt = detail::float_or_double(image.scalar_type());
  at::Tensor x = image.to(kt).contiguous(), f = flow.to(kt).contiguous();
  at::Tensor out = at::empty(x.sizes(), x.options());
  const int64_t total = x.size(0) * x.size(2) * x.size(3);
  if (total == 0 || x.size(1) == 0) return out.to(image.scalar_type());
  auto stream = at::cuda::getCurrentCUDAStream();
  const int c = int(x.size(1)), h = int(x.size(2)), w = int(x.size(3));
  if (kt == at::kDouble)
    warp_forward_kernel<double><<<blocks_for(total), 256, 0, stream>>>(x.const_data_ptr<double>(), f.const_data_ptr<double>(),
                                                                        out.mutable_data_ptr<double>(), total, c, h, w);
  else
    warp_forward_kernel<float><<<blocks_for(total), 256, 0, stream>>>(x.const_data_ptr<float>(), f.const_data_ptr<float>(),
                                                                       out.mutable_data_ptr<float>(), total, c, h, w);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out.to(image.scalar_type());
}

std::tuple<at::Tensor, at::Tensor> warp_backward_cuda(const at::Tensor& grad, const at::Tensor& image, const at::Tensor& flow) {
  check_inputs(image, flow);
  c10::cuda::CUDAGuard guard(image.device());
  const auto kt = detail::float_or_double(image.scalar_type());
  at::Tensor g = grad.to(kt).contiguous(), x = image.to(kt).contiguous(), f = flow.to(kt).contiguous();
  at::Tensor gi = at::zeros(x.sizes(), x.options()), gf = at::zeros(f.sizes(), f.options());
  const int64_t total = x.size(0) * x.size(2) * x.size(3);
  if (total > 0) {
    auto stream = at::cuda::getCurrentCUDAStream();
    const int c = int(x.size(1)), h = int(x.size(2)), w = int(x.size(3));
    if (kt == at::kDouble)
      warp_backward_kernel<double><<<blocks_for(total), 256, 0, stream>>>(g.const_data_ptr<double>(), x.const_data_ptr<double>(),
                                                                           f.const_data_ptr<double>(), gi.mutable_data_ptr<double>(),
                                                                           gf.mutable_data_ptr<double>(), total, c, h, w);
    else
      warp_backward_kernel<float><<<blocks_for(total), 256, 0, stream>>>(g.const_data_ptr<float>(), x.const_data_ptr<float>(),
                                                                          f.const_data_ptr<float>(), gi.mutable_data_ptr<float>(),
                                                                          gf.mutable_data_ptr<float>(), total, c, h, w);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return {gi.to(image.scalar_type()), gf.to(flow.scalar_type())};
}

}  // namespace

TORCH_LIBRARY_IMPL(tessera, CUDA, m) {
  m.impl("warp_catmull_rom", &warp_cuda);
  m.impl("warp_catmull_rom_backward", &warp_backward_cuda);
}

}  // namespace tessera::ops
