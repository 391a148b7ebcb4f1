#include "tessera/archs/style.h"

#include <torch/nn/functional.h>

#include "tessera/nn/layers.h"
#include "tessera/nn/onnx_emit.h"
#include "tessera/ops/ops.h"

namespace tessera::archs {

namespace F = torch::nn::functional;

ConvLayerImpl::ConvLayerImpl(int64_t in, int64_t out, int64_t k, int64_t s, int64_t up) : kernel(k), stride(s), upsample(up) {
  conv2d = register_module("conv2d", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(s)));
}

torch::Tensor ConvLayerImpl::forward(const torch::Tensor& x_in) {
  torch::Tensor x = x_in;
  if (upsample > 1)
    x = F::interpolate(x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{double(upsample), double(upsample)})
                              .mode(torch::kNearest));
  const int64_t p = kernel / 2;
  x = F::pad(x, F::PadFuncOptions({p, p, p, p}).mode(torch::kReflect));
  return nn::conv_act(*conv2d, x, "none");  // the stem and Winograd kernels in inference, where they fit
}

namespace {
torch::nn::InstanceNorm2d instance_norm(int64_t c) { return torch::nn::InstanceNorm2d(torch::nn::InstanceNorm2dOptions(c).affine(true)); }
// The module's normalisation (its affine parameters, no running statistics) and the activation
// in tessera's fused op: no layout copies in channels-last, one pass instead of three.
torch::Tensor norm_act(torch::nn::InstanceNorm2d& in, const torch::Tensor& x, const std::string& act) {
  return ops::instance_norm_act(x, in->weight, in->bias, in->options.eps(), act);
}
}  // namespace

StyleResidualBlockImpl::StyleResidualBlockImpl(int64_t c) {
  conv1 = register_module("conv1", ConvLayer(c, c, 3, 1));
  in1 = register_module("in1", instance_norm(c));
  conv2 = register_module("conv2", ConvLayer(c, c, 3, 1));
  in2 = register_module("in2", instance_norm(c));
}

torch::Tensor StyleResidualBlockImpl::forward(const torch::Tensor& x) {
  return x + norm_act(in2, conv2(norm_act(in1, conv1(x), "relu")), "none");
}

TransformerNetImpl::TransformerNetImpl(TransformerNetOptions o) : opt(std::move(o)) {
  const int64_t b = opt.base;
  conv1 = register_module("conv1", ConvLayer(3, b, 9, 1));
  in1 = register_module("in1", instance_norm(b));
  conv2 = register_module("conv2", ConvLayer(b, 2 * b, 3, 2));
  in2 = register_module("in2", instance_norm(2 * b));
  conv3 = register_module("conv3", ConvLayer(2 * b, 4 * b, 3, 2));
  in3 = register_module("in3", instance_norm(4 * b));
  for (int64_t i = 0; i < opt.num_res; ++i) res.push_back(register_module("res" + std::to_string(i + 1), StyleResidualBlock(4 * b)));
  deconv1 = register_module("deconv1", ConvLayer(4 * b, 2 * b, 3, 1, 2));
  in4 = register_module("in4", instance_norm(2 * b));
  deconv2 = register_module("deconv2", ConvLayer(2 * b, b, 3, 1, 2));
  in5 = register_module("in5", instance_norm(b));
  deconv3 = register_module("deconv3", ConvLayer(b, 3, 9, 1));
}

torch::Tensor TransformerNetImpl::forward(torch::Tensor x) {
  const int64_t h = x.size(2), w = x.size(3);
  torch::Tensor y = norm_act(in1, conv1(x * opt.pixel_range), "relu");
  y = norm_act(in2, conv2(y), "relu");
  y = norm_act(in3, conv3(y), "relu");
  for (auto& r : res) y = r(y);
  y = norm_act(in4, deconv1(y), "relu");
  y = norm_act(in5, deconv2(y), "relu");
  y = deconv3(y) / opt.pixel_range;
  // Sizes that are not multiples of 4 come back a pixel or two larger: crop to the input's.
  if (y.size(2) != h || y.size(3) != w) y = y.narrow(2, 0, h).narrow(3, 0, w);
  return y;
}

// ---------------- ONNX emitters ----------------
// Reflection Pad + strided Conv, InstanceNormalization (a builtin layer emitter), nearest Resize,
// and a final Slice back to the input's size (the network's own crop).
namespace {

using exporter::add_emitter;
using exporter::emit;
using exporter::OnnxGraph;
using exporter::tensor_init;
using S = const std::string&;

void register_style_emitters() {
  add_emitter<ConvLayerImpl>([](OnnxGraph& g, ConvLayerImpl& c, S x, S p) {
    std::string y = x;
    if (c.upsample > 1) {
      const float scales[4] = {1.0f, 1.0f, static_cast<float>(c.upsample), static_cast<float>(c.upsample)};
      y = g.add_node("Resize", {y, "", g.add_initializer(p + ".scales", {4}, scales)}, p + ".upsample",
                     {{"mode", std::string("nearest")}, {"coordinate_transformation_mode", std::string("asymmetric")},
                      {"nearest_mode", std::string("floor")}});
    }
    const int64_t k = c.kernel, pad = k / 2, pads[8] = {0, 0, pad, pad, 0, 0, pad, pad};
    y = g.add_node("Pad", {y, g.add_initializer_i64(p + ".pads", {8}, pads)}, p + ".pad", {{"mode", std::string("reflect")}});
    return exporter::conv_node(g, y, c.conv2d->weight, c.conv2d->bias, p + ".conv2d", {c.stride, c.stride}, {0, 0});
  });
  add_emitter<StyleResidualBlockImpl>([](OnnxGraph& g, StyleResidualBlockImpl& b, S x, S p) {
    std::string y = g.add_node("Relu", {emit(g, *b.in1, emit(g, *b.conv1, x, p + ".conv1"), p + ".in1")}, p + ".relu");
    y = emit(g, *b.in2, emit(g, *b.conv2, y, p + ".conv2"), p + ".in2");
    return g.add_node("Add", {x, y}, p + ".out");
  });
  add_emitter<TransformerNetImpl>([](OnnxGraph& g, TransformerNetImpl& n, S x, S) {
    const std::string range = g.add_scalar("pixel_range", static_cast<float>(n.opt.pixel_range));
    auto stage = [&](ConvLayer& c, torch::nn::InstanceNorm2d& in, const std::string& y, const std::string& cn, const std::string& inn) {
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
}

}  // namespace

void register_style_archs(ArchRegistry& r) {
  register_style_emitters();
  r.add("transformer_net", [](Cfg& c) -> NetPtr { return std::make_shared<TransformerNetImpl>(read_options<TransformerNetOptions>(c)); },
        [] { return document_options<TransformerNetOptions>(); });
}

}  // namespace tessera::archs
