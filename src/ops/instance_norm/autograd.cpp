// tessera::instance_norm_act at the Autograd key. The first derivative is the fused backward
// kernel; under create_graph (a gradient penalty through the network) the backward instead
// differentiates the plain-ATen composite, so second derivatives are ATen's own.
#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "instance_norm.h"
#include "tessera/ops/ops.h"

namespace tessera::ops {

namespace {

using namespace instance_norm_detail;

c10::optional<at::Tensor> opt(const at::Tensor& t) { return t.defined() ? c10::optional<at::Tensor>(t) : c10::nullopt; }

class InstanceNormActFunction : public torch::autograd::Function<InstanceNormActFunction> {
 public:
  // weight and bias as optionals: autograd's input bookkeeping skips absent ones.
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const c10::optional<at::Tensor>& weight,
                            const c10::optional<at::Tensor>& bias, double eps, c10::string_view activation, double slope) {
    at::AutoDispatchBelowADInplaceOrView below;
    auto [out, mean, rstd] = forward_with_stats(x, weight, bias, eps, activation, slope);
    ctx->save_for_backward({x, weight.value_or(at::Tensor()), bias.value_or(at::Tensor()), out, mean, rstd});
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["activation"] = std::string(activation);
    ctx->saved_data["slope"] = slope;
    return out;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1], &b = saved[2];
    const std::string act = ctx->saved_data["activation"].toStringRef();
    const double slope = ctx->saved_data["slope"].toDouble();
    at::Tensor dx, dw, db;
    if (torch::GradMode::is_enabled()) {
      // Double backward: the composite's gradient, itself differentiable.
      std::vector<at::Tensor> inputs;
      for (const auto* t : {&x, &w, &b})
        if (t->defined() && t->requires_grad()) inputs.push_back(*t);
      at::Tensor y = composite(x, opt(w), opt(b), ctx->saved_data["eps"].toDouble(), scale_add_detail::parse_activation(act), slope);
      auto g = inputs.empty() ? std::vector<at::Tensor>{} : torch::autograd::grad({y}, inputs, {grads[0]}, true, true, true);
      size_t k = 0;
      for (auto [t, out] : {std::pair{&x, &dx}, std::pair{&w, &dw}, std::pair{&b, &db}})
        if (t->defined() && t->requires_grad()) *out = g[k++];
    } else {
      std::tie(dx, dw, db) = instance_norm_detail::backward(grads[0], saved[3], x, saved[4], saved[5], opt(w), act, slope);
      if (!w.defined()) dw = db = at::Tensor();
    }
    return {dx, dw, db, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor forward_autograd(const at::Tensor& x, const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias, double eps,
                            c10::string_view activation, double slope) {
  const auto present = [](const c10::optional<at::Tensor>& t) { return t.has_value() && t->defined() ? t : c10::nullopt; };
  return InstanceNormActFunction::apply(x, present(weight), present(bias), eps, activation, slope);
}

}  // namespace

TORCH_LIBRARY_IMPL(tessera, Autograd, m) { m.impl("instance_norm_act", &forward_autograd); }

}  // namespace tessera::ops
