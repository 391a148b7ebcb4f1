// The Gram op's pieces shared by its CPU and CUDA kernels (private to src/ops/gram).
#pragma once
#include <ATen/core/Tensor.h>

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
