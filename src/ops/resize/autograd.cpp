// tessera::imresize_bicubic at the Autograd key: the resize is linear, x -> Wh x Ww^T, so the
// backward is Wh^T g Ww, written with the dense weight matrices and ATen's matmul (differentiable).
#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "resize.h"

namespace tessera::ops {

namespace {

at::Tensor dense(const at::Tensor& index, const at::Tensor& weight, int64_t in_len, const at::Tensor& like) {
  at::Tensor m = at::zeros({index.size(0), in_len}, at::kDouble).scatter_add_(1, index, weight);
  return like.is_cpu() ? m : m.to(like.device());
}

class ResizeFunction : public torch::autograd::Function<ResizeFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, c10::SymIntArrayRef size, c10::ArrayRef<double> scale,
                            bool antialias) {
    at::AutoDispatchBelowADInplaceOrView below;
    const int64_t out_h = size[0].expect_int(), out_w = size[1].expect_int();
    auto t = resize_detail::tables(x.size(-2), x.size(-1), out_h, out_w, scale[0], scale[1], antialias);
    ctx->saved_data["wh"] = dense(t.h_index, t.h_weight, x.size(-2), x);
    ctx->saved_data["ww"] = dense(t.w_index, t.w_weight, x.size(-1), x);
    ctx->saved_data["dtype"] = static_cast<int64_t>(x.scalar_type());
    return imresize_bicubic(x, out_h, out_w, scale[0], scale[1], antialias);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
    const at::Tensor wh = ctx->saved_data["wh"].toTensor(), ww = ctx->saved_data["ww"].toTensor();
    at::Tensor dx = at::matmul(at::matmul(wh.t(), grads[0].to(at::kDouble)), ww);
    return {dx.to(static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt())), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor resize_autograd(const at::Tensor& x, c10::SymIntArrayRef size, c10::ArrayRef<double> scale, bool antialias) {
  return ResizeFunction::apply(x, size, scale, antialias);
}

}  // namespace

TORCH_LIBRARY_IMPL(tessera, Autograd, m) { m.impl("imresize_bicubic", &resize_autograd); }

}  // namespace tessera::ops
