// tessera::instance_norm_act on CUDA: one block per (sample, channel) plane, block reductions in
// float (double for double), NCHW or channels-last addressing, on the current stream.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../instance_norm.h"

namespace tessera::ops {

namespace {

using namespace instance_norm_detail;
constexpr int kThreads = 256;

// Element i of plane (n, c): NCHW planes are contiguous; channels-last strides by C.
struct Index {
  int64_t c, m;
  bool cl;
  __device__ int64_t operator()(int64_t n, int64_t ch, int64_t i) const { return cl ? (n * m + i) * c + ch : (n * c + ch) * m + i; }
};

template <class A>
__device__ A block_sum(A v, A* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  A r = shared[0];
  __syncthreads();
  return r;
}

template <class T>
__global__ void forward_kernel(const T* __restrict__ x, const at::opmath_type<T>* __restrict__ w, const at::opmath_type<T>* __restrict__ b,
                               T* __restrict__ out, at::opmath_type<T>* __restrict__ mean, at::opmath_type<T>* __restrict__ rstd, Index ix,
                               double eps, at::opmath_type<T> neg, bool act) {
  using A = at::opmath_type<T>;
  __shared__ A shared[kThreads];
  const int64_t p = blockIdx.x, n = p / ix.c, c = p % ix.c, m = ix.m;
  A s = 0;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) s += static_cast<A>(x[ix(n, c, i)]);
  const A mu = block_sum(s, shared) / static_cast<A>(m);
  A ss = 0;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    const A d = static_cast<A>(x[ix(n, c, i)]) - mu;
    ss += d * d;
  }
  const A rs = A(1) / sqrt(block_sum(ss, shared) / static_cast<A>(m) + static_cast<A>(eps));
  if (threadIdx.x == 0) mean[p] = mu, rstd[p] = rs;
  const A scale = rs * w[c], shift = b[c] - mu * scale;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    const int64_t k = ix(n, c, i);
    A z = static_cast<A>(x[k]) * scale + shift;
    if (act && !(z > A(0))) z *= neg;
    out[k] = static_cast<T>(z);
  }
}

template <class T>
__global__ void backward_kernel(const T* __restrict__ g, const T* __restrict__ y, const T* __restrict__ x, const at::opmath_type<T>* __restrict__ mean,
                                const at::opmath_type<T>* __restrict__ rstd, const at::opmath_type<T>* __restrict__ w, T* __restrict__ dx,
                                at::opmath_type<T>* __restrict__ dw_n, at::opmath_type<T>* __restrict__ db_n, Index ix, at::opmath_type<T> neg,
                                bool act) {
  using A = at::opmath_type<T>;
  __shared__ A shared[kThreads];
  const int64_t p = blockIdx.x, n = p / ix.c, c = p % ix.c, m = ix.m;
  const A mu = mean[p], rs = rstd[p];
  auto dz_at = [&](int64_t k) {
    const A d = static_cast<A>(g[k]);
    return act && !(static_cast<A>(y[k]) > A(0)) ? d * neg : d;
  };
  A s1 = 0, s2 = 0;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    const int64_t k = ix(n, c, i);
    const A dz = dz_at(k);
    s1 += dz;
    s2 += dz * (static_cast<A>(x[k]) - mu) * rs;
  }
  const A sdz = block_sum(s1, shared), sdzx = block_sum(s2, shared);
  if (threadIdx.x == 0) dw_n[p] = sdzx, db_n[p] = sdz;
  const A k1 = rs * w[c], k2 = sdz / static_cast<A>(m), k3 = sdzx / static_cast<A>(m);
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    const int64_t k = ix(n, c, i);
    dx[k] = static_cast<T>(k1 * (dz_at(k) - k2 - (static_cast<A>(x[k]) - mu) * rs * k3));
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> stats_cuda(const at::Tensor& x, const c10::optional<at::Tensor>& weight,
                                                          const c10::optional<at::Tensor>& bias, double eps, c10::string_view activation,
                                                          double slope) {
  const auto a = scale_add_detail::parse_activation(activation);
  const Layout l = check_inputs(x, weight, bias);
  c10::cuda::CUDAGuard guard(x.device());
  at::Tensor xc = x.contiguous(l.format());
  auto [w, b] = affine_of(x, weight, bias, l.c);
  at::Tensor out = at::empty_like(xc, l.format());
  at::Tensor mean = at::empty({l.n, l.c}, w.options()), rstd = at::empty({l.n, l.c}, w.options());
  if (out.numel() == 0) return {out, mean, rstd};
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "tessera::instance_norm_act", [&] {
    using A = at::opmath_type<scalar_t>;
    forward_kernel<scalar_t><<<static_cast<unsigned>(l.n * l.c), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        xc.const_data_ptr<scalar_t>(), w.const_data_ptr<A>(), b.const_data_ptr<A>(), out.mutable_data_ptr<scalar_t>(), mean.mutable_data_ptr<A>(),
        rstd.mutable_data_ptr<A>(), Index{l.c, l.m, l.channels_last}, eps, static_cast<A>(scale_add_detail::negative_factor(a, slope)),
        a != scale_add_detail::Activation::none);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {out, mean, rstd};
}

at::Tensor forward_cuda(const at::Tensor& x, const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias, double eps,
                        c10::string_view activation, double slope) {
  return std::get<0>(stats_cuda(x, weight, bias, eps, activation, slope));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cuda(const at::Tensor& grad_out, const at::Tensor& out, const at::Tensor& x,
                                                             const at::Tensor& mean, const at::Tensor& rstd,
                                                             const c10::optional<at::Tensor>& weight, c10::string_view activation, double slope) {
  const auto a = scale_add_detail::parse_activation(activation);
  const Layout l = check_inputs(x, weight, weight);
  c10::cuda::CUDAGuard guard(x.device());
  at::Tensor xc = x.contiguous(l.format()), gc = grad_out.to(x.scalar_type()).contiguous(l.format()), yc = out.contiguous(l.format());
  auto [w, b] = affine_of(x, weight, weight, l.c);
  at::Tensor dx = at::empty_like(xc, l.format());
  at::Tensor dw_n = at::zeros({l.n, l.c}, w.options()), db_n = at::zeros({l.n, l.c}, w.options());
  if (dx.numel() > 0) {
    at::Tensor mc = mean.contiguous(), rc = rstd.contiguous();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "tessera::instance_norm_act_backward", [&] {
      using A = at::opmath_type<scalar_t>;
      backward_kernel<scalar_t><<<static_cast<unsigned>(l.n * l.c), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
          gc.const_data_ptr<scalar_t>(), yc.const_data_ptr<scalar_t>(), xc.const_data_ptr<scalar_t>(), mc.const_data_ptr<A>(),
          rc.const_data_ptr<A>(), w.const_data_ptr<A>(), dx.mutable_data_ptr<scalar_t>(), dw_n.mutable_data_ptr<A>(), db_n.mutable_data_ptr<A>(),
          Index{l.c, l.m, l.channels_last}, static_cast<A>(scale_add_detail::negative_factor(a, slope)), a != scale_add_detail::Activation::none);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  }
  const auto wt = weight.has_value() && weight->defined() ? weight->scalar_type() : w.scalar_type();
  return {dx, dw_n.sum(0).to(wt), db_n.sum(0).to(wt)};
}

}  // namespace

TORCH_LIBRARY_IMPL(tessera, CUDA, m) {
  m.impl("instance_norm_act", &forward_cuda);
  m.impl("instance_norm_act_stats", &stats_cuda);
  m.impl("instance_norm_act_backward", &backward_cuda);
}

}  // namespace tessera::ops
