// tessera::gram on CPU: the upper triangle (panel_kernel.cpp for float32, else the blocks of
// gram.cpp), then one pass that scales it by 1 / (C * L) and mirrors it below the diagonal.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/library.h>

#include "../gram.h"
#include "tessera/ops/ops.h"

namespace tessera::ops {

namespace {

template <class T>
void mirror_scale(const T* u, T* out, int64_t n, int64_t c, double scale) {
  using Vec = at::vec::Vectorized<float>;
  const float s = static_cast<float>(scale);
  at::parallel_for(0, n * c, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t b = r / c, i = r % c;
      const T* ub = u + b * c * c;
      T* row = out + r * c;
      for (int64_t j = 0; j < i; ++j) row[j] = static_cast<T>(static_cast<float>(ub[j * c + i]) * s);  // mirrored column
      int64_t j = i;
      if constexpr (std::is_same_v<T, float>) {
        for (; j + Vec::size() <= c; j += Vec::size()) (Vec::loadu(ub + i * c + j) * Vec(s)).store(row + j);
      }
      for (; j < c; ++j) row[j] = static_cast<T>(static_cast<float>(ub[i * c + j]) * s);
    }
  });
}

template <>
void mirror_scale<double>(const double* u, double* out, int64_t n, int64_t c, double s) {
  at::parallel_for(0, n * c, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t b = r / c, i = r % c;
      const double* ub = u + b * c * c;
      for (int64_t j = 0; j < c; ++j) out[r * c + j] = (j < i ? ub[j * c + i] : ub[i * c + j]) * s;
    }
  });
}

// The upper triangle: float32 by the panel kernel where this machine's build has one, other
// dtypes (and the DEFAULT build) by the block recursion on mm.
at::Tensor upper_triangle_cpu(const at::Tensor& rows, int64_t panel) {
  const int64_t n = rows.size(0), c = rows.size(1), l = rows.size(2);
  if (rows.scalar_type() == at::kFloat && n > 0) {
    at::Tensor u = at::empty({n, c, c}, rows.options());
    if (TESSERA_CPU_KERNEL(gram_upper_f32)(rows.const_data_ptr<float>(), u.mutable_data_ptr<float>(), n, c, l, panel)) return u;
  }
  return gram_detail::upper_triangle(rows);
}

at::Tensor gram_with_panel(const at::Tensor& features, int64_t panel) {
  at::Tensor rows = gram_detail::as_rows(features);
  const int64_t n = rows.size(0), c = rows.size(1), l = rows.size(2);
  at::Tensor u = upper_triangle_cpu(rows, panel);
  at::Tensor out = at::empty_like(u);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, u.scalar_type(), "tessera::gram", [&] {
    mirror_scale<scalar_t>(u.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), n, c, 1.0 / static_cast<double>(c * l));
  });
  return out;
}

at::Tensor gram_cpu(const at::Tensor& features) { return gram_with_panel(features, 0); }

}  // namespace

at::Tensor testing::gram_cpu_panel(const at::Tensor& features, int64_t panel) {
  TORCH_CHECK(features.device().is_cpu(), "gram_cpu_panel: CPU features only");
  return gram_with_panel(features, panel);
}

TORCH_LIBRARY_IMPL(tessera, CPU, m) { m.impl("gram", &gram_cpu); }

}  // namespace tessera::ops
