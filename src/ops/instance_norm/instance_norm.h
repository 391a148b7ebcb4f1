// The fused instance norm + activation op's pieces shared by its kernels (private to src/ops/instance_norm).
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/util/string_view.h>

#include <tuple>

#include "../cpu_dispatch.h"
#include "../scale_add/scale_add.h"  // Activation, parse and negative_factor

namespace tessera::ops::instance_norm_detail {

using scale_add_detail::Activation;

// What the kernels need to know of an input: [N, C, M] planes, laid out NCHW (planes contiguous)
// or channels-last (channels contiguous, 4-D inputs only).
struct Layout {
  int64_t n = 0, c = 0, m = 0;
  bool channels_last = false;
  at::MemoryFormat format() const { return channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous; }
};
// Checks x ([N, C, ...], floating point, more than one value per plane), weight and bias (both or
// neither, [C], on x's device) and returns x's layout.
Layout check_inputs(const at::Tensor& x, const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias);

// The affine parameters as contiguous float (double for double inputs) [C] tensors; ones and
// zeros when there are none.
std::pair<at::Tensor, at::Tensor> affine_of(const at::Tensor& x, const c10::optional<at::Tensor>& weight,
                                            const c10::optional<at::Tensor>& bias, int64_t c);

// The composite the op is tested against, and the backward for double backward (differentiable).
at::Tensor composite(const at::Tensor& x, const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias, double eps,
                     Activation a, double negative_slope);

// Dispatcher calls (the autograd kernel's forward and backward).
std::tuple<at::Tensor, at::Tensor, at::Tensor> forward_with_stats(const at::Tensor& x, const c10::optional<at::Tensor>& weight,
                                                                  const c10::optional<at::Tensor>& bias, double eps,
                                                                  c10::string_view activation, double negative_slope);
std::tuple<at::Tensor, at::Tensor, at::Tensor> backward(const at::Tensor& grad_out, const at::Tensor& out, const at::Tensor& x,
                                                        const at::Tensor& mean, const at::Tensor& rstd, const c10::optional<at::Tensor>& weight,
                                                        c10::string_view activation, double negative_slope);

}  // namespace tessera::ops::instance_norm_detail

// The CPU loops (cpu/instance_norm_kernel.cpp, one build per instruction set). Pointers are to
// contiguous data in `layout`; w, b, mean, rstd, dw, db are of the accumulation type (float, or
// double for double); mean/rstd are [N, C]; dw/db_per_n are [N, C] partial sums over each sample.
TESSERA_CPU_KERNEL_DECL(void instance_norm_forward(at::ScalarType dtype, const ::tessera::ops::instance_norm_detail::Layout& layout,
                                                   const void* x, const void* w, const void* b, void* out, void* mean, void* rstd,
                                                   double eps, double negative_factor, bool activate))
TESSERA_CPU_KERNEL_DECL(void instance_norm_backward(at::ScalarType dtype, const ::tessera::ops::instance_norm_detail::Layout& layout,
                                                    const void* grad_out, const void* out, const void* x, const void* mean, const void* rstd,
                                                    const void* w, void* dx, void* dw_per_n, void* db_per_n, double negative_factor,
                                                    bool activate))
