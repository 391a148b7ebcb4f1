// tessera::ops::stem_conv: checks, weight packing and input padding around the CPU loops in cpu/.
#include "stem_conv.h"

#include <ATen/ATen.h>

#include "tessera/ops/ops.h"

namespace tessera::ops {

namespace {

using Kernel = void (*)(const stem_conv_detail::Problem&);
using Width = int64_t (*)();

at::Tensor run(const at::Tensor& x, const at::Tensor& weight, const c10::optional<at::Tensor>& bias, const std::string& activation,
               int64_t padding, Kernel kernel, Width width) {
  using stem_conv_detail::Activation;
  const Activation act = conv_epilogue::parse_activation(activation, "tessera::stem_conv");
  TORCH_CHECK(x.dim() == 4 && x.device().is_cpu() && x.scalar_type() == at::kFloat, "tessera::stem_conv: expected a 4-D float32 CPU input, got ",
              x.sizes(), " ", x.scalar_type(), " on ", x.device());
  TORCH_CHECK(weight.dim() == 4 && weight.device().is_cpu() && weight.scalar_type() == at::kFloat && weight.size(2) == weight.size(3) &&
                  weight.size(2) % 2 == 1 && weight.size(1) == x.size(1),
              "tessera::stem_conv: expected a float32 CPU weight [Cout, ", x.size(1), ", k, k] with odd k, got ", weight.sizes());
  TORCH_CHECK(x.size(1) >= 1 && x.size(1) <= kStemConvMaxChannels, "tessera::stem_conv: takes 1 to ", kStemConvMaxChannels,
              " input channels, got ", x.size(1));
  const int64_t cout = weight.size(0), k = weight.size(2), pad = padding < 0 ? k / 2 : padding;
  TORCH_CHECK(pad <= k / 2, "tessera::stem_conv: padding ", padding, " is more than half the kernel (", k, ")");
  const int64_t oh = x.size(2) + 2 * pad - k + 1, ow = x.size(3) + 2 * pad - k + 1;
  TORCH_CHECK(oh > 0 && ow > 0, "tessera::stem_conv: a ", x.size(2), "x", x.size(3), " input is smaller than the ", k, "x", k, " kernel");
  TORCH_CHECK(!bias || (bias->dim() == 1 && bias->size(0) == cout && bias->scalar_type() == at::kFloat && bias->device().is_cpu()),
              "tessera::stem_conv: expected a float32 CPU bias [", cout, "]");
  c10::InferenceMode guard;
  const int64_t block = conv_epilogue::kBlockVectors * width();
  const int64_t cpad = (cout + block - 1) / block * block;
  // [k][k][Cin][Cpad] and [Cpad], zero past Cout.
  const at::Tensor w = at::constant_pad_nd(weight.permute({2, 3, 1, 0}), {0, cpad - cout}).contiguous();
  const at::Tensor b = bias ? at::constant_pad_nd(*bias, {0, cpad - cout}).contiguous() : at::zeros({cpad}, weight.options());
  const at::Tensor in = at::constant_pad_nd(x, {pad, pad, pad, pad}).permute({0, 2, 3, 1}).contiguous();
  at::Tensor out = at::empty({x.size(0), cout, oh, ow}, x.options().memory_format(at::MemoryFormat::ChannelsLast));
  if (out.numel() == 0) return out;
  stem_conv_detail::Problem p{in.data_ptr<float>(), w.data_ptr<float>(), b.data_ptr<float>(), out.data_ptr<float>(),
                              x.size(0), oh, ow, x.size(1), k, cout, cpad, act};
  kernel(p);
  return out;
}

}  // namespace

at::Tensor stem_conv(const at::Tensor& x, const at::Tensor& weight, const c10::optional<at::Tensor>& bias, const std::string& activation,
                     int64_t padding) {
  return run(x, weight, bias, activation, padding, TESSERA_CPU_KERNEL(stem_conv), TESSERA_CPU_KERNEL(stem_conv_vector_width));
}

at::Tensor testing::stem_conv_build(const std::string& capability, const at::Tensor& x, const at::Tensor& weight,
                                    const c10::optional<at::Tensor>& bias, const std::string& activation, int64_t padding) {
  return run(x, weight, bias, activation, padding, TESSERA_CPU_KERNEL_FOR(capability, stem_conv),
             TESSERA_CPU_KERNEL_FOR(capability, stem_conv_vector_width));
}

}  // namespace tessera::ops
