// tessera::history_clamp: TAA / FSR 2 history rectification. Each pixel of the (warped) history is
// clamped, in YCoCg, into the box spanned by the current frame's (2 radius + 1)^2 neighbourhood
// (replicated borders), then returned to RGB: history that disagrees with what the current frame
// can be (disocclusions, lighting changes) is pulled to it, which removes ghosting. Schema,
// wrapper, the ATen composite reference, CPU entry point, Meta kernel, autocast rule.
#include "history_clamp.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include "../dtypes.h"

#include "../autocast.h"

namespace tessera::ops {

namespace history_clamp_detail {

void check_inputs(const at::Tensor& history, const at::Tensor& current, int64_t radius) {
  TORCH_CHECK(history.dim() == 4 && history.size(1) == 3, "tessera::history_clamp: history must be RGB [N, 3, H, W], got ", history.sizes());
  TORCH_CHECK(current.sizes() == history.sizes(), "tessera::history_clamp: current ", current.sizes(), " and history ", history.sizes(),
              " differ in shape");
  TORCH_CHECK(history.size(2) > 0 && history.size(3) > 0, "tessera::history_clamp: empty image ", history.sizes());
  TORCH_CHECK(at::isFloatingType(history.scalar_type()) && history.scalar_type() == current.scalar_type(),
              "tessera::history_clamp: history and current must share one floating dtype, got ", history.scalar_type(), " and ",
              current.scalar_type());
  TORCH_CHECK(history.device() == current.device(), "tessera::history_clamp: history and current on different devices");
  TORCH_CHECK(radius >= 0 && radius <= 8, "tessera::history_clamp: radius must be 0..8, got ", radius);
}

}  // namespace history_clamp_detail

at::Tensor history_clamp(const at::Tensor& history, const at::Tensor& current, int64_t radius) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("tessera::history_clamp", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, int64_t)>();
  return op.call(history, current, radius);
}

at::Tensor reference::history_clamp(const at::Tensor& history, const at::Tensor& current, int64_t radius) {
  auto ycocg = [](const at::Tensor& x) {
    at::Tensor r = x.select(1, 0), g = x.select(1, 1), b = x.select(1, 2);
    return at::stack({0.25 * r + 0.5 * g + 0.25 * b, 0.5 * (r - b), -0.25 * r + 0.5 * g - 0.25 * b}, 1);
  };
  const int64_t k = 2 * radius + 1;
  at::Tensor cur = at::replication_pad2d(ycocg(current), {radius, radius, radius, radius});
  at::Tensor hi = at::max_pool2d(cur, {k, k}, {1, 1}), lo = -at::max_pool2d(-cur, {k, k}, {1, 1});
  at::Tensor y = at::clamp(ycocg(history), lo, hi);
  at::Tensor Y = y.select(1, 0), Co = y.select(1, 1), Cg = y.select(1, 2);
  return at::stack({Y + Co - Cg, Y + Cg, Y - Co - Cg}, 1);
}

namespace {

at::Tensor clamp_cpu(const at::Tensor& history, const at::Tensor& current, int64_t radius) {
  history_clamp_detail::check_inputs(history, current, radius);
  const auto kt = detail::float_or_double(history.scalar_type());
  at::Tensor h = history.to(kt).contiguous(), c = current.to(kt).contiguous();
  at::Tensor out = at::empty(h.sizes(), h.options());
  if (kt == at::kDouble)
    TESSERA_CPU_KERNEL(history_clamp_double)(h.const_data_ptr<double>(), c.const_data_ptr<double>(), out.mutable_data_ptr<double>(), h.size(0),
                                             h.size(2), h.size(3), radius);
  else
    TESSERA_CPU_KERNEL(history_clamp_float)(h.const_data_ptr<float>(), c.const_data_ptr<float>(), out.mutable_data_ptr<float>(), h.size(0),
                                            h.size(2), h.size(3), radius);
  return out.to(history.scalar_type());
}

at::Tensor clamp_meta(const at::Tensor& history, const at::Tensor&, int64_t) { return at::empty_symint(history.sym_sizes(), history.options()); }

// Autocast: colour bounds in float32, whatever the autocast dtype.
template <c10::DeviceType D>
at::Tensor clamp_autocast(const at::Tensor& history, const at::Tensor& current, int64_t radius) {
  detail::BelowAutocast<D> below;
  return history_clamp(detail::to_float_or_double(history), detail::to_float_or_double(current), radius);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(tessera, m) { m.def("history_clamp(Tensor history, Tensor current, int radius=1) -> Tensor"); }
TORCH_LIBRARY_IMPL(tessera, CPU, m) { m.impl("history_clamp", &clamp_cpu); }
TORCH_LIBRARY_IMPL(tessera, Meta, m) { m.impl("history_clamp", &clamp_meta); }
TORCH_LIBRARY_IMPL(tessera, AutocastCPU, m) { m.impl("history_clamp", &clamp_autocast<c10::DeviceType::CPU>); }
TORCH_LIBRARY_IMPL(tessera, AutocastCUDA, m) { m.impl("history_clamp", &clamp_autocast<c10::DeviceType::CUDA>); }

}  // namespace tessera::ops
