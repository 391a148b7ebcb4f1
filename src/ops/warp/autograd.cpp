// tessera::warp_catmull_rom at the Autograd key. The first derivative is the backward kernel
// (grad_image scattered through the same taps, grad_flow from the weights' derivatives); under
// create_graph the backward differentiates the ATen composite, so second derivatives are ATen's.
#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "warp.h"

namespace tessera::ops {

namespace {

class WarpFunction : public torch::autograd::Function<WarpFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& image, const at::Tensor& flow) {
    at::AutoDispatchBelowADInplaceOrView below;
    ctx->save_for_backward({image, flow});
    return warp_catmull_rom(image, flow);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &image = saved[0], &flow = saved[1];
    if (torch::GradMode::is_enabled()) {
      std::vector<at::Tensor> inputs;
      for (const auto* t : {&image, &flow})
        if (t->requires_grad()) inputs.push_back(*t);
      if (inputs.empty()) return {at::Tensor(), at::Tensor()};
      at::Tensor y = reference::warp_catmull_rom(image, flow);
      auto g = torch::autograd::grad({y}, inputs, {grads[0]}, true, true, true);
      size_t k = 0;
      at::Tensor gi = image.requires_grad() ? g[k++] : at::Tensor();
      at::Tensor gf = flow.requires_grad() ? g[k++] : at::Tensor();
      return {gi, gf};
    }
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("tessera::warp_catmull_rom_backward", "")
                         .typed<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, const at::Tensor&)>();
    auto [gi, gf] = op.call(grads[0], image, flow);
    return {gi, gf};
  }
};

at::Tensor warp_autograd(const at::Tensor& image, const at::Tensor& flow) { return WarpFunction::apply(image, flow); }

}  // namespace

TORCH_LIBRARY_IMPL(tessera, Autograd, m) { m.impl("warp_catmull_rom", &warp_autograd); }

}  // namespace tessera::ops
