// The scale-add op's pieces shared by its kernels (private to src/ops/scale_add).
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/util/string_view.h>

#include "../cpu_dispatch.h"

namespace tessera::ops::scale_add_detail {

enum class Activation { none, relu, leaky_relu };
Activation parse_activation(c10::string_view name);

// f(y) = y * negative_factor for y <= 0: 1 for none, 0 for relu, the slope for leaky_relu.
inline double negative_factor(Activation a, double negative_slope) {
  return a == Activation::none ? 1.0 : a == Activation::relu ? 0.0 : negative_slope;
}

// Checks x and y (one shape, dtype and device, floating point) and returns the memory format the
// result takes (x's).
at::MemoryFormat check_inputs(const at::Tensor& x, const at::Tensor& y);

// tessera::scale_add_backward through the dispatcher (the autograd backward of scale_add).
at::Tensor backward(const at::Tensor& grad, const at::Tensor& y, double beta, double negative_factor);

}  // namespace tessera::ops::scale_add_detail

// The CPU loops over n contiguous elements of `dtype` (cpu/scale_add_kernel.cpp, one build per
// instruction set): out = x + beta * f(y), and the backward dy = g * beta * f'(y).
TESSERA_CPU_KERNEL_DECL(void scale_add(at::ScalarType dtype, ::tessera::ops::scale_add_detail::Activation a, const void* x,
                                       const void* y, void* out, int64_t n, double beta, double negative_slope))
TESSERA_CPU_KERNEL_DECL(void scale_add_backward(at::ScalarType dtype, const void* grad, const void* y, void* dy, int64_t n,
                                                double beta, double negative_factor))
