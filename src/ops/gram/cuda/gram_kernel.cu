// tessera::gram on CUDA: the upper triangle by blocks (gram.cpp, cuBLAS through ATen on the
// current stream), then one kernel that scales it by 1 / (C * L) and mirrors it below the diagonal.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../gram.h"

namespace tessera::ops {

namespace {

template <class T>
__global__ void mirror_scale_kernel(const T* __restrict__ u, T* __restrict__ out, int64_t total, int64_t c, float scale) {
  using Acc = at::opmath_type<T>;
  for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < total; k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = k / (c * c), i = (k / c) % c, j = k % c;
    const int64_t lo = i < j ? i : j, hi = i < j ? j : i;
    out[k] = static_cast<T>(static_cast<Acc>(u[b * c * c + lo * c + hi]) * static_cast<Acc>(scale));
  }
}

at::Tensor gram_cuda(const at::Tensor& features) {
  c10::cuda::CUDAGuard guard(features.device());
  at::Tensor rows = gram_detail::as_rows(features);
  const int64_t n = rows.size(0), c = rows.size(1), l = rows.size(2);
  at::Tensor u = gram_detail::upper_triangle(rows);
  at::Tensor out = at::empty_like(u);
  const int64_t total = out.numel();
  if (total == 0) return out;
  const int threads = 256;
  const int blocks = static_cast<int>(std::min<int64_t>((total + threads - 1) / threads, 65535));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, u.scalar_type(), "tessera::gram", [&] {
    mirror_scale_kernel<scalar_t><<<blocks, threads, 0, at::cuda::getCurrentCUDAStream()>>>(
        u.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), total, c, static_cast<float>(1.0 / static_cast<double>(c * l)));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(tessera, CUDA, m) { m.impl("gram", &gram_cuda); }

}  // namespace tessera::ops
