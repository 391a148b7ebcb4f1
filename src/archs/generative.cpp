#include "tessera/archs/generative.h"

#include <cmath>

#include "tessera/nn/layers.h"
#include "tessera/nn/onnx_emit.h"

namespace tessera::archs {

namespace {

int64_t stages_for(Cfg& c, int64_t size) {
  if (size < 8 || (size & (size - 1)) != 0) c.fail("image_size", "must be a power of two >= 8, got " + std::to_string(size));
  return static_cast<int64_t>(std::log2(size)) - 2;  // x2 stages between 4x4 and the image
}

}  // namespace

void DcganOptions::check(Cfg& c) const { stages_for(c, image_size); }
void AutoencoderOptions::check(Cfg& c) const {
  if (image_size % 4 != 0) c.fail("image_size", "must be a multiple of 4");
}
void ClassifierOptions::check(Cfg& c) const {
  if (image_size % 4 != 0) c.fail("image_size", "must be a multiple of 4");
}

// ---------------- DCGAN ----------------

DcganGeneratorImpl::DcganGeneratorImpl(DcganOptions o) : opt(std::move(o)) {
  const int64_t n = static_cast<int64_t>(std::log2(opt.image_size)) - 2;
  ch0 = opt.base << (n - 1);
  int64_t in = opt.latent_dim;
  if (opt.num_classes > 0) {
    embed = register_module("embed", torch::nn::Embedding(opt.num_classes, opt.embed_dim));
    in += opt.embed_dim;
  }
  fc = register_module("fc", torch::nn::Linear(in, ch0 * 16));
  if (opt.norm == "batch") fc_bn = register_module("fc_bn", torch::nn::BatchNorm1d(ch0 * 16));
  body = torch::nn::Sequential();
  int64_t ch = ch0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t next = std::max<int64_t>(opt.base / 2, ch / 2);
    body->push_back(torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(ch, next, 4).stride(2).padding(1).bias(opt.norm != "batch")));
    if (opt.norm == "batch") body->push_back(torch::nn::BatchNorm2d(next));
    body->push_back(torch::nn::ReLU());
    ch = next;
  }
  register_module("body", body);
  conv_out = register_module("conv_out", nn::conv(ch, opt.channels, 3));
}

torch::Tensor DcganGeneratorImpl::generate(const torch::Tensor& z, const torch::Tensor& labels) {
  torch::Tensor h = z;
  if (opt.num_classes > 0) {
    TORCH_CHECK(labels.defined(), "this generator is conditional: it needs class labels");
    h = torch::cat({z, embed(labels)}, 1);
  }
  h = fc(h);
  if (fc_bn) h = fc_bn(h);
  h = torch::relu(h).view({-1, ch0, 4, 4});
  return torch::tanh(conv_out(body->forward(h)));
}

DcganCriticImpl::DcganCriticImpl(DcganOptions o) : opt(std::move(o)) {
  const int64_t n = static_cast<int64_t>(std::log2(opt.image_size)) - 2;
  body = torch::nn::Sequential();
  int64_t in = opt.channels + (opt.num_classes > 0 && opt.conditioning == "concat" ? opt.num_classes : 0), ch = opt.base;
  for (int64_t i = 0; i < n; ++i) {
    body->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, ch, 4).stride(2).padding(1)));
    if (i > 0 && opt.norm == "batch") body->push_back(torch::nn::BatchNorm2d(ch));
    if (i > 0 && opt.norm == "layer") body->push_back(torch::nn::GroupNorm(1, ch));  // LayerNorm over C,H,W
    body->push_back(torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2)));
    in = ch;
    ch *= 2;
  }
  register_module("body", body);
  fc = register_module("fc", torch::nn::Linear(in * 16, 1));
  if (opt.num_classes > 0) {
    const int64_t dim = opt.conditioning == "concat" ? opt.num_classes : in * 16;
    embed = register_module("embed", torch::nn::Embedding(opt.num_classes, dim));
    if (opt.conditioning == "concat") {
      torch::NoGradGuard ng;
      embed->weight.copy_(torch::eye(opt.num_classes));  // one-hot label maps
      embed->weight.set_requires_grad(false);
    }
  }
}

torch::Tensor DcganCriticImpl::features(const torch::Tensor& x, const torch::Tensor& labels) {
  torch::Tensor h = x;
  if (opt.num_classes > 0 && opt.conditioning == "concat") {
    TORCH_CHECK(labels.defined(), "this critic is conditional: it needs class labels");
    torch::Tensor maps = embed(labels).view({x.size(0), opt.num_classes, 1, 1}).expand({-1, -1, x.size(2), x.size(3)});
    h = torch::cat({x, maps.to(x.scalar_type())}, 1);
  }
  return body->forward(h).flatten(1);
}

torch::Tensor DcganCriticImpl::score(const torch::Tensor& x, const torch::Tensor& labels) {
  torch::Tensor f = features(x, labels);
  torch::Tensor s = fc(f).squeeze(1);
  if (opt.num_classes > 0 && opt.conditioning == "projection") {
    TORCH_CHECK(labels.defined(), "this critic is conditional: it needs class labels");
    s = s + (embed(labels) * f).sum(1);  // projection discriminator (Miyato & Koyama 2018)
  }
  return s;
}

// ---------------- MLPs ----------------

static torch::nn::Sequential mlp(int64_t in, int64_t hidden, int64_t layers, int64_t out, bool layer_norm) {
  torch::nn::Sequential s;
  for (int64_t i = 0; i < layers; ++i) {
    s->push_back(torch::nn::Linear(i == 0 ? in : hidden, hidden));
    if (layer_norm) s->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({hidden})));
    s->push_back(torch::nn::ReLU());
  }
  s->push_back(torch::nn::Linear(hidden, out));
  return s;
}

MlpGeneratorImpl::MlpGeneratorImpl(MlpOptions o) : opt(std::move(o)) {
  net = register_module("net", mlp(opt.latent_dim, opt.hidden, opt.layers, opt.out_dim, false));
}
MlpCriticImpl::MlpCriticImpl(MlpOptions o) : opt(std::move(o)) {
  net = register_module("net", mlp(opt.in_dim, opt.hidden, opt.layers, 1, opt.norm == "layer"));
}

// ---------------- Autoencoder / VAE ----------------

ConvDecoderImpl::ConvDecoderImpl(AutoencoderOptions o, std::string owner) : opt(std::move(o)), owner_type_(std::move(owner)) {
  const int64_t s = opt.image_size / 4;
  fc = register_module("fc", torch::nn::Linear(opt.latent_dim, 2 * opt.base * s * s));
  up1 = register_module("up1", torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(2 * opt.base, opt.base, 4).stride(2).padding(1)));
  up2 = register_module("up2", torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(opt.base, opt.channels, 4).stride(2).padding(1)));
}

torch::Tensor ConvDecoderImpl::generate(const torch::Tensor& z, const torch::Tensor&) {
  const int64_t s = opt.image_size / 4;
  torch::Tensor h = torch::relu(fc(z)).view({-1, 2 * opt.base, s, s});
  return torch::sigmoid(up2(torch::relu(up1(h))));
}

AutoencoderImpl::AutoencoderImpl(AutoencoderOptions o, bool variational) : opt(std::move(o)), variational_(variational) {
  const int64_t s = opt.image_size / 4;
  conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(opt.channels, opt.base, 4).stride(2).padding(1)));
  conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(opt.base, 2 * opt.base, 4).stride(2).padding(1)));
  fc_code = register_module("fc_code", torch::nn::Linear(2 * opt.base * s * s, (variational_ ? 2 : 1) * opt.latent_dim));
  decoder = register_module("decoder", ConvDecoder(opt, type()));
}

torch::Tensor AutoencoderImpl::encode(const torch::Tensor& x) {
  return fc_code(torch::relu(conv2(torch::relu(conv1(x)))).flatten(1));
}

torch::Tensor AutoencoderImpl::forward(torch::Tensor x) {
  torch::Tensor code = encode(x);
  if (variational_) code = code.narrow(1, 0, opt.latent_dim);  // the mean
  return decode(code);
}

// ---------------- Classifier ----------------

ClassifierImpl::ClassifierImpl(ClassifierOptions o) : opt(std::move(o)) {
  const int64_t s = opt.image_size / 4;
  conv1 = register_module("conv1", nn::conv(opt.channels, opt.base, 3));
  conv2 = register_module("conv2", nn::conv(opt.base, 2 * opt.base, 3));
  fc1 = register_module("fc1", torch::nn::Linear(2 * opt.base * s * s, opt.feature_dim));
  fc2 = register_module("fc2", torch::nn::Linear(opt.feature_dim, opt.num_classes));
}

torch::Tensor ClassifierImpl::features(const torch::Tensor& x) {
  torch::Tensor h = torch::max_pool2d(torch::relu(conv1(x)), 2);
  h = torch::max_pool2d(torch::relu(conv2(h)), 2);
  return torch::relu(fc1(h.flatten(1)));
}

torch::Tensor ClassifierImpl::forward(torch::Tensor x) { return fc2(features(x)); }

GeneratorImpl* as_generator(NetImpl& net) {
  if (auto* g = dynamic_cast<GeneratorImpl*>(&net)) return g;
  if (auto* ae = dynamic_cast<AutoencoderImpl*>(&net)) return ae->decoder.get();
  return nullptr;
}

// ---------------- ONNX emitters ----------------
// Generators read the latent code as `x` and a conditional one's labels from the "label" graph
// input; conditional critics read "label" too.
namespace {

using exporter::add_emitter;
using exporter::emit;
using exporter::OnnxGraph;
using exporter::tensor_init;
using S = const std::string&;

void register_generative_emitters() {
  add_emitter<DcganGeneratorImpl>([](OnnxGraph& g, DcganGeneratorImpl& n, S z, S) {
    std::string h = z;
    if (n.opt.num_classes > 0)
      h = exporter::concat(g, {z, g.add_node("Gather", {tensor_init(g, "embed.weight", n.embed->weight), "label"}, "embedded")}, 1, "z_label");
    h = emit(g, *n.fc, h, "fc");
    if (n.fc_bn) h = emit(g, *n.fc_bn, h, "fc_bn");
    h = exporter::reshape(g, g.add_node("Relu", {h}, "fc_relu"), {-1, n.ch0, 4, 4}, "fc_map");
    return g.add_node("Tanh", {emit(g, *n.conv_out, emit(g, *n.body, h, "body"), "conv_out")}, "image");
  });
  add_emitter<DcganCriticImpl>([](OnnxGraph& g, DcganCriticImpl& n, S x, S) {
    std::string h = x;
    const bool conditional = n.opt.num_classes > 0;
    if (conditional && n.opt.conditioning == "concat") {
      std::string onehot = g.add_node("Gather", {tensor_init(g, "embed.weight", n.embed->weight), "label"}, "label_vector");
      std::string maps = exporter::reshape(g, onehot, {-1, n.opt.num_classes, 1, 1}, "label_column");
      const int64_t size[4] = {1, 1, n.opt.image_size, n.opt.image_size};
      maps = g.add_node("Expand", {maps, g.add_initializer_i64("label_map_shape", {4}, size)}, "label_maps");
      h = exporter::concat(g, {x, maps}, 1, "image_label");
    }
    std::string f = g.add_node("Flatten", {emit(g, *n.body, h, "body")}, "features", {{"axis", int64_t{1}}});
    std::string s = exporter::reshape(g, emit(g, *n.fc, f, "fc"), {-1}, "fc_score");
    if (conditional && n.opt.conditioning == "projection") {
      std::string e = g.add_node("Gather", {tensor_init(g, "embed.weight", n.embed->weight), "label"}, "class_vector");
      const int64_t axis[1] = {1};
      std::string proj = g.add_node("ReduceSum", {g.add_node("Mul", {e, f}, "class_features"), g.add_initializer_i64("projection_axis", {1}, axis)},
                                    "projection", {{"keepdims", int64_t{0}}});
      s = g.add_node("Add", {s, proj}, "score");
    }
    return s;
  });
  add_emitter<VggDiscriminatorImpl>([](OnnxGraph& g, VggDiscriminatorImpl& n, S x, S) {
    std::string h = x;
    for (size_t i = 0; i < n.convs.size(); ++i) {
      h = emit(g, *n.convs[i], h, "conv" + std::to_string(i));
      if (n.bns[i]) h = emit(g, *n.bns[i], h, "bn" + std::to_string(i));
      h = g.add_node("LeakyRelu", {h}, "lrelu" + std::to_string(i), {{"alpha", 0.2f}});
    }
    h = g.add_node("Flatten", {h}, "features", {{"axis", int64_t{1}}});
    h = g.add_node("LeakyRelu", {emit(g, *n.linear1, h, "linear1")}, "lrelu_linear1", {{"alpha", 0.2f}});
    return exporter::reshape(g, emit(g, *n.linear2, h, "linear2"), {-1}, "score");
  });
  add_emitter<MlpGeneratorImpl>([](OnnxGraph& g, MlpGeneratorImpl& n, S z, S) { return emit(g, *n.net, z, "net"); });
  add_emitter<MlpCriticImpl>([](OnnxGraph& g, MlpCriticImpl& n, S x, S) {
    return exporter::reshape(g, emit(g, *n.net, x, "net"), {-1}, "score");
  });
  add_emitter<ConvDecoderImpl>([](OnnxGraph& g, ConvDecoderImpl& d, S z, S p) {
    const int64_t s = d.opt.image_size / 4;
    const std::string q = p.empty() ? "" : p + ".";
    std::string h = g.add_node("Relu", {emit(g, *d.fc, z, q + "fc")}, q + "fc_relu");
    h = exporter::reshape(g, h, {-1, 2 * d.opt.base, s, s}, q + "fc_map");
    h = g.add_node("Relu", {emit(g, *d.up1, h, q + "up1")}, q + "up1_relu");
    return g.add_node("Sigmoid", {emit(g, *d.up2, h, q + "up2")}, q + "image");
  });
  add_emitter<ClassifierImpl>([](OnnxGraph& g, ClassifierImpl& n, S x, S) {
    const exporter::Attrs pool{{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}};
    std::string h = g.add_node("MaxPool", {g.add_node("Relu", {emit(g, *n.conv1, x, "conv1")}, "relu1")}, "pool1", pool);
    h = g.add_node("MaxPool", {g.add_node("Relu", {emit(g, *n.conv2, h, "conv2")}, "relu2")}, "pool2", pool);
    h = g.add_node("Flatten", {h}, "flat", {{"axis", int64_t{1}}});
    h = g.add_node("Relu", {emit(g, *n.fc1, h, "fc1")}, "features");
    return emit(g, *n.fc2, h, "fc2");
  });
}

}  // namespace

// ---------------- VGG-style discriminator (BasicSR) ----------------
void VggDiscriminatorOptions::check(Cfg& c) const {
  if (input_size != 96 && input_size != 128 && input_size != 256)
    c.fail("input_size", "must be 96, 128 or 256, got " + std::to_string(input_size));
}

VggDiscriminatorImpl::VggDiscriminatorImpl(VggDiscriminatorOptions o) : opt(std::move(o)) {
  const int64_t f = opt.num_feat, stages = opt.input_size == 256 ? 6 : 5;
  const int64_t mult[6] = {1, 2, 4, 8, 8, 8};
  int64_t in = opt.channels;
  for (int64_t s = 0; s < stages; ++s) {
    const int64_t out = f * mult[s];
    for (int k = 0; k < 2; ++k) {
      const std::string id = std::to_string(s) + "_" + std::to_string(k);
      auto co = k == 0 ? torch::nn::Conv2dOptions(in, out, 3).stride(1).padding(1) : torch::nn::Conv2dOptions(out, out, 4).stride(2).padding(1);
      convs.push_back(register_module("conv" + id, torch::nn::Conv2d(co.bias(s == 0 && k == 0))));
      bns.push_back(s == 0 && k == 0 ? torch::nn::BatchNorm2d(nullptr) : register_module("bn" + id, torch::nn::BatchNorm2d(out)));
      in = out;
    }
  }
  const int64_t side = opt.input_size / (opt.input_size == 256 ? 64 : 32);
  linear1 = register_module("linear1", torch::nn::Linear(f * 8 * side * side, 100));
  linear2 = register_module("linear2", torch::nn::Linear(100, 1));
}

torch::Tensor VggDiscriminatorImpl::score(const torch::Tensor& x, const torch::Tensor&) {
  TORCH_CHECK(x.size(2) == opt.input_size && x.size(3) == opt.input_size, "vgg_discriminator takes ", opt.input_size, "x",
              opt.input_size, " inputs (input_size), got ", x.size(2), "x", x.size(3));
  torch::Tensor h = x;
  for (size_t i = 0; i < convs.size(); ++i) {
    h = convs[i](h);
    if (bns[i]) h = bns[i](h);
    h = torch::leaky_relu(h, 0.2);
  }
  h = torch::leaky_relu(linear1(h.flatten(1)), 0.2);
  return linear2(h).view({-1});
}

void register_generative_archs(ArchRegistry& r) {
  register_generative_emitters();
  r.add("dcgan_generator", [](Cfg& c) -> NetPtr { return std::make_shared<DcganGeneratorImpl>(read_options<DcganOptions>(c, false)); },
        [] { return document_options<DcganOptions>(false); });
  r.add("dcgan_critic", [](Cfg& c) -> NetPtr { return std::make_shared<DcganCriticImpl>(read_options<DcganOptions>(c, true)); },
        [] { return document_options<DcganOptions>(true); });
  r.add("vgg_discriminator", [](Cfg& c) -> NetPtr { return std::make_shared<VggDiscriminatorImpl>(read_options<VggDiscriminatorOptions>(c)); },
        [] { return document_options<VggDiscriminatorOptions>(); });
  r.add("mlp_generator", [](Cfg& c) -> NetPtr { return std::make_shared<MlpGeneratorImpl>(read_options<MlpOptions>(c, false)); },
        [] { return document_options<MlpOptions>(false); });
  r.add("mlp_critic", [](Cfg& c) -> NetPtr { return std::make_shared<MlpCriticImpl>(read_options<MlpOptions>(c, true)); },
        [] { return document_options<MlpOptions>(true); });
  r.add("conv_autoencoder", [](Cfg& c) -> NetPtr { return std::make_shared<AutoencoderImpl>(read_options<AutoencoderOptions>(c), false); },
        [] { return document_options<AutoencoderOptions>(); });
  r.add("conv_vae", [](Cfg& c) -> NetPtr { return std::make_shared<AutoencoderImpl>(read_options<AutoencoderOptions>(c), true); },
        [] { return document_options<AutoencoderOptions>(); });
  r.add("classifier", [](Cfg& c) -> NetPtr { return std::make_shared<ClassifierImpl>(read_options<ClassifierOptions>(c)); },
        [] { return document_options<ClassifierOptions>(); });
}

}  // namespace tessera::archs
