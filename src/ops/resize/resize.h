// The MATLAB bicubic resize op's pieces shared by its kernels (private to src/ops/resize).
#pragma once
#include <ATen/core/Tensor.h>

#include "../cpu_dispatch.h"
#include "tessera/ops/ops.h"

namespace tessera::ops::resize_detail {

// Checks the input ([C, H, W] or [N, C, H, W], floating point) and the output size.
void check_inputs(const at::Tensor& x, int64_t out_h, int64_t out_w);

// Both dimensions' taps as CPU tensors: index int64 [out, taps] and weight float64 [out, taps].
struct Tables {
  at::Tensor h_index, h_weight, w_index, w_weight;
};
Tables tables(int64_t h, int64_t w, int64_t out_h, int64_t out_w, double scale_h, double scale_w, bool antialias);

}  // namespace tessera::ops::resize_detail

// The CPU loops (cpu/resize_kernel.cpp, one build per instruction set): planes of float64 `x`
// [planes, h, w] resized to float32 `out` [planes, out_h, out_w] by rows (along H) then columns.
TESSERA_CPU_KERNEL_DECL(void bicubic_resize(const double* x, float* out, int64_t planes, int64_t h, int64_t w, int64_t out_h, int64_t out_w,
                                            const int64_t* h_index, const double* h_weight, int64_t h_taps, const int64_t* w_index,
                                            const double* w_weight, int64_t w_taps))
