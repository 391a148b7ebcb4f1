// tessera::gram: schema, dispatcher wrapper, composite reference, Meta kernel, autocast rule and the
// block decomposition its CPU and CUDA kernels share.
#include "gram.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include "../autocast.h"
#include "tessera/ops/ops.h"

namespace tessera::ops {

namespace gram_detail {

at::Tensor as_rows(const at::Tensor& f) {
  TORCH_CHECK(f.dim() == 3 || f.dim() == 4, "tessera::gram: expected features [N, C, H, W] or [N, C, L], got ", f.sizes());
  TORCH_CHECK(at::isFloatingType(f.scalar_type()), "tessera::gram: expected floating-point features, got ", f.scalar_type());
  const int64_t n = f.size(0), c = f.size(1), l = f.numel() / std::max<int64_t>(1, n * c);
  TORCH_CHECK(c > 0 && (n == 0 || l > 0), "tessera::gram: features with no channels or no positions: ", f.sizes());
  return f.reshape({n, c, l}).contiguous();
}

namespace {

// Diagonal blocks of at most this many rows are one multiply, and the positions are taken in
// chunks of kChunk so that each chunk's rows are read from memory once and then from cache by the
// block multiplies. Measured with bench/ops_bench.py (2-core AVX-512 EPYC, fp32, docs/benchmarks.md).
constexpr int64_t kLeaf = 32, kChunk = 16384;

// out (+)= a b^T, accumulating after the first chunk.
void multiply(at::Tensor out, const at::Tensor& a, const at::Tensor& b, bool accumulate) {
  if (accumulate) out.addmm_(a, b.t());
  else at::mm_out(out, a, b.t());
}

void upper_rows(const at::Tensor& x, const at::Tensor& u, int64_t lo, int64_t hi, bool accumulate) {
  const int64_t m = hi - lo;
  if (m <= kLeaf) {
    at::Tensor xs = x.narrow(0, lo, m);
    multiply(u.narrow(0, lo, m).narrow(1, lo, m), xs, xs, accumulate);
    return;
  }
  const int64_t mid = lo + (m / 2 + 15) / 16 * 16;  // halves on a multiple of 16 rows (vector width)
  upper_rows(x, u, lo, mid, accumulate);
  upper_rows(x, u, mid, hi, accumulate);
  multiply(u.narrow(0, lo, mid - lo).narrow(1, mid, hi - mid), x.narrow(0, lo, mid - lo), x.narrow(0, mid, hi - mid), accumulate);
}

}  // namespace

at::Tensor upper_triangle(const at::Tensor& rows) {
  const int64_t n = rows.size(0), c = rows.size(1), l = rows.size(2);
  at::Tensor u = at::empty({n, c, c}, rows.options());
  for (int64_t b = 0; b < n; ++b)
    for (int64_t k0 = 0; k0 < l; k0 += kChunk) upper_rows(rows[b].narrow(1, k0, std::min(kChunk, l - k0)), u[b], 0, c, k0 > 0);
  return u;
}

}  // namespace gram_detail

at::Tensor gram(const at::Tensor& features) {
  static auto op = c10::Dispatcher::singleton().findSchemaOrThrow("tessera::gram", "").typed<at::Tensor(const at::Tensor&)>();
  return op.call(features);
}

at::Tensor reference::gram(const at::Tensor& f) {
  const int64_t n = f.size(0), c = f.size(1), l = f.numel() / (n * c);
  at::Tensor x = f.reshape({n, c, l});
  return at::bmm(x, x.transpose(1, 2)) / static_cast<double>(c * l);
}

namespace {

at::Tensor gram_meta(const at::Tensor& f) {
  TORCH_CHECK(f.dim() == 3 || f.dim() == 4, "tessera::gram: expected features [N, C, H, W] or [N, C, L], got ", f.sizes());
  return at::empty_symint({f.sym_size(0), f.sym_size(1), f.sym_size(1)}, f.options());  // symbolic sizes for fake tensors
}

template <c10::DeviceType D>
at::Tensor gram_autocast(const at::Tensor& f) {
  detail::BelowAutocast<D> below;
  return gram(detail::to_autocast_dtype<D>(f));  // the autocast dtype, as bmm
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(tessera, m) {
  m.def("gram(Tensor features) -> Tensor");
}

TORCH_LIBRARY_IMPL(tessera, Meta, m) { m.impl("gram", &gram_meta); }
TORCH_LIBRARY_IMPL(tessera, AutocastCPU, m) { m.impl("gram", &gram_autocast<c10::DeviceType::CPU>); }
TORCH_LIBRARY_IMPL(tessera, AutocastCUDA, m) { m.impl("gram", &gram_autocast<c10::DeviceType::CUDA>); }

}  // namespace tessera::ops
