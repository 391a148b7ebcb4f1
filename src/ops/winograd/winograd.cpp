// tessera::ops::winograd_conv3x3: checks and the weights' transform around the CPU loops in cpu/.
#include "winograd.h"

#include <ATen/ATen.h>

#include "tessera/ops/ops.h"

namespace tessera::ops {

namespace {

using Kernel = void (*)(const winograd_detail::Problem&);
using Width = int64_t (*)();

at::Tensor run(const at::Tensor& x, const at::Tensor& weight, const c10::optional<at::Tensor>& bias, const std::string& activation,
               const c10::optional<at::Tensor>& residual, bool into_residual, int64_t padding, Kernel kernel, Width width) {
  using winograd_detail::Activation;
  const Activation act = conv_epilogue::parse_activation(activation, "tessera::winograd_conv3x3");
  TORCH_CHECK(x.dim() == 4 && x.device().is_cpu() && x.scalar_type() == at::kFloat,
              "tessera::winograd_conv3x3: expected a 4-D float32 CPU input, got ", x.sizes(), " ", x.scalar_type(), " on ", x.device());
  TORCH_CHECK(weight.dim() == 4 && weight.device().is_cpu() && weight.scalar_type() == at::kFloat && weight.size(1) == x.size(1) &&
                  weight.size(2) == 3 && weight.size(3) == 3,
              "tessera::winograd_conv3x3: expected a float32 CPU weight [Cout, ", x.size(1), ", 3, 3], got ", weight.sizes());
  TORCH_CHECK(padding == 0 || padding == 1, "tessera::winograd_conv3x3: padding must be 0 or 1, got ", padding);
  const int64_t n = x.size(0), cin = x.size(1), ih = x.size(2), iw = x.size(3), cout = weight.size(0);
  const int64_t h = ih + 2 * padding - 2, w = iw + 2 * padding - 2;
  TORCH_CHECK(h > 0 && w > 0, "tessera::winograd_conv3x3: a ", ih, "x", iw, " input is smaller than the 3x3 kernel");
  TORCH_CHECK(!bias || (bias->dim() == 1 && bias->size(0) == cout && bias->scalar_type() == at::kFloat && bias->device().is_cpu()),
              "tessera::winograd_conv3x3: expected a float32 CPU bias [", cout, "]");
  const auto cl = at::MemoryFormat::ChannelsLast;
  TORCH_CHECK(!residual || (residual->sizes() == at::IntArrayRef({n, cout, h, w}) && residual->scalar_type() == at::kFloat &&
                            residual->device().is_cpu()),
              "tessera::winograd_conv3x3: expected a float32 CPU residual [", n, ", ", cout, ", ", h, ", ", w, "]");
  TORCH_CHECK(!into_residual || (residual && residual->is_contiguous(cl) && !residual->is_alias_of(x)),
              "tessera::winograd_conv3x3: writing into the residual needs a channels-last residual apart from the input");
  c10::InferenceMode guard;
  const int64_t block = conv_epilogue::kBlockVectors * width();
  const int64_t cpad = (cout + block - 1) / block * block;
  // U = G g G^T per (output, input) channel, in float64, laid out [36][Cpad / block][Cin][block].
  const at::Tensor g = at::tensor({1.0 / 4, 0.0, 0.0,                //
                                   -1.0 / 6, -1.0 / 6, -1.0 / 6,     //
                                   -1.0 / 6, 1.0 / 6, -1.0 / 6,      //
                                   1.0 / 24, 1.0 / 12, 1.0 / 6,      //
                                   1.0 / 24, -1.0 / 12, 1.0 / 6,     //
                                   0.0, 0.0, 1.0},
                                  at::kDouble)
                           .view({6, 3});
  const at::Tensor u = at::matmul(at::matmul(g, weight.to(at::kDouble)), g.t());  // [Cout, Cin, 6, 6]
  const at::Tensor up = at::constant_pad_nd(u.permute({2, 3, 1, 0}).reshape({36, cin, cout}), {0, cpad - cout})
                            .view({36, cin, cpad / block, block})
                            .permute({0, 2, 1, 3})
                            .to(at::kFloat)
                            .contiguous();
  const at::Tensor b = bias ? at::constant_pad_nd(*bias, {0, cpad - cout}).contiguous() : at::zeros({cpad}, weight.options());
  const at::Tensor in = x.contiguous(cl);
  at::Tensor res = residual ? residual->contiguous(cl) : at::Tensor();
  at::Tensor out = into_residual ? *residual : at::empty({n, cout, h, w}, x.options().memory_format(cl));
  if (out.numel() == 0) return out;
  winograd_detail::Problem p{in.data_ptr<float>(), up.data_ptr<float>(), b.data_ptr<float>(), res.defined() ? res.data_ptr<float>() : nullptr,
                             out.data_ptr<float>(), n, ih, iw, padding, h, w, cin, cout, cpad, act};
  kernel(p);
  return out;
}

}  // namespace

at::Tensor winograd_conv3x3(const at::Tensor& x, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                            const std::string& activation, const c10::optional<at::Tensor>& residual, bool into_residual,
                            int64_t padding) {
  return run(x, weight, bias, activation, residual, into_residual, padding, TESSERA_CPU_KERNEL(winograd_conv3x3), TESSERA_CPU_KERNEL(winograd_vector_width));
}

at::Tensor testing::winograd_conv3x3_build(const std::string& capability, const at::Tensor& x, const at::Tensor& weight,
                                           const c10::optional<at::Tensor>& bias, const std::string& activation,
                                           const c10::optional<at::Tensor>& residual, int64_t padding) {
  return run(x, weight, bias, activation, residual, false, padding, TESSERA_CPU_KERNEL_FOR(capability, winograd_conv3x3),
             TESSERA_CPU_KERNEL_FOR(capability, winograd_vector_width));
}

}  // namespace tessera::ops
