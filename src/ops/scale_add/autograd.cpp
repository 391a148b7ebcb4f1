// tessera::scale_add and tessera::scale_add_backward at the Autograd key. scale_add's backward is
// dx = g, dy = scale_add_backward(g, y); scale_add_backward is linear in g with a zero derivative in y
// (f' is piecewise constant), so its own backward is itself, and derivatives of any order hold.
#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "scale_add.h"
#include "tessera/ops/ops.h"

namespace tessera::ops {

namespace {

using scale_add_detail::Activation;

class ScaleAddBackwardFunction : public torch::autograd::Function<ScaleAddBackwardFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& grad, const at::Tensor& y, double beta,
                            double negative_factor) {
    at::AutoDispatchBelowADInplaceOrView below;
    ctx->saved_data["beta"] = beta;
    ctx->saved_data["negative"] = negative_factor;
    ctx->save_for_backward({y});
    return scale_add_detail::backward(grad, y, beta, negative_factor);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
    const at::Tensor y = ctx->get_saved_variables()[0];
    at::Tensor dgrad = ScaleAddBackwardFunction::apply(grads[0], y, ctx->saved_data["beta"].toDouble(), ctx->saved_data["negative"].toDouble());
    return {dgrad, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

class ScaleAddFunction : public torch::autograd::Function<ScaleAddFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& y, double beta,
                            c10::string_view activation, double slope) {
    at::AutoDispatchBelowADInplaceOrView below;
    const Activation a = scale_add_detail::parse_activation(activation);
    ctx->saved_data["beta"] = beta;
    ctx->saved_data["negative"] = scale_add_detail::negative_factor(a, slope);
    ctx->saved_data["plain"] = a == Activation::none;
    ctx->save_for_backward({a == Activation::none ? at::Tensor() : y});
    return scale_add(x, y, beta, std::string(activation), slope);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
    const at::Tensor& g = grads[0];
    const double beta = ctx->saved_data["beta"].toDouble();
    at::Tensor dy = ctx->saved_data["plain"].toBool()
                        ? g * beta
                        : ScaleAddBackwardFunction::apply(g, ctx->get_saved_variables()[0], beta, ctx->saved_data["negative"].toDouble());
    return {g, dy, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor scale_add_autograd(const at::Tensor& x, const at::Tensor& y, double beta, c10::string_view activation, double slope) {
  return ScaleAddFunction::apply(x, y, beta, activation, slope);
}

at::Tensor scale_add_backward_autograd(const at::Tensor& grad, const at::Tensor& y, double beta, double negative_factor) {
  return ScaleAddBackwardFunction::apply(grad, y, beta, negative_factor);
}

}  // namespace

TORCH_LIBRARY_IMPL(tessera, Autograd, m) {
  m.impl("scale_add", &scale_add_autograd);
  m.impl("scale_add_backward", &scale_add_backward_autograd);
}

}  // namespace tessera::ops
