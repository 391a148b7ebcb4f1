// The Gram op's pieces shared by its CPU and CUDA kernels (private to src/ops/gram).
#pragma once
#include <ATen/core/Tensor.h>

#include "../cpu_dispatch.h"

namespace tessera::ops::gram_detail {

// Checks `features` ([N, C, H, W] or [N, C, L], floating point, C and L positive) and returns them
// as a contiguous [N, C, L] tensor.
at::Tensor as_rows(const at::Tensor& features);

// The upper triangle (diagonal included) of X X^T for X [N, C, L], as [N, C, C]; below the
// diagonal is undefined. Block-recursive: the two diagonal halves recurse, the off-diagonal block
// is one matrix multiply, so (1 + 2^-k) / 2 of bmm's multiply-adds after k levels. Device-generic
// (ATen's mm on the current stream).
at::Tensor upper_triangle(const at::Tensor& rows);

}  // namespace tessera::ops::gram_detail

// The float32 CPU kernel (cpu/panel_kernel.cpp, one build per instruction set): writes the upper
// triangle (diagonal included; below it is undefined) of x[b] x[b]^T for x [n, c, l] contiguous
// into u [n, c, c] by panels of `panel` rows (0: the vector width; 8 or 16; another width only
// for tests). False, with u untouched, where the build has no such kernel (DEFAULT) or the width
// is not one it has.
TESSERA_CPU_KERNEL_DECL(bool gram_upper_f32(const float* x, float* u, int64_t n, int64_t c, int64_t l, int64_t panel))
