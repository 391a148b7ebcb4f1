#include "tessera/nn/layers.h"

#include "tessera/core/error.h"
#include "tessera/core/runtime.h"
#include "tessera/ops/ops.h"

#include <ATen/Context.h>
#include <ATen/core/dispatch/Dispatcher.h>

namespace tessera::nn {

WnConv2dImpl::WnConv2dImpl(int64_t in, int64_t out, int64_t kernel, bool with_bias) : kernel_(kernel) {
  // Initialise like PyTorch's Conv2d, then split into direction and magnitude like weight_norm().
  torch::nn::Conv2d c(torch::nn::Conv2dOptions(in, out, kernel).padding(kernel / 2).bias(with_bias));
  torch::Tensor w = c->weight.detach().clone();
  weight_g = register_parameter("weight_g", w.flatten(1).norm(2, 1).view({out, 1, 1, 1}).clone());
  weight_v = register_parameter("weight_v", w);
  if (with_bias) bias = register_parameter("bias", c->bias.detach().clone());
}

torch::Tensor WnConv2dImpl::weight() const {
  torch::Tensor norm = weight_v.flatten(1).norm(2, 1).view({weight_v.size(0), 1, 1, 1});
  return weight_v * (weight_g / norm);
}

torch::Tensor WnConv2dImpl::forward(const torch::Tensor& x) {
  return torch::conv2d(x, weight(), bias, 1, kernel_ / 2);
}

SnConv2dImpl::SnConv2dImpl(torch::nn::Conv2dOptions o, int64_t power_iterations, double eps)
    : options(std::move(o)), power_iterations_(power_iterations), eps_(eps) {
  torch::nn::Conv2d init(options);  // PyTorch's default initialisation of the wrapped conv
  weight_orig = register_parameter("weight_orig", init->weight.detach().clone());
  if (options.bias()) bias = register_parameter("bias", init->bias.detach().clone());
  const int64_t h = weight_orig.size(0), w = weight_orig.numel() / h;
  weight_u = register_buffer("weight_u", torch::nn::functional::normalize(torch::randn({h}), torch::nn::functional::NormalizeFuncOptions().dim(0).eps(eps_)));
  weight_v = register_buffer("weight_v", torch::nn::functional::normalize(torch::randn({w}), torch::nn::functional::NormalizeFuncOptions().dim(0).eps(eps_)));
}

torch::Tensor SnConv2dImpl::normalized_weight() const {
  const torch::Tensor mat = weight_orig.reshape({weight_orig.size(0), -1});
  // u and v as they are now (cloned: a later power iteration updates the buffers in place).
  const torch::Tensor sigma = torch::dot(weight_u.clone(), torch::mv(mat, weight_v.clone()));
  return weight_orig / sigma;
}

torch::Tensor SnConv2dImpl::weight() {
  if (is_training() && power_iterations_ > 0) {
    torch::NoGradGuard ng;
    namespace F = torch::nn::functional;
    const auto norm = F::NormalizeFuncOptions().dim(0).eps(eps_);
    const torch::Tensor mat = weight_orig.reshape({weight_orig.size(0), -1});
    for (int64_t i = 0; i < power_iterations_; ++i) {
      weight_v.copy_(F::normalize(torch::mv(mat.t(), weight_u), norm));
      weight_u.copy_(F::normalize(torch::mv(mat, weight_v), norm));
    }
  }
  return normalized_weight();
}

torch::Tensor SnConv2dImpl::forward(const torch::Tensor& x) {
  const auto& pad = std::get<torch::ExpandingArray<2>>(options.padding());
  return torch::conv2d(x, weight(), bias, options.stride(), pad, options.dilation(), options.groups());
}

torch::Tensor forward_fused(torch::nn::SequentialImpl& seq, torch::Tensor x) {
  for (auto it = seq.begin(); it != seq.end(); ++it) {
    if (auto* conv = it->ptr()->as<torch::nn::Conv2dImpl>()) {
      x = conv_act(*conv, x, "none");  // the stem and Winograd kernels where they fit
      continue;
    }
    auto* in = it->ptr()->as<torch::nn::InstanceNorm2dImpl>();
    if (!in || in->options.track_running_stats()) {
      x = it->forward(x);
      continue;
    }
    std::string act = "none";
    double slope = 0.01;
    if (auto next = std::next(it); next != seq.end()) {
      if (next->ptr()->as<torch::nn::ReLUImpl>()) {
        act = "relu", it = next;
      } else if (auto* lr = next->ptr()->as<torch::nn::LeakyReLUImpl>()) {
        act = "leaky_relu", slope = lr->options.negative_slope(), it = next;
      }
    }
    const bool affine = in->options.affine();
    x = ops::instance_norm_act(x, affine ? c10::optional<at::Tensor>(in->weight) : c10::nullopt,
                               affine ? c10::optional<at::Tensor>(in->bias) : c10::nullopt, in->options.eps(), act, slope);
  }
  return x;
}

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, bool bias) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).padding(kernel / 2).bias(bias));
}

namespace {

// oneDNN's pointwise-fused convolutions (registered by LibTorch's CPU library for inductor).
enum class Pointwise { unary, binary, binary_inplace };
const std::optional<c10::OperatorHandle>& pointwise_op(Pointwise kind) {
  static const std::optional<c10::OperatorHandle> unary = c10::Dispatcher::singleton().findOp({"mkldnn::_convolution_pointwise", ""});
  static const std::optional<c10::OperatorHandle> with_other =
      c10::Dispatcher::singleton().findOp({"mkldnn::_convolution_pointwise", "binary"});
  static const std::optional<c10::OperatorHandle> into_other =
      c10::Dispatcher::singleton().findOp({"mkldnn::_convolution_pointwise_", "binary"});
  return kind == Pointwise::unary ? unary : kind == Pointwise::binary ? with_other : into_other;
}

std::vector<int64_t> padding_of(const torch::nn::detail::ConvNdOptions<2>& o) {
  const auto& p = std::get<torch::ExpandingArray<2>>(o.padding());
  return {p->at(0), p->at(1)};
}

c10::IValue no_scalars() { return c10::List<std::optional<c10::Scalar>>(); }

}  // namespace

bool conv_fusable(const torch::nn::Conv2dImpl& conv, const torch::Tensor& x) {
  static const bool available =
      at::hasMKLDNN() && pointwise_op(Pointwise::unary) && pointwise_op(Pointwise::binary) && pointwise_op(Pointwise::binary_inplace);
  static const bool bf16 = cpu_features().onednn_bf16;  // (the fused op refuses bf16 elsewhere)
  const auto& o = conv.options;
  return available && !torch::GradMode::is_enabled() && x.device().is_cpu() && x.dim() == 4 &&
         (x.scalar_type() == torch::kFloat32 || (x.scalar_type() == torch::kBFloat16 && bf16)) &&
         x.scalar_type() == conv.weight.scalar_type() &&
         o.groups() == 1 && std::holds_alternative<torch::enumtype::kZeros>(o.padding_mode()) &&
         std::holds_alternative<torch::ExpandingArray<2>>(o.padding());
}

// The convolution's arguments of the pointwise ops: W, B, padding, stride, dilation, groups.
static void push_conv(torch::jit::Stack& stack, const torch::nn::Conv2dImpl& conv) {
  const auto& o = conv.options;
  stack.emplace_back(conv.weight);
  stack.emplace_back(o.bias() ? c10::IValue(conv.bias) : c10::IValue());
  stack.emplace_back(padding_of(o));
  stack.emplace_back(std::vector<int64_t>{o.stride()->at(0), o.stride()->at(1)});
  stack.emplace_back(std::vector<int64_t>{o.dilation()->at(0), o.dilation()->at(1)});
  stack.emplace_back(o.groups());
}

namespace {

// A float32 CPU inference convolution, stride 1, no dilation or groups, square zero padding (the
// common ground of tessera's kernels); its padding, or -1.
int64_t plain_padding(const torch::nn::Conv2dImpl& conv, const torch::Tensor& x) {
  const auto& o = conv.options;
  if (torch::GradMode::is_enabled() || !x.device().is_cpu() || x.dim() != 4 || x.scalar_type() != torch::kFloat32 ||
      conv.weight.scalar_type() != torch::kFloat32 || o.groups() != 1 || !std::holds_alternative<torch::enumtype::kZeros>(o.padding_mode()) ||
      !std::holds_alternative<torch::ExpandingArray<2>>(o.padding()) || o.stride()->at(0) != 1 || o.stride()->at(1) != 1 ||
      o.dilation()->at(0) != 1 || o.dilation()->at(1) != 1 || o.kernel_size()->at(0) != o.kernel_size()->at(1))
    return -1;
  const auto pad = padding_of(o);
  return pad[0] == pad[1] ? pad[0] : -1;
}

// The convolution's output shape for x.
std::vector<int64_t> output_sizes(const torch::nn::Conv2dImpl& conv, const torch::Tensor& x) {
  const auto& o = conv.options;
  const auto pad = padding_of(o);
  std::vector<int64_t> out{x.size(0), o.out_channels()};
  for (int d = 0; d < 2; ++d)
    out.push_back((x.size(2 + d) + 2 * pad[d] - o.dilation()->at(d) * (o.kernel_size()->at(d) - 1) - 1) / o.stride()->at(d) + 1);
  return out;
}

c10::optional<at::Tensor> bias_of(const torch::nn::Conv2dImpl& conv) {
  return conv.options.bias() ? c10::optional<at::Tensor>(conv.bias) : c10::nullopt;
}

}  // namespace

bool stem_conv_fits(const torch::nn::Conv2dImpl& conv, const torch::Tensor& x) {
  const int64_t pad = plain_padding(conv, x), k = conv.options.kernel_size()->at(0);
  return pad >= 0 && k % 2 == 1 && pad <= k / 2 && conv.options.in_channels() <= ops::kStemConvMaxChannels &&
         conv.options.out_channels() >= 8;
}

bool winograd_fits(const torch::nn::Conv2dImpl& conv, const torch::Tensor& x) {
  static const bool enabled = env_flag("TESSERA_WINOGRAD", true);
  const int64_t pad = plain_padding(conv, x);
  return enabled && (pad == 0 || pad == 1) && conv.options.kernel_size()->at(0) == 3 && conv.options.in_channels() >= 8;
}

torch::Tensor conv_act(torch::nn::Conv2dImpl& conv, const torch::Tensor& x, const std::string& activation) {
  TORCH_CHECK(activation == "none" || activation == "relu" || activation == "tanh",
              "conv_act: activation must be none, relu or tanh, got ", activation);
  if (stem_conv_fits(conv, x)) return ops::stem_conv(x, conv.weight, bias_of(conv), activation, padding_of(conv.options)[0]);
  if (winograd_fits(conv, x))
    return ops::winograd_conv3x3(x, conv.weight, bias_of(conv), activation, c10::nullopt, false, padding_of(conv.options)[0]);
  if (activation == "none") return conv.forward(x);
  if (!conv_fusable(conv, x)) {
    torch::Tensor y = conv.forward(x);
    return activation == "tanh" ? torch::tanh_(y) : torch::relu_(y);
  }
  torch::jit::Stack stack{x};
  push_conv(stack, conv);
  stack.emplace_back(activation);      // unary_attr
  stack.emplace_back(no_scalars());    // unary_scalars
  stack.emplace_back(std::string());   // unary_algorithm
  pointwise_op(Pointwise::unary)->callBoxed(&stack);
  return stack[0].toTensor();
}

namespace {
// The binary pointwise ops' arguments after the convolution's: an add, nothing after it.
torch::Tensor call_binary_add(Pointwise kind, torch::jit::Stack stack, torch::nn::Conv2dImpl& conv) {
  push_conv(stack, conv);
  stack.emplace_back(std::string("add"));  // binary_attr
  stack.emplace_back(c10::IValue());       // alpha
  stack.emplace_back(c10::IValue());       // unary_attr
  stack.emplace_back(no_scalars());
  stack.emplace_back(c10::IValue());       // unary_algorithm
  pointwise_op(kind)->callBoxed(&stack);
  return stack[0].toTensor();
}
}  // namespace

torch::Tensor conv_add(torch::nn::Conv2dImpl& conv, const torch::Tensor& x, const torch::Tensor& residual) {
  if (winograd_fits(conv, x) && residual.scalar_type() == torch::kFloat32 && residual.sizes() == at::IntArrayRef(output_sizes(conv, x)))
    return ops::winograd_conv3x3(x, conv.weight, bias_of(conv), "none", residual, false, padding_of(conv.options)[0]);
  if (!conv_fusable(conv, x) || residual.scalar_type() != x.scalar_type()) return conv.forward(x) + residual;
  return call_binary_add(Pointwise::binary, {x, residual}, conv);
}

torch::Tensor conv_add_(torch::nn::Conv2dImpl& conv, const torch::Tensor& x, torch::Tensor residual) {
  TORCH_CHECK(!residual.is_alias_of(x), "conv_add_: the residual must not share memory with the convolution's input");
  // The fused kernels write in the residual's own layout and shape: they have to be the convolution's.
  const bool in_shape = residual.sizes() == at::IntArrayRef(output_sizes(conv, x));
  if (winograd_fits(conv, x) && residual.scalar_type() == torch::kFloat32 && in_shape &&
      residual.is_contiguous(torch::MemoryFormat::ChannelsLast))
    return ops::winograd_conv3x3(x, conv.weight, bias_of(conv), "none", residual, /*into_residual=*/true, padding_of(conv.options)[0]);
  if (!conv_fusable(conv, x) || residual.scalar_type() != x.scalar_type()) return residual.add_(conv.forward(x));
  if (!in_shape || !residual.is_contiguous(x.suggest_memory_format()))
    return residual.add_(conv.forward(x));
  return call_binary_add(Pointwise::binary_inplace, {residual, x}, conv);
}

torch::Tensor pixel_shuffle_contiguous(const torch::Tensor& x, int64_t r) {
  if (x.dim() != 4 || x.is_contiguous() || !x.is_contiguous(torch::MemoryFormat::ChannelsLast) || x.size(1) % (r * r) != 0)
    return torch::pixel_shuffle(x, r).contiguous();
  // Channels-last storage is [N][H][W][C][r][r]; the result's is [N][C][H][r][W][r]: one copy.
  const int64_t n = x.size(0), c = x.size(1) / (r * r), h = x.size(2), w = x.size(3);
  return x.permute({0, 2, 3, 1}).reshape({n, h, w, c, r, r}).permute({0, 3, 1, 4, 2, 5}).reshape({n, c, h * r, w * r}).contiguous();
}

bool valid_upscale(int64_t scale) { return scale == 3 || (scale >= 1 && (scale & (scale - 1)) == 0); }

torch::nn::Sequential pixel_shuffle_upsampler(int64_t scale, int64_t features, bool prelu) {
  if (!valid_upscale(scale)) throw ConfigError("upscale factor " + std::to_string(scale) + " is not supported (use 2, 3, 4 or 8)");
  torch::nn::Sequential seq;
  auto stage = [&](int64_t r) {
    seq->push_back(conv(features, r * r * features));
    seq->push_back(torch::nn::PixelShuffle(r));
    if (prelu) seq->push_back(torch::nn::PReLU(torch::nn::PReLUOptions().num_parameters(features)));
  };
  if (scale == 3) stage(3);
  else for (int64_t s = scale; s > 1; s /= 2) stage(2);
  return seq;
}

}  // namespace tessera::nn
