// tessera::history_clamp at the Autograd key: the backward differentiates the ATen composite (the
// min and max of each box route the gradient to the neighbour that set that bound), so first and
// second derivatives are ATen's; the fused forward is the hot path (TAA at inference).
#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "history_clamp.h"

namespace tessera::ops {

namespace {

class HistoryClampFunction : public torch::autograd::Function<HistoryClampFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& history, const at::Tensor& current, int64_t radius) {
    at::AutoDispatchBelowADInplaceOrView below;
    ctx->save_for_backward({history, current});
    ctx->saved_data["radius"] = radius;
    return history_clamp(history, current, radius);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    std::vector<at::Tensor> inputs;
    at::Tensor h = saved[0], c = saved[1];
    const bool create_graph = torch::GradMode::is_enabled();
    at::Tensor hv = create_graph ? h : h.detach().requires_grad_(h.requires_grad());
    at::Tensor cv = create_graph ? c : c.detach().requires_grad_(c.requires_grad());
    for (const auto* t : {&hv, &cv})
      if (t->requires_grad()) inputs.push_back(*t);
    if (inputs.empty()) return {at::Tensor(), at::Tensor(), at::Tensor()};
    at::Tensor y;
    {
      torch::AutoGradMode enable(true);
      y = reference::history_clamp(hv, cv, ctx->saved_data["radius"].toInt());
    }
    auto g = torch::autograd::grad({y}, inputs, {grads[0]}, true, create_graph, true);
    size_t k = 0;
    at::Tensor gh = hv.requires_grad() ? g[k++] : at::Tensor();
    at::Tensor gc = cv.requires_grad() ? g[k++] : at::Tensor();
    return {gh, gc, at::Tensor()};
  }
};

at::Tensor clamp_autograd(const at::Tensor& history, const at::Tensor& current, int64_t radius) {
  return HistoryClampFunction::apply(history, current, radius);
}

}  // namespace

TORCH_LIBRARY_IMPL(tessera, Autograd, m) { m.impl("history_clamp", &clamp_autograd); }

}  // namespace tessera::ops
