// tessera::imresize_bicubic on CUDA: one thread per output pixel, the H taps inside the W taps, in
// float64, on the current stream.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../resize.h"

namespace tessera::ops {

namespace {

__global__ void resize_kernel(const double* __restrict__ x, float* __restrict__ out, int64_t total, int64_t h, int64_t w, int64_t out_h,
                              int64_t out_w, const int64_t* __restrict__ hi, const double* __restrict__ hw, int64_t ht,
                              const int64_t* __restrict__ wi, const double* __restrict__ ww, int64_t wt) {
  for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < total; k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t q = k % out_w, o = (k / out_w) % out_h, p = k / (out_w * out_h);
    const double* xp = x + p * h * w;
    double s = 0;
    for (int64_t b = 0; b < wt; ++b) {
      const double wq = ww[q * wt + b];
      if (wq == 0.0) continue;
      double col = 0;
      for (int64_t a = 0; a < ht; ++a) col += hw[o * ht + a] * xp[hi[o * ht + a] * w + wi[q * wt + b]];
      s += wq * col;
    }
    out[k] = static_cast<float>(s);
  }
}

at::Tensor resize_cuda(const at::Tensor& x, c10::SymIntArrayRef size, c10::ArrayRef<double> scale, bool antialias) {
  TORCH_CHECK(size.size() == 2 && scale.size() == 2, "tessera::imresize_bicubic: size and scale take two values (H, W)");
  const int64_t out_h = size[0].expect_int(), out_w = size[1].expect_int();
  resize_detail::check_inputs(x, out_h, out_w);
  c10::cuda::CUDAGuard guard(x.device());
  const int64_t h = x.size(-2), w = x.size(-1), planes = x.numel() / (h * w);
  at::Tensor xd = x.to(at::kDouble).contiguous();
  std::vector<int64_t> shape = x.sizes().vec();
  shape[shape.size() - 2] = out_h, shape.back() = out_w;
  at::Tensor out = at::empty(shape, x.options().dtype(at::kFloat));
  auto t = resize_detail::tables(h, w, out_h, out_w, scale[0], scale[1], antialias);
  at::Tensor hi = t.h_index.to(x.device()), hw = t.h_weight.to(x.device()), wi = t.w_index.to(x.device()), ww = t.w_weight.to(x.device());
  const int64_t total = out.numel();
  const int blocks = static_cast<int>(std::min<int64_t>((total + 255) / 256, 65535));
  resize_kernel<<<blocks, 256, 0, at::cuda::getCurrentCUDAStream()>>>(xd.const_data_ptr<double>(), out.mutable_data_ptr<float>(), total, h, w,
                                                                     out_h, out_w, hi.const_data_ptr<int64_t>(), hw.const_data_ptr<double>(),
                                                                     hi.size(1), wi.const_data_ptr<int64_t>(), ww.const_data_ptr<double>(), wi.size(1));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  (void)planes;
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(tessera, CUDA, m) { m.impl("imresize_bicubic", &resize_cuda); }

}  // namespace tessera::ops
