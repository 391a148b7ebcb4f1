// tessera::scale_add's CPU loops, compiled once per instruction set (see cpu_dispatch.h): one
// vectorised pass (at::vec, in float for bf16/fp16) split over threads by at::parallel_for.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include "../scale_add.h"

namespace tessera::ops::cpu::CPU_CAPABILITY {

namespace {

using scale_add_detail::Activation;
constexpr int64_t kGrain = 32768;

template <class T, Activation A>
void forward_loop(const T* x, const T* y, T* out, int64_t n, double beta, double slope) {
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
    at::vec::map2(
        [beta, slope](auto xv, auto yv) {
          using V = decltype(yv);
          using S = typename V::value_type;
          if constexpr (A == Activation::relu) yv = at::vec::maximum(yv, V(S(0)));
          if constexpr (A == Activation::leaky_relu) yv = V::blendv(yv * V(static_cast<S>(slope)), yv, yv > V(S(0)));
          return xv + yv * V(static_cast<S>(beta));
        },
        out + begin, x + begin, y + begin, end - begin);
  });
}

}  // namespace

void scale_add(at::ScalarType dtype, Activation a, const void* x, const void* y, void* out, int64_t n, double beta, double slope) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, dtype, "tessera::scale_add", [&] {
    auto* xp = static_cast<const scalar_t*>(x);
    auto* yp = static_cast<const scalar_t*>(y);
    auto* op = static_cast<scalar_t*>(out);
    switch (a) {
      case Activation::none: forward_loop<scalar_t, Activation::none>(xp, yp, op, n, beta, slope); break;
      case Activation::relu: forward_loop<scalar_t, Activation::relu>(xp, yp, op, n, beta, slope); break;
      case Activation::leaky_relu: forward_loop<scalar_t, Activation::leaky_relu>(xp, yp, op, n, beta, slope); break;
    }
  });
}

void scale_add_backward(at::ScalarType dtype, const void* grad, const void* y, void* dy, int64_t n, double beta, double negative_factor) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, dtype, "tessera::scale_add_backward", [&] {
    auto* gp = static_cast<const scalar_t*>(grad);
    auto* yp = static_cast<const scalar_t*>(y);
    auto* dp = static_cast<scalar_t*>(dy);
    at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
      at::vec::map2(
          [beta, negative_factor](auto gv, auto yv) {
            using V = decltype(yv);
            using S = typename V::value_type;
            const V pos(static_cast<S>(beta)), neg(static_cast<S>(beta * negative_factor));
            return gv * V::blendv(neg, pos, yv > V(S(0)));
          },
          dp + begin, gp + begin, yp + begin, end - begin);
    });
  });
}

}  // namespace tessera::ops::cpu::CPU_CAPABILITY
