// tessera::instance_norm_act: instance normalisation (per sample and channel over the positions,
// biased variance, no running statistics), optional affine, then none/relu/leaky_relu, in one
// kernel, NCHW or channels-last without layout copies. Schemas, wrappers, composite reference,
// CPU entry points (allocation; loops in cpu/), Meta kernels, autocast rule.
#include "instance_norm.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include "../autocast.h"
#include "tessera/ops/ops.h"

namespace tessera::ops {

namespace instance_norm_detail {

Layout check_inputs(const at::Tensor& x, const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias) {
  TORCH_CHECK(x.dim() >= 3, "tessera::instance_norm_act: expected input [N, C, ...] with at least one spatial dimension, got ", x.sizes());
  TORCH_CHECK(at::isFloatingType(x.scalar_type()), "tessera::instance_norm_act: expected a floating-point input, got ", x.scalar_type());
  const bool w = weight.has_value() && weight->defined(), b = bias.has_value() && bias->defined();
  TORCH_CHECK(w == b, "tessera::instance_norm_act: give both weight and bias or neither");
  Layout l;
  l.n = x.size(0);
  l.c = x.size(1);
  l.m = l.n * l.c == 0 ? 0 : x.numel() / (l.n * l.c);
  TORCH_CHECK(l.n * l.c == 0 || l.m > 1, "tessera::instance_norm_act: each plane needs more than one value, got input ", x.sizes());
  for (const auto* p : {&weight, &bias})
    if (p->has_value() && (*p)->defined()) {
      TORCH_CHECK((*p)->dim() == 1 && (*p)->size(0) == l.c, "tessera::instance_norm_act: weight and bias must be [", l.c, "], got ",
                  (*p)->sizes());
      TORCH_CHECK((*p)->device() == x.device(), "tessera::instance_norm_act: weight/bias on ", (*p)->device(), " but input on ", x.device());
    }
  l.channels_last = x.dim() == 4 && x.suggest_memory_format() == at::MemoryFormat::ChannelsLast;
  return l;
}

std::pair<at::Tensor, at::Tensor> affine_of(const at::Tensor& x, const c10::optional<at::Tensor>& weight,
                                            const c10::optional<at::Tensor>& bias, int64_t c) {
  const auto acc = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  if (weight.has_value() && weight->defined()) return {weight->to(acc).contiguous(), bias->to(acc).contiguous()};
  return {at::ones({c}, x.options().dtype(acc)), at::zeros({c}, x.options().dtype(acc))};
}

at::Tensor composite(const at::Tensor& x, const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias, double eps,
                     Activation a, double slope) {
  std::vector<int64_t> dims;
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  at::Tensor mean = x.mean(dims, true), var = (x - mean).square().mean(dims, true);
  at::Tensor y = (x - mean) * (var + eps).rsqrt();
  if (weight.has_value() && weight->defined()) {
    std::vector<int64_t> shape(x.dim(), 1);
    shape[1] = x.size(1);
    y = y * weight->view(shape) + bias->view(shape);
  }
  return a == Activation::relu ? at::relu(y) : a == Activation::leaky_relu ? at::leaky_relu(y, slope) : y;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> forward_with_stats(const at::Tensor& x, const c10::optional<at::Tensor>& weight,
                                                                  const c10::optional<at::Tensor>& bias, double eps,
                                                                  c10::string_view activation, double slope) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("tessera::instance_norm_act_stats", "")
                       .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(const at::Tensor&, const c10::optional<at::Tensor>&,
                                                                              const c10::optional<at::Tensor>&, double, c10::string_view, double)>();
  return op.call(x, weight, bias, eps, activation, slope);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward(const at::Tensor& grad_out, const at::Tensor& out, const at::Tensor& x,
                                                        const at::Tensor& mean, const at::Tensor& rstd, const c10::optional<at::Tensor>& weight,
                                                        c10::string_view activation, double slope) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("tessera::instance_norm_act_backward", "")
                       .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                                                              const at::Tensor&, const at::Tensor&,
                                                                              const c10::optional<at::Tensor>&, c10::string_view, double)>();
  return op.call(grad_out, out, x, mean, rstd, weight, activation, slope);
}

}  // namespace instance_norm_detail

at::Tensor instance_norm_act(const at::Tensor& x, const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias,
                             double eps, const std::string& activation, double negative_slope) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("tessera::instance_norm_act", "")
                       .typed<at::Tensor(const at::Tensor&, const c10::optional<at::Tensor>&, const c10::optional<at::Tensor>&, double,
                                         c10::string_view, double)>();
  return op.call(x, weight, bias, eps, activation, negative_slope);
}

at::Tensor reference::instance_norm_act(const at::Tensor& x, const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias,
                                        double eps, const std::string& activation, double negative_slope) {
  return instance_norm_detail::composite(x, weight, bias, eps, scale_add_detail::parse_activation(activation), negative_slope);
}

namespace {

using namespace instance_norm_detail;

std::tuple<at::Tensor, at::Tensor, at::Tensor> stats_cpu(const at::Tensor& x, const c10::optional<at::Tensor>& weight,
                                                         const c10::optional<at::Tensor>& bias, double eps, c10::string_view activation,
                                                         double slope) {
  const Activation a = scale_add_detail::parse_activation(activation);
  const Layout l = check_inputs(x, weight, bias);
  at::Tensor xc = x.contiguous(l.format());
  auto [w, b] = affine_of(x, weight, bias, l.c);
  at::Tensor out = at::empty_like(xc, l.format());
  at::Tensor mean = at::empty({l.n, l.c}, w.options()), rstd = at::empty({l.n, l.c}, w.options());
  if (out.numel() > 0)
    TESSERA_CPU_KERNEL(instance_norm_forward)(x.scalar_type(), l, xc.const_data_ptr(), w.const_data_ptr(), b.const_data_ptr(),
                                              out.mutable_data_ptr(), mean.mutable_data_ptr(), rstd.mutable_data_ptr(), eps,
                                              scale_add_detail::negative_factor(a, slope), a != Activation::none);
  return {out, mean, rstd};
}

at::Tensor forward_cpu(const at::Tensor& x, const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias, double eps,
                       c10::string_view activation, double slope) {
  return std::get<0>(stats_cpu(x, weight, bias, eps, activation, slope));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cpu(const at::Tensor& grad_out, const at::Tensor& out, const at::Tensor& x,
                                                            const at::Tensor& mean, const at::Tensor& rstd,
                                                            const c10::optional<at::Tensor>& weight, c10::string_view activation, double slope) {
  const Activation a = scale_add_detail::parse_activation(activation);
  const Layout l = check_inputs(x, weight, weight);
  TORCH_CHECK(grad_out.sizes() == x.sizes() && out.sizes() == x.sizes(), "tessera::instance_norm_act_backward: shapes differ");
  at::Tensor xc = x.contiguous(l.format()), gc = grad_out.to(x.scalar_type()).contiguous(l.format()), yc = out.contiguous(l.format());
  auto [w, b] = affine_of(x, weight, weight, l.c);
  at::Tensor dx = at::empty_like(xc, l.format());
  at::Tensor dw_n = at::empty({l.n, l.c}, w.options()), db_n = at::empty({l.n, l.c}, w.options());
  if (dx.numel() > 0)
    TESSERA_CPU_KERNEL(instance_norm_backward)(x.scalar_type(), l, gc.const_data_ptr(), yc.const_data_ptr(), xc.const_data_ptr(),
                                               mean.contiguous().const_data_ptr(), rstd.contiguous().const_data_ptr(), w.const_data_ptr(),
                                               dx.mutable_data_ptr(), dw_n.mutable_data_ptr(), db_n.mutable_data_ptr(),
                                               scale_add_detail::negative_factor(a, slope), a != Activation::none);
  else dw_n.zero_(), db_n.zero_();
  const auto wt = weight.has_value() && weight->defined() ? weight->scalar_type() : w.scalar_type();
  return {dx, dw_n.sum(0).to(wt), db_n.sum(0).to(wt)};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> stats_meta(const at::Tensor& x, const c10::optional<at::Tensor>&, const c10::optional<at::Tensor>&,
                                                          double, c10::string_view activation, double) {
  scale_add_detail::parse_activation(activation);
  const auto acc = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const bool cl = x.dim() == 4 && x.suggest_memory_format() == at::MemoryFormat::ChannelsLast;
  at::Tensor out = at::empty_like(x, cl ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous);
  return {out, at::empty_symint({x.sym_size(0), x.sym_size(1)}, x.options().dtype(acc)),
          at::empty_symint({x.sym_size(0), x.sym_size(1)}, x.options().dtype(acc))};
}

at::Tensor forward_meta(const at::Tensor& x, const c10::optional<at::Tensor>& w, const c10::optional<at::Tensor>& b, double eps,
                        c10::string_view activation, double slope) {
  return std::get<0>(stats_meta(x, w, b, eps, activation, slope));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_meta(const at::Tensor&, const at::Tensor&, const at::Tensor& x, const at::Tensor& mean,
                                                             const at::Tensor&, const c10::optional<at::Tensor>& weight, c10::string_view,
                                                             double) {
  const bool cl = x.dim() == 4 && x.suggest_memory_format() == at::MemoryFormat::ChannelsLast;
  const auto wt = weight.has_value() && weight->defined() ? weight->scalar_type() : mean.scalar_type();
  return {at::empty_like(x, cl ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous),
          at::empty_symint({x.sym_size(1)}, x.options().dtype(wt)), at::empty_symint({x.sym_size(1)}, x.options().dtype(wt))};
}

// Autocast: runs in the input's dtype with float statistics and parameters (as ATen's norms do).
template <c10::DeviceType D>
at::Tensor forward_autocast(const at::Tensor& x, const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias, double eps,
                            c10::string_view activation, double slope) {
  detail::BelowAutocast<D> below;
  return instance_norm_act(x, weight, bias, eps, std::string(activation), slope);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(tessera, m) {
  m.def("instance_norm_act(Tensor x, Tensor? weight=None, Tensor? bias=None, float eps=1e-05, str activation='none', "
        "float negative_slope=0.01) -> Tensor");
  // The forward that also returns the per-(sample, channel) mean and 1/std [N, C] (for the backward).
  m.def("instance_norm_act_stats(Tensor x, Tensor? weight, Tensor? bias, float eps, str activation, float negative_slope) "
        "-> (Tensor, Tensor, Tensor)");
  // (dx, dweight, dbias) from the output gradient, the output (for the activation's derivative),
  // the input and the saved statistics.
  m.def("instance_norm_act_backward(Tensor grad_out, Tensor out, Tensor x, Tensor mean, Tensor rstd, Tensor? weight, str activation, "
        "float negative_slope) -> (Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(tessera, CPU, m) {
  m.impl("instance_norm_act", &forward_cpu);
  m.impl("instance_norm_act_stats", &stats_cpu);
  m.impl("instance_norm_act_backward", &backward_cpu);
}
TORCH_LIBRARY_IMPL(tessera, Meta, m) {
  m.impl("instance_norm_act", &forward_meta);
  m.impl("instance_norm_act_stats", &stats_meta);
  m.impl("instance_norm_act_backward", &backward_meta);
}
TORCH_LIBRARY_IMPL(tessera, AutocastCPU, m) { m.impl("instance_norm_act", &forward_autocast<c10::DeviceType::CPU>); }
TORCH_LIBRARY_IMPL(tessera, AutocastCUDA, m) { m.impl("instance_norm_act", &forward_autocast<c10::DeviceType::CUDA>); }

}  // namespace tessera::ops
