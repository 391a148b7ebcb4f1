// The arithmetic dtype of ops whose kernels exist for float and double only (private to src/ops):
// double stays double, every other floating dtype (bf16, fp16, float) is computed in float.
#pragma once
#include <ATen/core/Tensor.h>

namespace tessera::ops::detail {

inline at::ScalarType float_or_double(at::ScalarType t) { return t == at::kDouble ? at::kDouble : at::kFloat; }
inline at::Tensor to_float_or_double(const at::Tensor& t) { return t.scalar_type() == at::kDouble ? t : t.to(at::kFloat); }

}  // namespace tessera::ops::detail
