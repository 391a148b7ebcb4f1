#include "tessera/export/onnx_export.h"

#include <unordered_map>

#include "tessera/archs/generative.h"
#include "tessera/archs/sr.h"
#include "tessera/archs/style.h"
#include "tessera/build_info.h"
#include "tessera/core/config.h"
#include "tessera/io/files.h"

namespace tessera::exporter {

namespace {

std::unordered_map<std::type_index, Emitter>& emitters() {
  static std::unordered_map<std::type_index, Emitter> m;
  return m;
}

std::vector<int64_t> dims_of(const torch::Tensor& t) { return t.sizes().vec(); }

// State of the export in progress: options the emitters need, and the channel count of values
// produced by convolutions (PixelShuffle as ConvTranspose needs its input's channels).
struct ExportState {
  ExportOptions opt;
  std::map<std::string, int64_t> channels;
};
thread_local ExportState* g_state = nullptr;

std::string tensor_init(OnnxGraph& g, const std::string& name, const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  return g.add_initializer(name, dims_of(c), c.data_ptr<float>());
}

// Conv with "same" padding (all tessera convs), from an explicit weight and optional bias.
std::string conv_node(OnnxGraph& g, const std::string& x, const torch::Tensor& w, const torch::Tensor& b,
                      const std::string& prefix) {
  const int64_t k = w.size(2), p = k / 2;
  std::vector<std::string> in{x, tensor_init(g, prefix + ".weight", w)};
  if (b.defined()) in.push_back(tensor_init(g, prefix + ".bias", b));
  std::string out = g.add_node("Conv", in, prefix, {{"kernel_shape", std::vector<int64_t>{k, w.size(3)}},
                                                    {"pads", std::vector<int64_t>{p, w.size(3) / 2, p, w.size(3) / 2}},
                                                    {"strides", std::vector<int64_t>{1, 1}}});
  if (g_state) g_state->channels[out] = w.size(0);
  return out;
}

// Sub(x, mean) * s  or  x * s + mean, with mean shaped [1,C,1,1].
std::string mean_tensor_init(OnnxGraph& g, const std::string& name, const torch::Tensor& mean) {
  return tensor_init(g, name, mean.view({1, -1, 1, 1}));
}

template <class T>
T& as(torch::nn::Module& m) {
  return dynamic_cast<T&>(m);
}

}  // namespace

void register_emitter(std::type_index type, Emitter e) { emitters()[type] = std::move(e); }

std::string emit(OnnxGraph& g, torch::nn::Module& module, const std::string& x, const std::string& prefix) {
  register_builtin_emitters();
  auto it = emitters().find(std::type_index(typeid(module)));
  if (it == emitters().end())
    throw Error("ONNX export: no emitter for module '" + prefix + "' of kind " + module.name());
  return it->second(g, module, x, prefix);
}

void register_builtin_emitters() {
  static bool done = false;
  if (done) return;
  done = true;
  using namespace torch::nn;
  register_emitter(typeid(Conv2dImpl), [](OnnxGraph& g, Module& m, const std::string& x, const std::string& p) {
    auto& c = as<Conv2dImpl>(m);
    const auto& o = c.options;
    TORCH_CHECK(o.stride()->at(0) == 1 && o.dilation()->at(0) == 1 && o.groups() == 1, "ONNX export of '", p,
                "': only stride-1, undilated, ungrouped Conv2d is supported");
    return conv_node(g, x, c.weight, o.bias() ? c.bias : torch::Tensor(), p);
  });
  register_emitter(typeid(nn::WnConv2dImpl), [](OnnxGraph& g, Module& m, const std::string& x, const std::string& p) {
    auto& c = as<nn::WnConv2dImpl>(m);
    torch::NoGradGuard ng;
    return conv_node(g, x, c.weight(), c.bias, p);  // weight norm folded into the weight
  });
  register_emitter(typeid(ReLUImpl), [](OnnxGraph& g, Module&, const std::string& x, const std::string& p) {
    return g.add_node("Relu", {x}, p + ".relu");
  });
  register_emitter(typeid(PReLUImpl), [](OnnxGraph& g, Module& m, const std::string& x, const std::string& p) {
    auto& r = as<PReLUImpl>(m);
    torch::Tensor slope = r.weight.detach().view({-1, 1, 1});  // broadcast over H, W
    return g.add_node("PRelu", {x, tensor_init(g, p + ".weight", slope)}, p);
  });
  register_emitter(typeid(PixelShuffleImpl), [](OnnxGraph& g, Module& m, const std::string& x, const std::string& p) {
    auto& s = as<PixelShuffleImpl>(m);
    const int64_t r = s.options.upscale_factor();
    if (g_state && g_state->opt.pixel_shuffle_as_conv_transpose) {
      auto it = g_state->channels.find(x);
      TORCH_CHECK(it != g_state->channels.end(), "ONNX export of '", p, "': PixelShuffle as ConvTranspose needs a convolution before it");
      const int64_t cin = it->second, cout = cin / (r * r);
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
  register_emitter(typeid(BatchNorm2dImpl), [](OnnxGraph& g, Module& m, const std::string& x, const std::string& p) {
    auto& bn = as<BatchNorm2dImpl>(m);
    const auto& o = bn.options;
    TORCH_CHECK(o.affine() && o.track_running_stats(), "ONNX export of '", p, "': BatchNorm needs affine weights and running stats");
    return g.add_node("BatchNormalization",
                      {x, tensor_init(g, p + ".weight", bn.weight), tensor_init(g, p + ".bias", bn.bias),
                       tensor_init(g, p + ".running_mean", bn.running_mean), tensor_init(g, p + ".running_var", bn.running_var)},
                      p, {{"epsilon", static_cast<float>(o.eps())}});
  });
  register_emitter(typeid(LinearImpl), [](OnnxGraph& g, Module& m, const std::string& x, const std::string& p) {
    auto& l = as<LinearImpl>(m);
    std::vector<std::string> in{x, tensor_init(g, p + ".weight", l.weight)};
    if (l.options.bias()) in.push_back(tensor_init(g, p + ".bias", l.bias));
    return g.add_node("Gemm", in, p, {{"transB", int64_t{1}}});
  });
  register_emitter(typeid(BatchNorm1dImpl), [](OnnxGraph& g, Module& m, const std::string& x, const std::string& p) {
    auto& bn = as<BatchNorm1dImpl>(m);
    return g.add_node("BatchNormalization",
                      {x, tensor_init(g, p + ".weight", bn.weight), tensor_init(g, p + ".bias", bn.bias),
                       tensor_init(g, p + ".running_mean", bn.running_mean), tensor_init(g, p + ".running_var", bn.running_var)},
                      p, {{"epsilon", static_cast<float>(bn.options.eps())}});
  });
  register_emitter(typeid(LeakyReLUImpl), [](OnnxGraph& g, Module& m, const std::string& x, const std::string& p) {
    return g.add_node("LeakyRelu", {x}, p + ".leaky_relu", {{"alpha", static_cast<float>(as<LeakyReLUImpl>(m).options.negative_slope())}});
  });
  register_emitter(typeid(ConvTranspose2dImpl), [](OnnxGraph& g, Module& m, const std::string& x, const std::string& p) {
    auto& c = as<ConvTranspose2dImpl>(m);
    const auto& o = c.options;
    std::vector<std::string> in{x, tensor_init(g, p + ".weight", c.weight)};
    if (o.bias()) in.push_back(tensor_init(g, p + ".bias", c.bias));
    const auto* pads = std::get_if<torch::ExpandingArray<2>>(&o.padding());
    TORCH_CHECK(pads && o.groups() == 1 && o.dilation()->at(0) == 1 && o.output_padding()->at(0) == 0 && o.output_padding()->at(1) == 0,
                "ONNX export of '", p, "': ConvTranspose2d needs explicit padding, no groups, dilation or output padding");
    const int64_t ph = (*pads)->at(0), pw = (*pads)->at(1);
    return g.add_node("ConvTranspose", in, p, {{"kernel_shape", std::vector<int64_t>{o.kernel_size()->at(0), o.kernel_size()->at(1)}},
                                               {"strides", std::vector<int64_t>{o.stride()->at(0), o.stride()->at(1)}},
                                               {"pads", std::vector<int64_t>{ph, pw, ph, pw}}});
  });
  register_emitter(typeid(SequentialImpl), [](OnnxGraph& g, Module& m, const std::string& x, const std::string& p) {
    std::string y = x;
    auto& seq = as<SequentialImpl>(m);
    for (const auto& child : seq.named_children()) y = emit(g, *child.value(), y, p + "." + child.key());
    return y;
  });
  register_emitter(typeid(archs::ResidualBlockNoBNImpl), [](OnnxGraph& g, Module& m, const std::string& x, const std::string& p) {
    auto& b = as<archs::ResidualBlockNoBNImpl>(m);
    std::string r = emit(g, *b.conv2, g.add_node("Relu", {emit(g, *b.conv1, x, p + ".conv1")}, p + ".relu"), p + ".conv2");
    if (b.res_scale != 1.0) r = g.add_node("Mul", {r, g.add_scalar(p + ".res_scale", static_cast<float>(b.res_scale))}, p + ".scaled");
    return g.add_node("Add", {x, r}, p + ".out");
  });
  register_emitter(typeid(archs::WdsrBlockImpl), [](OnnxGraph& g, Module& m, const std::string& x, const std::string& p) {
    auto& b = as<archs::WdsrBlockImpl>(m);
    std::string r = emit(g, *b.body, x, p + ".body");
    if (b.res_scale != 1.0) r = g.add_node("Mul", {r, g.add_scalar(p + ".res_scale", static_cast<float>(b.res_scale))}, p + ".scaled");
    return g.add_node("Add", {r, x}, p + ".out");
  });
  register_emitter(typeid(archs::SrResBlockImpl), [](OnnxGraph& g, Module& m, const std::string& x, const std::string& p) {
    auto& b = as<archs::SrResBlockImpl>(m);
    std::string y = emit(g, *b.bn1, emit(g, *b.conv1, x, p + ".conv1"), p + ".bn1");
    y = emit(g, *b.prelu, y, p + ".prelu");
    y = emit(g, *b.bn2, emit(g, *b.conv2, y, p + ".conv2"), p + ".bn2");
    return g.add_node("Add", {x, y}, p + ".out");
  });
  register_emitter(typeid(archs::EspcnImpl), [](OnnxGraph& g, Module& m, const std::string& x, const std::string& p) {
    auto& n = as<archs::EspcnImpl>(m);
    const std::string act = n.opt.activation == "tanh" ? "Tanh" : "Relu";
    std::string y = g.add_node(act, {emit(g, *n.conv1, x, "conv1")}, "act1");
    y = g.add_node(act, {emit(g, *n.conv2, y, "conv2")}, "act2");
    return emit(g, *n.shuffle, emit(g, *n.conv3, y, "conv3"), "shuffle");
  });
  register_emitter(typeid(archs::EdsrImpl), [](OnnxGraph& g, Module& m, const std::string& x, const std::string& p) {
    auto& n = as<archs::EdsrImpl>(m);
    std::string mean = mean_tensor_init(g, "mean", n.mean);
    std::string range = g.add_scalar("img_range", static_cast<float>(n.opt.img_range));
    std::string y = g.add_node("Mul", {g.add_node("Sub", {x, mean}, "centered"), range}, "scaled_input");
    y = emit(g, *n.conv_first, y, "conv_first");
    std::string body = n.opt.num_block > 0 ? emit(g, *n.body, y, "body") : y;
    std::string res = g.add_node("Add", {emit(g, *n.conv_after_body, body, "conv_after_body"), y}, "res");
    std::string out = emit(g, *n.conv_last, emit(g, *n.upsample, res, "upsample"), "conv_last");
    return g.add_node("Add", {g.add_node("Div", {out, range}, "unscaled"), mean}, "sr");
  });
  register_emitter(typeid(archs::WdsrImpl), [](OnnxGraph& g, Module& m, const std::string& x, const std::string& p) {
    auto& n = as<archs::WdsrImpl>(m);
    std::string mean = mean_tensor_init(g, "mean", n.mean);
    std::string y = g.add_node("Mul", {g.add_node("Sub", {x, mean}, "centered"), g.add_scalar("two", 2.0f)}, "normalized");
    std::string s = emit(g, *n.skip, y, "skip");
    std::string h = emit(g, *n.head, y, "head");
    if (n.opt.num_block > 0) h = emit(g, *n.body, h, "body");
    std::string t = g.add_node("Add", {emit(g, *n.tail, h, "tail"), s}, "sum");
    return g.add_node("Add", {g.add_node("Mul", {t, g.add_scalar("half", 0.5f)}, "halved"), mean}, "sr");
  });
  // Generators: `x` is the latent code; a conditional one reads the "label" graph input.
  register_emitter(typeid(archs::DcganGeneratorImpl), [](OnnxGraph& g, Module& m, const std::string& z, const std::string& p) {
    auto& n = as<archs::DcganGeneratorImpl>(m);
    std::string h = z;
    if (n.opt.num_classes > 0)
      h = g.add_node("Concat", {z, g.add_node("Gather", {tensor_init(g, "embed.weight", n.embed->weight), "label"}, "embedded")}, "z_label",
                     {{"axis", int64_t{1}}});
    h = emit(g, *n.fc, h, "fc");
    if (n.fc_bn) h = emit(g, *n.fc_bn, h, "fc_bn");
    const int64_t shape[] = {-1, n.ch0, 4, 4};
    h = g.add_node("Reshape", {g.add_node("Relu", {h}, "fc_relu"), g.add_initializer_i64("fc_shape", {4}, shape)}, "fc_map");
    return g.add_node("Tanh", {emit(g, *n.conv_out, emit(g, *n.body, h, "body"), "conv_out")}, "image");
  });
  register_emitter(typeid(archs::MlpGeneratorImpl), [](OnnxGraph& g, Module& m, const std::string& z, const std::string& p) {
    return emit(g, *as<archs::MlpGeneratorImpl>(m).net, z, "net");
  });
  register_emitter(typeid(archs::ConvDecoderImpl), [](OnnxGraph& g, Module& m, const std::string& z, const std::string& p) {
    auto& d = as<archs::ConvDecoderImpl>(m);
    const int64_t s = d.opt.image_size / 4, shape[] = {-1, 2 * d.opt.base, s, s};
    std::string h = g.add_node("Relu", {emit(g, *d.fc, z, p + "fc")}, p + "fc_relu");
    h = g.add_node("Reshape", {h, g.add_initializer_i64(p + "fc_shape", {4}, shape)}, p + "fc_map");
    h = g.add_node("Relu", {emit(g, *d.up1, h, p + "up1")}, p + "up1_relu");
    return g.add_node("Sigmoid", {emit(g, *d.up2, h, p + "up2")}, p + "image");
  });
  // The feed-forward style network: reflection Pad + strided Conv, InstanceNormalization, nearest
  // Resize, and a final Slice back to the input's size (the network's own crop).
  register_emitter(typeid(archs::ConvLayerImpl), [](OnnxGraph& g, Module& m, const std::string& x, const std::string& p) {
    auto& c = as<archs::ConvLayerImpl>(m);
    std::string y = x;
    if (c.upsample > 1) {
      const float scales[4] = {1.0f, 1.0f, static_cast<float>(c.upsample), static_cast<float>(c.upsample)};
      y = g.add_node("Resize", {y, "", g.add_initializer(p + ".scales", {4}, scales)}, p + ".upsample",
                     {{"mode", std::string("nearest")}, {"coordinate_transformation_mode", std::string("asymmetric")},
                      {"nearest_mode", std::string("floor")}});
    }
    const int64_t k = c.kernel, pad = k / 2, pads[8] = {0, 0, pad, pad, 0, 0, pad, pad};
    y = g.add_node("Pad", {y, g.add_initializer_i64(p + ".pads", {8}, pads)}, p + ".pad", {{"mode", std::string("reflect")}});
    std::vector<std::string> in{y, tensor_init(g, p + ".conv2d.weight", c.conv2d->weight), tensor_init(g, p + ".conv2d.bias", c.conv2d->bias)};
    return g.add_node("Conv", in, p + ".conv2d", {{"kernel_shape", std::vector<int64_t>{k, k}}, {"pads", std::vector<int64_t>{0, 0, 0, 0}},
                                                  {"strides", std::vector<int64_t>{c.stride, c.stride}}});
  });
  register_emitter(typeid(InstanceNorm2dImpl), [](OnnxGraph& g, Module& m, const std::string& x, const std::string& p) {
    auto& n = as<InstanceNorm2dImpl>(m);
    TORCH_CHECK(n.options.affine() && !n.options.track_running_stats(), "ONNX export of '", p,
                "': only affine instance norm without running statistics is supported");
    return g.add_node("InstanceNormalization", {x, tensor_init(g, p + ".weight", n.weight), tensor_init(g, p + ".bias", n.bias)}, p,
                      {{"epsilon", static_cast<float>(n.options.eps())}});
  });
  register_emitter(typeid(archs::StyleResidualBlockImpl), [](OnnxGraph& g, Module& m, const std::string& x, const std::string& p) {
    auto& b = as<archs::StyleResidualBlockImpl>(m);
    std::string y = g.add_node("Relu", {emit(g, *b.in1, emit(g, *b.conv1, x, p + ".conv1"), p + ".in1")}, p + ".relu");
    y = emit(g, *b.in2, emit(g, *b.conv2, y, p + ".conv2"), p + ".in2");
    return g.add_node("Add", {x, y}, p + ".out");
  });
  register_emitter(typeid(archs::TransformerNetImpl), [](OnnxGraph& g, Module& m, const std::string& x, const std::string& p) {
    auto& n = as<archs::TransformerNetImpl>(m);
    const std::string range = g.add_scalar("pixel_range", static_cast<float>(n.opt.pixel_range));
    auto stage = [&](archs::ConvLayer& c, torch::nn::InstanceNorm2d& in, const std::string& y, const std::string& cn, const std::string& inn) {
      return g.add_node("Relu", {emit(g, *in, emit(g, *c, y, cn), inn)}, inn + ".relu");
    };
    std::string y = g.add_node("Mul", {x, range}, "scaled_input");
    y = stage(n.conv1, n.in1, y, "conv1", "in1");
    y = stage(n.conv2, n.in2, y, "conv2", "in2");
    y = stage(n.conv3, n.in3, y, "conv3", "in3");
    for (size_t i = 0; i < n.res.size(); ++i) y = emit(g, *n.res[i], y, "res" + std::to_string(i + 1));
    y = stage(n.deconv1, n.in4, y, "deconv1", "in4");
    y = stage(n.deconv2, n.in5, y, "deconv2", "in5");
    y = g.add_node("Div", {emit(g, *n.deconv3, y, "deconv3"), range}, "unscaled");
    const int64_t two[1] = {2}, four[1] = {4}, zero2[2] = {0, 0}, axes[2] = {2, 3}, axis0[1] = {0};
    std::string hw = g.add_node("Slice", {g.add_node("Shape", {x}, "input_shape"), g.add_initializer_i64("hw_start", {1}, two),
                                          g.add_initializer_i64("hw_end", {1}, four), g.add_initializer_i64("hw_axis", {1}, axis0)}, "input_hw");
    return g.add_node("Slice", {y, g.add_initializer_i64("crop_start", {2}, zero2), hw, g.add_initializer_i64("crop_axes", {2}, axes)}, "styled");
  });
  register_emitter(typeid(archs::SrResNetImpl), [](OnnxGraph& g, Module& m, const std::string& x, const std::string& p) {
    auto& n = as<archs::SrResNetImpl>(m);
    std::string y = emit(g, *n.prelu_first, emit(g, *n.conv_first, x, "conv_first"), "prelu_first");
    std::string r = n.opt.num_block > 0 ? emit(g, *n.body, y, "body") : y;
    r = emit(g, *n.bn_after_body, emit(g, *n.conv_after_body, r, "conv_after_body"), "bn_after_body");
    r = g.add_node("Add", {r, y}, "res");
    return emit(g, *n.conv_last, emit(g, *n.upsample, r, "upsample"), "conv_last");
  });
}

std::string export_onnx(archs::NetImpl& net, const ExportOptions& opt) {
  if (opt.opset < 13 || opt.opset > 17)
    throw ConfigError("--opset " + std::to_string(opt.opset) + " is not supported; use 13..17 (Debian's ONNX 1.12 stops at 17)");
  torch::NoGradGuard ng;
  const bool was_training = net.is_training();
  net.eval();
  ExportState state{opt, {}};
  g_state = &state;
  struct Reset {
    ~Reset() { g_state = nullptr; }
  } reset;
  OnnxGraph g("tessera_" + net.type(), opt.opset);
  g.set_producer("tessera", TESSERA_VERSION);
  g.set_metadata("tessera.arch", yaml_dump(net.options_yaml()));
  g.set_metadata("tessera.scale", std::to_string(net.scale()));
  if ((opt.height > 0) != (opt.width > 0)) throw ConfigError("a fixed input size needs both height and width");
  auto dim = [](int64_t v, const char* name) -> Dim { return v > 0 ? Dim(v) : Dim(std::string(name)); };
  // Generators and the decoders of autoencoders take a latent code (and a label when conditional).
  if (archs::GeneratorImpl* gen = archs::as_generator(net)) {
    g.add_input("z", {dim(opt.batch, "batch"), gen->latent_dim()});
    if (gen->num_classes() > 0) g.add_input("label", {dim(opt.batch, "batch")}, true);
    std::string y = emit(g, *gen, "z", "");
    g.identity(y, "output");
    std::vector<Dim> out{dim(opt.batch, "batch")};
    for (int64_t d : gen->sample_shape()) out.push_back(d);
    g.add_output("output", out);
    if (was_training) net.train();
    return g.finish();
  }
  g.add_input("input", {dim(opt.batch, "batch"), net.in_channels(), dim(opt.height, "height"), dim(opt.width, "width")});
  std::string y = emit(g, net, "input", "");
  g.identity(y, "output");
  g.add_output("output", {dim(opt.batch, "batch"), net.in_channels(), dim(opt.height * net.scale(), "out_height"),
                          dim(opt.width * net.scale(), "out_width")});
  if (was_training) net.train();
  return g.finish();
}

void export_onnx_file(archs::NetImpl& net, const std::string& path, const ExportOptions& opt) {
  io::write_file_atomic(path, export_onnx(net, opt));
}

}  // namespace tessera::exporter
