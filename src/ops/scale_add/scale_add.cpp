// tessera::scale_add: x + beta * f(y), and its backward op dy = g * beta * f'(y). Schemas, C++
// wrappers, composite reference, the CPU entry points (layout and allocation; the loops are in
// cpu/), Meta kernels and the autocast rule.
#include "scale_add.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include "../autocast.h"
#include "tessera/ops/ops.h"

namespace tessera::ops {

namespace scale_add_detail {

Activation parse_activation(c10::string_view name) {
  if (name == "none") return Activation::none;
  if (name == "relu") return Activation::relu;
  if (name == "leaky_relu") return Activation::leaky_relu;
  TORCH_CHECK(false, "tessera::scale_add: activation must be none, relu or leaky_relu, got '", std::string(name), "'");
}

at::MemoryFormat check_inputs(const at::Tensor& x, const at::Tensor& y) {
  TORCH_CHECK(x.sym_sizes() == y.sym_sizes(), "tessera::scale_add: x ", x.sym_sizes(), " and y ", y.sym_sizes(), " differ in shape");
  TORCH_CHECK(x.scalar_type() == y.scalar_type(), "tessera::scale_add: x is ", x.scalar_type(), " but y is ", y.scalar_type());
  TORCH_CHECK(x.device() == y.device(), "tessera::scale_add: x is on ", x.device(), " but y on ", y.device());
  TORCH_CHECK(at::isFloatingType(x.scalar_type()), "tessera::scale_add: expected floating-point tensors, got ", x.scalar_type());
  return x.suggest_memory_format();
}

at::Tensor backward(const at::Tensor& grad, const at::Tensor& y, double beta, double negative_factor) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("tessera::scale_add_backward", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, double, double)>();
  return op.call(grad, y, beta, negative_factor);
}

}  // namespace scale_add_detail

at::Tensor scale_add(const at::Tensor& x, const at::Tensor& y, double beta, const std::string& activation, double negative_slope) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("tessera::scale_add", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, double, c10::string_view, double)>();
  return op.call(x, y, beta, activation, negative_slope);
}

at::Tensor reference::scale_add(const at::Tensor& x, const at::Tensor& y, double beta, const std::string& activation,
                                double negative_slope) {
  at::Tensor f = activation == "relu" ? at::relu(y) : activation == "leaky_relu" ? at::leaky_relu(y, negative_slope) : y;
  return x + f * beta;
}

namespace {

using scale_add_detail::check_inputs;

at::Tensor scale_add_cpu(const at::Tensor& x, const at::Tensor& y, double beta, c10::string_view activation, double slope) {
  const auto a = scale_add_detail::parse_activation(activation);
  const at::MemoryFormat fmt = check_inputs(x, y);
  at::Tensor xc = x.contiguous(fmt), yc = y.contiguous(fmt);
  at::Tensor out = at::empty_like(xc, fmt);
  TESSERA_CPU_KERNEL(scale_add)(x.scalar_type(), a, xc.const_data_ptr(), yc.const_data_ptr(), out.mutable_data_ptr(), out.numel(), beta, slope);
  return out;
}

at::Tensor scale_add_backward_cpu(const at::Tensor& grad, const at::Tensor& y, double beta, double negative_factor) {
  const at::MemoryFormat fmt = check_inputs(grad, y);
  at::Tensor gc = grad.contiguous(fmt), yc = y.contiguous(fmt);
  at::Tensor dy = at::empty_like(gc, fmt);
  TESSERA_CPU_KERNEL(scale_add_backward)(grad.scalar_type(), gc.const_data_ptr(), yc.const_data_ptr(), dy.mutable_data_ptr(), dy.numel(), beta,
                                         negative_factor);
  return dy;
}

at::Tensor scale_add_meta(const at::Tensor& x, const at::Tensor& y, double, c10::string_view activation, double) {
  scale_add_detail::parse_activation(activation);
  return at::empty_like(x, check_inputs(x, y));
}

at::Tensor scale_add_backward_meta(const at::Tensor& grad, const at::Tensor& y, double, double) {
  return at::empty_like(grad, check_inputs(grad, y));
}

template <c10::DeviceType D>
at::Tensor scale_add_autocast(const at::Tensor& x, const at::Tensor& y, double beta, c10::string_view activation, double slope) {
  detail::BelowAutocast<D> below;
  const at::ScalarType wide = at::promote_types(x.scalar_type(), y.scalar_type());  // the wider dtype, as add
  return scale_add(x.to(wide), y.to(wide), beta, std::string(activation), slope);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(tessera, m) {
  m.def("scale_add(Tensor x, Tensor y, float beta=1., str activation='none', float negative_slope=0.01) -> Tensor");
  // d/dy of scale_add: grad * beta where y > 0, grad * beta * negative_factor elsewhere.
  m.def("scale_add_backward(Tensor grad, Tensor y, float beta, float negative_factor) -> Tensor");
}

TORCH_LIBRARY_IMPL(tessera, CPU, m) {
  m.impl("scale_add", &scale_add_cpu);
  m.impl("scale_add_backward", &scale_add_backward_cpu);
}
TORCH_LIBRARY_IMPL(tessera, Meta, m) {
  m.impl("scale_add", &scale_add_meta);
  m.impl("scale_add_backward", &scale_add_backward_meta);
}
TORCH_LIBRARY_IMPL(tessera, AutocastCPU, m) { m.impl("scale_add", &scale_add_autocast<c10::DeviceType::CPU>); }
TORCH_LIBRARY_IMPL(tessera, AutocastCUDA, m) { m.impl("scale_add", &scale_add_autocast<c10::DeviceType::CUDA>); }

}  // namespace tessera::ops
