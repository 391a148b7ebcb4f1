// tessera::imresize_bicubic: MATLAB's imresize with the bicubic kernel (a = -0.5), antialiased when
// shrinking, symmetric borders, in float64 with a float32 result. Each output pixel reads only its
// taps (4 when enlarging, 4/scale + 2 when shrinking), along H then along W. Schema, wrapper, the
// tap tables (the one definition of MATLAB's weights in tessera), CPU entry point, Meta kernel.
#include "resize.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include <cmath>
#include <map>

#include "../autocast.h"

namespace tessera::ops {

namespace {

double cubic(double x) {
  const double a = std::abs(x), a2 = a * a, a3 = a2 * a;
  if (a <= 1) return 1.5 * a3 - 2.5 * a2 + 1;
  if (a <= 2) return -0.5 * a3 + 2.5 * a2 - 4 * a + 2;
  return 0;
}

}  // namespace

std::vector<std::vector<std::pair<int64_t, double>>> bicubic_taps(int64_t in_len, int64_t out_len, double scale, bool antialias) {
  TORCH_CHECK(in_len > 0 && out_len > 0 && scale > 0, "bicubic_taps: lengths and scale must be positive");
  const bool shrink_aa = scale < 1 && antialias;
  const double kernel_width = shrink_aa ? 4.0 / scale : 4.0;
  const int64_t taps = static_cast<int64_t>(std::ceil(kernel_width)) + 2;
  std::vector<std::vector<std::pair<int64_t, double>>> rows(out_len);
  std::vector<double> tap_w(taps);
  for (int64_t o = 0; o < out_len; ++o) {
    // 1-based output coordinate mapped into input space, as MATLAB does.
    const double u = (o + 1) / scale + 0.5 * (1 - 1 / scale);
    const int64_t left = static_cast<int64_t>(std::floor(u - kernel_width / 2));
    double sum = 0;
    for (int64_t t = 0; t < taps; ++t) {
      const double d = u - static_cast<double>(left + t);
      tap_w[t] = shrink_aa ? scale * cubic(d * scale) : cubic(d);
      sum += tap_w[t];
    }
    std::map<int64_t, double> merged;  // taps that mirror onto one input index add up, in index order
    for (int64_t t = 0; t < taps; ++t) {
      // Symmetric (mirror) border: ..., 2, 1, 1, 2, ..., L, L, L-1, ...
      int64_t idx = left + t - 1;  // 0-based
      const int64_t period = 2 * in_len;
      idx = ((idx % period) + period) % period;
      if (idx >= in_len) idx = period - 1 - idx;
      merged[idx] += tap_w[t] / sum;
    }
    rows[o].assign(merged.begin(), merged.end());
  }
  return rows;
}

namespace resize_detail {

void check_inputs(const at::Tensor& x, int64_t out_h, int64_t out_w) {
  TORCH_CHECK(x.dim() == 3 || x.dim() == 4, "tessera::imresize_bicubic: expected [C, H, W] or [N, C, H, W], got ", x.sizes());
  TORCH_CHECK(at::isFloatingType(x.scalar_type()), "tessera::imresize_bicubic: expected a floating-point image, got ", x.scalar_type());
  TORCH_CHECK(x.size(-1) > 0 && x.size(-2) > 0, "tessera::imresize_bicubic: empty image ", x.sizes());
  TORCH_CHECK(out_h > 0 && out_w > 0, "tessera::imresize_bicubic: output size must be positive, got ", out_h, "x", out_w);
}

Tables tables(int64_t h, int64_t w, int64_t out_h, int64_t out_w, double scale_h, double scale_w, bool antialias) {
  auto pack = [](const std::vector<std::vector<std::pair<int64_t, double>>>& rows, at::Tensor& index, at::Tensor& weight) {
    size_t taps = 1;
    for (const auto& r : rows) taps = std::max(taps, r.size());
    index = at::zeros({static_cast<int64_t>(rows.size()), static_cast<int64_t>(taps)}, at::kLong);
    weight = at::zeros({static_cast<int64_t>(rows.size()), static_cast<int64_t>(taps)}, at::kDouble);  // padding: weight 0
    auto* ip = index.mutable_data_ptr<int64_t>();
    auto* wp = weight.mutable_data_ptr<double>();
    for (size_t o = 0; o < rows.size(); ++o)
      for (size_t t = 0; t < rows[o].size(); ++t) ip[o * taps + t] = rows[o][t].first, wp[o * taps + t] = rows[o][t].second;
  };
  Tables t;
  pack(bicubic_taps(h, out_h, scale_h, antialias), t.h_index, t.h_weight);
  pack(bicubic_taps(w, out_w, scale_w, antialias), t.w_index, t.w_weight);
  return t;
}

}  // namespace resize_detail

at::Tensor imresize_bicubic(const at::Tensor& x, int64_t out_h, int64_t out_w, double scale_h, double scale_w, bool antialias) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("tessera::imresize_bicubic", "")
                       .typed<at::Tensor(const at::Tensor&, c10::SymIntArrayRef, c10::ArrayRef<double>, bool)>();
  const std::array<c10::SymInt, 2> size{out_h, out_w};
  const std::array<double, 2> scale{scale_h, scale_w};
  return op.call(x, size, scale, antialias);
}

at::Tensor reference::imresize_bicubic(const at::Tensor& x, int64_t out_h, int64_t out_w, double scale_h, double scale_w, bool antialias) {
  auto dense = [](int64_t in, int64_t out, double scale, bool aa, const at::Tensor& like) {
    at::Tensor m = at::zeros({out, in}, at::kDouble);
    auto rows = bicubic_taps(in, out, scale, aa);
    for (int64_t o = 0; o < out; ++o)
      for (auto [i, wt] : rows[o]) m[o][i] = wt;
    return m.to(like.device());
  };
  at::Tensor wh = dense(x.size(-2), out_h, scale_h, antialias, x), ww = dense(x.size(-1), out_w, scale_w, antialias, x);
  return at::matmul(at::matmul(wh, x.to(at::kDouble)), ww.t()).to(at::kFloat);
}

namespace {

at::Tensor resize_cpu(const at::Tensor& x, c10::SymIntArrayRef size, c10::ArrayRef<double> scale, bool antialias) {
  TORCH_CHECK(size.size() == 2 && scale.size() == 2, "tessera::imresize_bicubic: size and scale take two values (H, W)");
  const int64_t out_h = size[0].expect_int(), out_w = size[1].expect_int();
  resize_detail::check_inputs(x, out_h, out_w);
  const int64_t h = x.size(-2), w = x.size(-1), planes = x.numel() / (h * w);
  at::Tensor xd = x.to(at::kDouble).contiguous();
  std::vector<int64_t> shape = x.sizes().vec();
  shape[shape.size() - 2] = out_h, shape.back() = out_w;
  at::Tensor out = at::empty(shape, x.options().dtype(at::kFloat));
  auto t = resize_detail::tables(h, w, out_h, out_w, scale[0], scale[1], antialias);
  TESSERA_CPU_KERNEL(bicubic_resize)(xd.const_data_ptr<double>(), out.mutable_data_ptr<float>(), planes, h, w, out_h, out_w,
                                     t.h_index.const_data_ptr<int64_t>(), t.h_weight.const_data_ptr<double>(), t.h_index.size(1),
                                     t.w_index.const_data_ptr<int64_t>(), t.w_weight.const_data_ptr<double>(), t.w_index.size(1));
  return out;
}

at::Tensor resize_meta(const at::Tensor& x, c10::SymIntArrayRef size, c10::ArrayRef<double>, bool) {
  TORCH_CHECK(size.size() == 2, "tessera::imresize_bicubic: size takes two values (H, W)");
  std::vector<c10::SymInt> shape(x.sym_sizes().begin(), x.sym_sizes().end());
  shape[shape.size() - 2] = size[0], shape.back() = size[1];
  return at::empty_symint(shape, x.options().dtype(at::kFloat));
}

// Autocast: always float64 arithmetic with a float32 result, whatever the autocast dtype.
template <c10::DeviceType D>
at::Tensor resize_autocast(const at::Tensor& x, c10::SymIntArrayRef size, c10::ArrayRef<double> scale, bool antialias) {
  detail::BelowAutocast<D> below;
  return imresize_bicubic(x, size[0].expect_int(), size[1].expect_int(), scale[0], scale[1], antialias);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(tessera, m) {
  // size: the output (H, W); scale: the factors MATLAB derives the weights from (given, or out/in).
  m.def("imresize_bicubic(Tensor x, SymInt[2] size, float[2] scale, bool antialias=True) -> Tensor");
}
TORCH_LIBRARY_IMPL(tessera, CPU, m) { m.impl("imresize_bicubic", &resize_cpu); }
TORCH_LIBRARY_IMPL(tessera, Meta, m) { m.impl("imresize_bicubic", &resize_meta); }
TORCH_LIBRARY_IMPL(tessera, AutocastCPU, m) { m.impl("imresize_bicubic", &resize_autocast<c10::DeviceType::CPU>); }
TORCH_LIBRARY_IMPL(tessera, AutocastCUDA, m) { m.impl("imresize_bicubic", &resize_autocast<c10::DeviceType::CUDA>); }

}  // namespace tessera::ops
