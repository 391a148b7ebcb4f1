// tessera::gram at the Autograd key. The backward is one bmm of (dG + dG^T) with the features, built
// from differentiable ATen ops so that double backward (a gradient penalty through a style loss) holds.
#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "tessera/ops/ops.h"

namespace tessera::ops {

namespace {

class GramFunction : public torch::autograd::Function<GramFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& features) {
    at::AutoDispatchBelowADInplaceOrView below;
    ctx->save_for_backward({features});
    return gram(features);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
    const at::Tensor f = ctx->get_saved_variables()[0];
    const at::Tensor& dg = grads[0];
    // Symbolic sizes, so that the backward traces with dynamic shapes (torch.compile, opcheck).
    const c10::SymInt n = f.sym_size(0), c = f.sym_size(1);
    const c10::SymInt l = n * c == 0 ? c10::SymInt(1) : f.sym_numel() / (n * c);
    at::Tensor rows = f.reshape_symint({n, c, l});
    at::Tensor df = at::bmm(dg + dg.transpose(1, 2), rows.to(dg.scalar_type())) / c10::Scalar(c * l);
    return {df.reshape_symint(f.sym_sizes()).to(f.scalar_type())};
  }
};

at::Tensor gram_autograd(const at::Tensor& features) { return GramFunction::apply(features); }

}  // namespace

TORCH_LIBRARY_IMPL(tessera, Autograd, m) { m.impl("gram", &gram_autograd); }

}  // namespace tessera::ops
