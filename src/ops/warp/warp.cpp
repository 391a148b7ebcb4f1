// tessera::warp_catmull_rom: backward warp of an image by a per-pixel flow with Catmull-Rom
// (bicubic, a = -0.5) interpolation and replicated borders: out[n, :, i, j] = image[n] sampled at
// (j + flow[n, 0, i, j], i + flow[n, 1, i, j]) in pixel-index coordinates. The resampling of
// temporal SR's history (bilinear would blur it a little more every frame). Schema, wrapper, the
// ATen composite reference, CPU entry points, Meta kernels, autocast rule.
#include "warp.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include "../dtypes.h"

#include "../autocast.h"

namespace tessera::ops {

namespace warp_detail {

void check_inputs(const at::Tensor& image, const at::Tensor& flow) {
  TORCH_CHECK(image.dim() == 4, "tessera::warp_catmull_rom: image must be [N, C, H, W], got ", image.sizes());
  TORCH_CHECK(flow.dim() == 4 && flow.size(1) == 2, "tessera::warp_catmull_rom: flow must be [N, 2, H, W], got ", flow.sizes());
  TORCH_CHECK(flow.size(0) == image.size(0) && flow.size(2) == image.size(2) && flow.size(3) == image.size(3),
              "tessera::warp_catmull_rom: flow ", flow.sizes(), " does not match image ", image.sizes(), " in N, H and W");
  TORCH_CHECK(image.size(2) > 0 && image.size(3) > 0, "tessera::warp_catmull_rom: empty image ", image.sizes());
  TORCH_CHECK(at::isFloatingType(image.scalar_type()) && image.scalar_type() == flow.scalar_type(),
              "tessera::warp_catmull_rom: image and flow must share one floating dtype, got ", image.scalar_type(), " and ", flow.scalar_type());
  TORCH_CHECK(image.device() == flow.device(), "tessera::warp_catmull_rom: image and flow on different devices");
}

}  // namespace warp_detail

at::Tensor warp_catmull_rom(const at::Tensor& image, const at::Tensor& flow) {
  static auto op = c10::Dispatcher::singleton().findSchemaOrThrow("tessera::warp_catmull_rom", "").typed<at::Tensor(const at::Tensor&, const at::Tensor&)>();
  return op.call(image, flow);
}

at::Tensor reference::warp_catmull_rom(const at::Tensor& image, const at::Tensor& flow) {
  // Plain ATen: 16 gathers of the clamped taps, weighted by the Catmull-Rom polynomials of the
  // fractional position (differentiable in the image and, through the fraction, in the flow).
  const int64_t n = image.size(0), c = image.size(1), h = image.size(2), w = image.size(3);
  auto opts = flow.options();
  at::Tensor u = (at::arange(w, opts).view({1, 1, w}) + flow.select(1, 0)).clamp(-4, w + 3);
  at::Tensor v = (at::arange(h, opts).view({1, h, 1}) + flow.select(1, 1)).clamp(-4, h + 3);
  at::Tensor fu = u.floor().detach(), fv = v.floor().detach();
  at::Tensor tu = u - fu, tv = v - fv;
  auto weights = [](const at::Tensor& t) {
    return std::array<at::Tensor, 4>{((-t + 2) * t - 1) * t * 0.5, ((3 * t - 5) * t * t + 2) * 0.5, ((-3 * t + 4) * t + 1) * t * 0.5,
                                     (t - 1) * t * t * 0.5};
  };
  auto wu = weights(tu), wv = weights(tv);
  at::Tensor iu = fu.to(at::kLong), iv = fv.to(at::kLong);
  at::Tensor flat = image.reshape({n, c, h * w});
  at::Tensor out = at::zeros_like(image);
  for (int a = 0; a < 4; ++a) {
    at::Tensor y = (iv + (a - 1)).clamp(0, h - 1);
    for (int b = 0; b < 4; ++b) {
      at::Tensor x = (iu + (b - 1)).clamp(0, w - 1);
      at::Tensor idx = (y * w + x).view({n, 1, h * w}).expand({n, c, h * w});
      out = out + flat.gather(2, idx).view({n, c, h, w}) * (wv[a] * wu[b]).unsqueeze(1);
    }
  }
  return out;
}

namespace {

at::Tensor warp_cpu(const at::Tensor& image, const at::Tensor& flow) {
  warp_detail::check_inputs(image, flow);
  const auto kt = detail::float_or_double(image.scalar_type());
  at::Tensor x = image.to(kt).contiguous(), f = flow.to(kt).contiguous();
  at::Tensor out = at::empty(x.sizes(), x.options());
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  if (kt == at::kDouble)
    TESSERA_CPU_KERNEL(warp_forward_double)(x.const_data_ptr<double>(), f.const_data_ptr<double>(), out.mutable_data_ptr<double>(), n, c, h, w);
  else
    TESSERA_CPU_KERNEL(warp_forward_float)(x.const_data_ptr<float>(), f.const_data_ptr<float>(), out.mutable_data_ptr<float>(), n, c, h, w);
  return out.to(image.scalar_type());
}

std::tuple<at::Tensor, at::Tensor> warp_backward_cpu(const at::Tensor& grad, const at::Tensor& image, const at::Tensor& flow) {
  warp_detail::check_inputs(image, flow);
  const auto kt = detail::float_or_double(image.scalar_type());
  at::Tensor g = grad.to(kt).contiguous(), x = image.to(kt).contiguous(), f = flow.to(kt).contiguous();
  at::Tensor gi = at::zeros(x.sizes(), x.options()), gf = at::empty(f.sizes(), f.options());
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  if (kt == at::kDouble)
    TESSERA_CPU_KERNEL(warp_backward_double)(g.const_data_ptr<double>(), x.const_data_ptr<double>(), f.const_data_ptr<double>(),
                                             gi.mutable_data_ptr<double>(), gf.mutable_data_ptr<double>(), n, c, h, w);
  else
    TESSERA_CPU_KERNEL(warp_backward_float)(g.const_data_ptr<float>(), x.const_data_ptr<float>(), f.const_data_ptr<float>(),
                                            gi.mutable_data_ptr<float>(), gf.mutable_data_ptr<float>(), n, c, h, w);
  return {gi.to(image.scalar_type()), gf.to(flow.scalar_type())};
}

at::Tensor warp_meta(const at::Tensor& image, const at::Tensor& flow) {
  TORCH_CHECK(image.dim() == 4 && flow.dim() == 4, "tessera::warp_catmull_rom: image and flow must be 4-D");
  return at::empty_symint(image.sym_sizes(), image.options());
}

std::tuple<at::Tensor, at::Tensor> warp_backward_meta(const at::Tensor&, const at::Tensor& image, const at::Tensor& flow) {
  return {at::empty_symint(image.sym_sizes(), image.options()), at::empty_symint(flow.sym_sizes(), flow.options())};
}

// Autocast: positions and weights need float's precision (a bf16 position is off by up to a
// pixel at 256), so the warp runs in float32 whatever the autocast dtype.
template <c10::DeviceType D>
at::Tensor warp_autocast(const at::Tensor& image, const at::Tensor& flow) {
  detail::BelowAutocast<D> below;
  return warp_catmull_rom(detail::to_float_or_double(image), detail::to_float_or_double(flow));
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(tessera, m) {
  m.def("warp_catmull_rom(Tensor image, Tensor flow) -> Tensor");
  m.def("warp_catmull_rom_backward(Tensor grad, Tensor image, Tensor flow) -> (Tensor, Tensor)");
}
TORCH_LIBRARY_IMPL(tessera, CPU, m) {
  m.impl("warp_catmull_rom", &warp_cpu);
  m.impl("warp_catmull_rom_backward", &warp_backward_cpu);
}
TORCH_LIBRARY_IMPL(tessera, Meta, m) {
  m.impl("warp_catmull_rom", &warp_meta);
  m.impl("warp_catmull_rom_backward", &warp_backward_meta);
}
TORCH_LIBRARY_IMPL(tessera, AutocastCPU, m) { m.impl("warp_catmull_rom", &warp_autocast<c10::DeviceType::CPU>); }
TORCH_LIBRARY_IMPL(tessera, AutocastCUDA, m) { m.impl("warp_catmull_rom", &warp_autocast<c10::DeviceType::CUDA>); }

}  // namespace tessera::ops
