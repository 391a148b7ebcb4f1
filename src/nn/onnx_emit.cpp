#include "tessera/nn/onnx_emit.h"

#include <unordered_map>

#include "tessera/core/error.h"
#include "tessera/nn/layers.h"

namespace tessera::exporter {

namespace {

std::unordered_map<std::type_index, Emitter>& emitters() {
  static std::unordered_map<std::type_index, Emitter> m;
  return m;
}

struct EmitState {
  EmitOptions opt;
  std::map<std::string, int64_t> channels;  // value -> channel count, for PixelShuffle as ConvTranspose
};
thread_local EmitState* g_state = nullptr;

std::array<int64_t, 2> pair_of(const torch::ExpandingArray<2>& a) { return {a->at(0), a->at(1)}; }

}  // namespace

EmitScope::EmitScope(EmitOptions opt) {
  if (g_state) throw Error("ONNX export: an export is already in progress on this thread");
  g_state = new EmitState{opt, {}};
}
EmitScope::~EmitScope() {
  delete g_state;
  g_state = nullptr;
}
const EmitOptions& emit_options() {
  static const EmitOptions defaults;
  return g_state ? g_state->opt : defaults;
}

void register_emitter(std::type_index type, Emitter e) { emitters()[type] = std::move(e); }

std::string emit(OnnxGraph& g, torch::nn::Module& module, const std::string& x, const std::string& prefix) {
  register_layer_emitters();
  auto it = emitters().find(std::type_index(typeid(module)));
  if (it == emitters().end())
    throw Error("ONNX export: no emitter for module '" + (prefix.empty() ? std::string("<root>") : prefix) + "' of kind " + module.name());
  return it->second(g, module, x, prefix);
}

std::string child_prefix(const std::string& prefix, const std::string& name) { return prefix.empty() ? name : prefix + "." + name; }

std::string tensor_init(OnnxGraph& g, const std::string& name, const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  return g.add_initializer(name, c.sizes().vec(), c.data_ptr<float>());
}

std::string conv_node(OnnxGraph& g, const std::string& x, const torch::Tensor& w, const torch::Tensor& b, const std::string& prefix,
                      std::array<int64_t, 2> stride, std::array<int64_t, 2> padding) {
  const int64_t kh = w.size(2), kw = w.size(3);
  const int64_t ph = padding[0] < 0 ? kh / 2 : padding[0], pw = padding[1] < 0 ? kw / 2 : padding[1];
  std::vector<std::string> in{x, tensor_init(g, prefix + ".weight", w)};
  if (b.defined()) in.push_back(tensor_init(g, prefix + ".bias", b));
  std::string out = g.add_node("Conv", in, prefix, {{"kernel_shape", std::vector<int64_t>{kh, kw}},
                                                    {"pads", std::vector<int64_t>{ph, pw, ph, pw}},
                                                    {"strides", std::vector<int64_t>{stride[0], stride[1]}}});
  if (g_state) g_state->channels[out] = w.size(0);
  return out;
}

int64_t channels_of(const std::string& value) {
  if (!g_state) return 0;
  auto it = g_state->channels.find(value);
  return it == g_state->channels.end() ? 0 : it->second;
}

std::string normalize_over(OnnxGraph& g, const std::string& x, const std::vector<int64_t>& axes, double eps,
                           const torch::Tensor& weight, const torch::Tensor& bias, const std::string& prefix) {
  const Attrs reduce{{"axes", axes}, {"keepdims", int64_t{1}}};
  std::string d = g.add_node("Sub", {x, g.add_node("ReduceMean", {x}, prefix + ".mean", reduce)}, prefix + ".centered");
  std::string var = g.add_node("ReduceMean", {g.add_node("Mul", {d, d}, prefix + ".squared")}, prefix + ".var", reduce);
  std::string sd = g.add_node("Sqrt", {g.add_node("Add", {var, g.add_scalar(prefix + ".eps", static_cast<float>(eps))}, prefix + ".var_eps")},
                              prefix + ".std");
  std::string y = g.add_node("Div", {d, sd}, prefix + ".normalized");
  if (weight.defined()) y = g.add_node("Mul", {y, tensor_init(g, prefix + ".weight", weight)}, prefix + ".scaled");
  if (bias.defined()) y = g.add_node("Add", {y, tensor_init(g, prefix + ".bias", bias)}, prefix + ".shifted");
  return y;
}

std::string concat(OnnxGraph& g, const std::vector<std::string>& xs, int64_t axis, const std::string& name) {
  return g.add_node("Concat", xs, name, {{"axis", axis}});
}

std::string reshape(OnnxGraph& g, const std::string& x, const std::vector<int64_t>& shape, const std::string& name) {
  return g.add_node("Reshape", {x, g.add_initializer_i64(name + ".shape", {static_cast<int64_t>(shape.size())}, shape.data())}, name);
}

void register_layer_emitters() {
  static bool done = false;
  if (done) return;
  done = true;
  using namespace torch::nn;
  using S = const std::string&;
  add_emitter<Conv2dImpl>([](OnnxGraph& g, Conv2dImpl& c, S x, S p) {
    const auto& o = c.options;
    TORCH_CHECK(o.dilation()->at(0) == 1 && o.dilation()->at(1) == 1 && o.groups() == 1 && std::holds_alternative<torch::enumtype::kZeros>(o.padding_mode()),
                "ONNX export of '", p, "': only undilated, ungrouped, zero-padded Conv2d is supported");
    std::array<int64_t, 2> pad{-1, -1};
    if (const auto* e = std::get_if<torch::ExpandingArray<2>>(&o.padding())) pad = pair_of(*e);
    else if (std::holds_alternative<torch::enumtype::kValid>(o.padding())) pad = {0, 0};
    else TORCH_CHECK(o.kernel_size()->at(0) % 2 == 1 && o.kernel_size()->at(1) % 2 == 1, "ONNX export of '", p, "': 'same' padding needs odd kernels");
    return conv_node(g, x, c.weight, o.bias() ? c.bias : torch::Tensor(), p, pair_of(o.stride()), pad);
  });
  add_emitter<nn::WnConv2dImpl>([](OnnxGraph& g, nn::WnConv2dImpl& c, S x, S p) {
    torch::NoGradGuard ng;
    return conv_node(g, x, c.weight(), c.bias, p);  // weight norm folded into the weight
  });
  add_emitter<ReLUImpl>([](OnnxGraph& g, ReLUImpl&, S x, S p) { return g.add_node("Relu", {x}, p + ".relu"); });
  add_emitter<TanhImpl>([](OnnxGraph& g, TanhImpl&, S x, S p) { return g.add_node("Tanh", {x}, p + ".tanh"); });
  add_emitter<SigmoidImpl>([](OnnxGraph& g, SigmoidImpl&, S x, S p) { return g.add_node("Sigmoid", {x}, p + ".sigmoid"); });
  add_emitter<LeakyReLUImpl>([](OnnxGraph& g, LeakyReLUImpl& r, S x, S p) {
    return g.add_node("LeakyRelu", {x}, p + ".leaky_relu", {{"alpha", static_cast<float>(r.options.negative_slope())}});
  });
  add_emitter<PReLUImpl>([](OnnxGraph& g, PReLUImpl& r, S x, S p) {
    torch::Tensor slope = r.weight.detach().view({-1, 1, 1});  // broadcast over H, W
    return g.add_node("PRelu", {x, tensor_init(g, p + ".weight", slope)}, p);
  });
  add_emitter<PixelShuffleImpl>([](OnnxGraph& g, PixelShuffleImpl& s, S x, S p) {
    const int64_t r = s.options.upscale_factor();
    if (emit_options().pixel_shuffle_as_conv_transpose) {
      const int64_t cin = channels_of(x), cout = cin / (r * r);
      TORCH_CHECK(cin > 0, "ONNX export of '", p, "': PixelShuffle as ConvTranspose needs a convolution before it");
      // out[c, r*h + i, r*w + j] = in[c*r*r + i*r + j, h, w]: a one-hot ConvTranspose kernel.
      torch::Tensor w = torch::zeros({cin, cout, r, r});
      for (int64_t c = 0; c < cout; ++c)
        for (int64_t i = 0; i < r; ++i)
          for (int64_t j = 0; j < r; ++j) w[c * r * r + i * r + j][c][i][j] = 1.0f;
      return g.add_node("ConvTranspose", {x, tensor_init(g, p + ".shuffle_kernel", w)}, p + ".pixel_shuffle",
                        {{"kernel_shape", std::vector<int64_t>{r, r}}, {"strides", std::vector<int64_t>{r, r}}});
    }
    return g.add_node("DepthToSpace", {x}, p + ".pixel_shuffle", {{"blocksize", r}, {"mode", std::string("CRD")}});
  });
  auto batch_norm = [](OnnxGraph& g, const torch::Tensor& w, const torch::Tensor& b, const torch::Tensor& mean, const torch::Tensor& var,
                       double eps, S x, S p) {
    return g.add_node("BatchNormalization",
                      {x, tensor_init(g, p + ".weight", w), tensor_init(g, p + ".bias", b), tensor_init(g, p + ".running_mean", mean),
                       tensor_init(g, p + ".running_var", var)},
                      p, {{"epsilon", static_cast<float>(eps)}});
  };
  add_emitter<BatchNorm2dImpl>([batch_norm](OnnxGraph& g, BatchNorm2dImpl& bn, S x, S p) {
    TORCH_CHECK(bn.options.affine() && bn.options.track_running_stats(), "ONNX export of '", p, "': BatchNorm needs affine weights and running stats");
    return batch_norm(g, bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.options.eps(), x, p);
  });
  add_emitter<BatchNorm1dImpl>([batch_norm](OnnxGraph& g, BatchNorm1dImpl& bn, S x, S p) {
    TORCH_CHECK(bn.options.affine() && bn.options.track_running_stats(), "ONNX export of '", p, "': BatchNorm needs affine weights and running stats");
    return batch_norm(g, bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.options.eps(), x, p);
  });
  add_emitter<InstanceNorm2dImpl>([](OnnxGraph& g, InstanceNorm2dImpl& n, S x, S p) {
    TORCH_CHECK(!n.options.track_running_stats(), "ONNX export of '", p, "': only instance norm without running statistics is supported");
    const int64_t c = n.options.num_features();
    // Without affine parameters (CycleGAN's), the op's scale and bias are ones and zeros.
    const torch::Tensor w = n.options.affine() ? n.weight : torch::ones({c}), b = n.options.affine() ? n.bias : torch::zeros({c});
    return g.add_node("InstanceNormalization", {x, tensor_init(g, p + ".weight", w), tensor_init(g, p + ".bias", b)}, p,
                      {{"epsilon", static_cast<float>(n.options.eps())}});
  });
  add_emitter<ReflectionPad2dImpl>([](OnnxGraph& g, ReflectionPad2dImpl& r, S x, S p) {
    const auto& q = *r.options.padding();  // left, right, top, bottom
    const int64_t pads[8] = {0, 0, q[2], q[0], 0, 0, q[3], q[1]};
    return g.add_node("Pad", {x, g.add_initializer_i64(p + ".pads", {8}, pads)}, p + ".pad", {{"mode", std::string("reflect")}});
  });
  add_emitter<DropoutImpl>([](OnnxGraph&, DropoutImpl&, S x, S) { return x; });  // inference: the identity
  add_emitter<nn::SnConv2dImpl>([](OnnxGraph& g, nn::SnConv2dImpl& c, S x, S p) {
    torch::NoGradGuard ng;
    const auto& pad = std::get<torch::ExpandingArray<2>>(c.options.padding());
    // Spectral norm folded into the weight, from the stored u, v (as eval mode computes it).
    return conv_node(g, x, c.normalized_weight(), c.options.bias() ? c.bias : torch::Tensor(), p, pair_of(c.options.stride()), pair_of(pad));
  });
  add_emitter<GroupNormImpl>([](OnnxGraph& g, GroupNormImpl& n, S x, S p) {
    // GroupNormalization is opset 18; one group (LayerNorm over C, H, W) is what the critics use.
    TORCH_CHECK(n.options.num_groups() == 1, "ONNX export of '", p, "': only GroupNorm with one group is supported");
    const bool affine = n.options.affine();
    return normalize_over(g, x, {1, 2, 3}, n.options.eps(), affine ? n.weight.view({-1, 1, 1}) : torch::Tensor(),
                          affine ? n.bias.view({-1, 1, 1}) : torch::Tensor(), p);
  });
  add_emitter<LayerNormImpl>([](OnnxGraph& g, LayerNormImpl& n, S x, S p) {
    std::vector<int64_t> axes;
    for (size_t i = 0; i < n.options.normalized_shape().size(); ++i) axes.push_back(-1 - static_cast<int64_t>(i));
    const bool affine = n.options.elementwise_affine();
    return normalize_over(g, x, axes, n.options.eps(), affine ? n.weight : torch::Tensor(), affine ? n.bias : torch::Tensor(), p);
  });
  add_emitter<LinearImpl>([](OnnxGraph& g, LinearImpl& l, S x, S p) {
    std::vector<std::string> in{x, tensor_init(g, p + ".weight", l.weight)};
    if (l.options.bias()) in.push_back(tensor_init(g, p + ".bias", l.bias));
    return g.add_node("Gemm", in, p, {{"transB", int64_t{1}}});
  });
  add_emitter<ConvTranspose2dImpl>([](OnnxGraph& g, ConvTranspose2dImpl& c, S x, S p) {
    const auto& o = c.options;
    std::vector<std::string> in{x, tensor_init(g, p + ".weight", c.weight)};
    if (o.bias()) in.push_back(tensor_init(g, p + ".bias", c.bias));
    const auto* pads = std::get_if<torch::ExpandingArray<2>>(&o.padding());
    TORCH_CHECK(pads && o.groups() == 1 && o.dilation()->at(0) == 1, "ONNX export of '", p,
                "': ConvTranspose2d needs explicit padding, no groups or dilation");
    const int64_t ph = (*pads)->at(0), pw = (*pads)->at(1);
    return g.add_node("ConvTranspose", in, p, {{"kernel_shape", std::vector<int64_t>{o.kernel_size()->at(0), o.kernel_size()->at(1)}},
                                               {"strides", std::vector<int64_t>{o.stride()->at(0), o.stride()->at(1)}},
                                               {"pads", std::vector<int64_t>{ph, pw, ph, pw}},
                                               {"output_padding", std::vector<int64_t>{o.output_padding()->at(0), o.output_padding()->at(1)}}});
  });
  auto pool_attrs = [](S p, const torch::ExpandingArray<2>& k, const torch::ExpandingArray<2>& s, const torch::ExpandingArray<2>& pad, bool ceil) {
    TORCH_CHECK(!ceil, "ONNX export of '", p, "': ceil_mode pooling is not supported");
    const auto pp = pair_of(pad);
    return Attrs{{"kernel_shape", std::vector<int64_t>{k->at(0), k->at(1)}},
                 {"strides", std::vector<int64_t>{s->at(0), s->at(1)}},
                 {"pads", std::vector<int64_t>{pp[0], pp[1], pp[0], pp[1]}}};
  };
  add_emitter<MaxPool2dImpl>([pool_attrs](OnnxGraph& g, MaxPool2dImpl& m, S x, S p) {
    const auto& o = m.options;
    TORCH_CHECK(o.dilation()->at(0) == 1 && o.dilation()->at(1) == 1, "ONNX export of '", p, "': dilated pooling is not supported");
    return g.add_node("MaxPool", {x}, p + ".max_pool", pool_attrs(p, o.kernel_size(), o.stride(), o.padding(), o.ceil_mode()));
  });
  add_emitter<AvgPool2dImpl>([pool_attrs](OnnxGraph& g, AvgPool2dImpl& m, S x, S p) {
    const auto& o = m.options;
    TORCH_CHECK(!o.divisor_override(), "ONNX export of '", p, "': a divisor override is not supported");
    Attrs a = pool_attrs(p, o.kernel_size(), o.stride(), o.padding(), o.ceil_mode());
    a["count_include_pad"] = int64_t{o.count_include_pad() ? 1 : 0};
    return g.add_node("AveragePool", {x}, p + ".avg_pool", a);
  });
  add_emitter<SequentialImpl>([](OnnxGraph& g, SequentialImpl& seq, S x, S p) {
    std::string y = x;
    for (const auto& child : seq.named_children()) y = emit(g, *child.value(), y, child_prefix(p, child.key()));
    return y;
  });
}

}  // namespace tessera::exporter
