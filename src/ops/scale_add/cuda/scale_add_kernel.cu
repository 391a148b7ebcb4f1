// tessera::scale_add and its backward on CUDA: one elementwise pass in x's memory format, computed in float (or
// double), on the current stream.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../scale_add.h"

namespace tessera::ops {

namespace {

template <class T>
__global__ void scale_add_kernel(const T* __restrict__ x, const T* __restrict__ y, T* __restrict__ out, int64_t n,
                                 at::opmath_type<T> beta, at::opmath_type<T> negative_factor) {
  using Acc = at::opmath_type<T>;
  for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < n; k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    Acc v = static_cast<Acc>(y[k]);
    if (v <= Acc(0)) v *= negative_factor;
    out[k] = static_cast<T>(static_cast<Acc>(x[k]) + beta * v);
  }
}

template <class T>
__global__ void scale_add_backward_kernel(const T* __restrict__ g, const T* __restrict__ y, T* __restrict__ dy, int64_t n,
                                          at::opmath_type<T> pos, at::opmath_type<T> neg) {
  using Acc = at::opmath_type<T>;
  for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < n; k += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dy[k] = static_cast<T>(static_cast<Acc>(g[k]) * (static_cast<Acc>(y[k]) > Acc(0) ? pos : neg));
}

int blocks_for(int64_t n, int threads) { return static_cast<int>(std::min<int64_t>((n + threads - 1) / threads, 65535)); }

at::Tensor scale_add_backward_cuda(const at::Tensor& grad, const at::Tensor& y, double beta, double negative_factor) {
  const at::MemoryFormat fmt = scale_add_detail::check_inputs(grad, y);
  c10::cuda::CUDAGuard guard(grad.device());
  at::Tensor gc = grad.contiguous(fmt), yc = y.contiguous(fmt);
  at::Tensor dy = at::empty_like(gc, fmt);
  const int64_t n = dy.numel();
  if (n == 0) return dy;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, grad.scalar_type(), "tessera::scale_add_backward", [&] {
    using Acc = at::opmath_type<scalar_t>;
    scale_add_backward_kernel<scalar_t><<<blocks_for(n, 256), 256, 0, at::cuda::getCurrentCUDAStream()>>>(
        gc.const_data_ptr<scalar_t>(), yc.const_data_ptr<scalar_t>(), dy.mutable_data_ptr<scalar_t>(), n, static_cast<Acc>(beta),
        static_cast<Acc>(beta * negative_factor));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return dy;
}

at::Tensor scale_add_cuda(const at::Tensor& x, const at::Tensor& y, double beta, c10::string_view activation, double slope) {
  const auto a = scale_add_detail::parse_activation(activation);
  const at::MemoryFormat fmt = scale_add_detail::check_inputs(x, y);
  c10::cuda::CUDAGuard guard(x.device());
  at::Tensor xc = x.contiguous(fmt), yc = y.contiguous(fmt);
  at::Tensor out = at::empty_like(xc, fmt);
  const int64_t n = out.numel();
  if (n == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "tessera::scale_add", [&] {
    using Acc = at::opmath_type<scalar_t>;
    scale_add_kernel<scalar_t><<<blocks_for(n, 256), 256, 0, at::cuda::getCurrentCUDAStream()>>>(
        xc.const_data_ptr<scalar_t>(), yc.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), n, static_cast<Acc>(beta),
        static_cast<Acc>(scale_add_detail::negative_factor(a, slope)));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(tessera, CUDA, m) {
  m.impl("scale_add", &scale_add_cuda);
  m.impl("scale_add_backward", &scale_add_backward_cuda);
}

}  // namespace tessera::ops
