#include "tessera/archs/image_gan.h"

#include "tessera/nn/onnx_emit.h"

namespace tessera::archs {

namespace {

namespace F = torch::nn::functional;

// junyanz init_weights(init_type, init_gain): conv weights N(0, gain) ('normal'), Xavier-normal with
// that gain, Kaiming-normal (fan in, a = 0) or orthogonal with that gain; biases 0; batch-norm
// weights N(1, gain), biases 0.
void init_weights(torch::nn::Module& m, const std::string& type, double gain) {
  torch::NoGradGuard ng;
  auto init = [&](torch::Tensor& w) {
    if (type == "normal") w.normal_(0.0, gain);
    else if (type == "xavier") torch::nn::init::xavier_normal_(w, gain);
    else if (type == "kaiming") torch::nn::init::kaiming_normal_(w, 0.0, torch::kFanIn);
    else if (type == "orthogonal") torch::nn::init::orthogonal_(w, gain);
    else TORCH_CHECK(false, "unknown init_type ", type);
  };
  for (auto& child : m.modules(/*include_self=*/false)) {
    if (auto* c = child->as<torch::nn::Conv2dImpl>()) {
      init(c->weight);
      if (c->options.bias()) c->bias.zero_();
    } else if (auto* t = child->as<torch::nn::ConvTranspose2dImpl>()) {
      init(t->weight);
      if (t->options.bias()) t->bias.zero_();
    } else if (auto* bn = child->as<torch::nn::BatchNorm2dImpl>()) {
      bn->weight.normal_(1.0, gain);
      bn->bias.zero_();
    }
  }
}

// Appends the norm layer of junyanz's get_norm_layer: instance norm without affine parameters or
// running statistics, or batch norm with both; none appends nothing (so the children's numbers
// are junyanz's only with a norm).
void push_norm(torch::nn::Sequential& seq, const std::string& norm, int64_t c) {
  if (norm == "none") return;
  if (norm == "batch") seq->push_back(torch::nn::BatchNorm2d(c));
  else seq->push_back(torch::nn::InstanceNorm2d(torch::nn::InstanceNorm2dOptions(c).affine(false).track_running_stats(false)));
}

torch::nn::ReflectionPad2d reflect(int64_t p) { return torch::nn::ReflectionPad2d(torch::nn::ReflectionPad2dOptions(p)); }

}  // namespace

// ---------------- ResNet generator ----------------
ResnetBlockImpl::ResnetBlockImpl(int64_t f, const std::string& norm, bool dropout) {
  const bool bias = norm != "batch";
  conv_block = torch::nn::Sequential();
  conv_block->push_back(reflect(1));
  conv_block->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(f, f, 3).bias(bias)));
  push_norm(conv_block, norm, f);
  conv_block->push_back(torch::nn::ReLU());
  if (dropout) conv_block->push_back(torch::nn::Dropout(0.5));
  conv_block->push_back(reflect(1));
  conv_block->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(f, f, 3).bias(bias)));
  push_norm(conv_block, norm, f);
  register_module("conv_block", conv_block);
}

torch::Tensor ResnetBlockImpl::forward(const torch::Tensor& x) { return x + nn::forward_fused(*conv_block, x); }

ResnetGeneratorImpl::ResnetGeneratorImpl(ResnetGeneratorOptions o) : opt(std::move(o)) {
  const int64_t f = opt.num_feat, c = opt.channels;
  const bool bias = opt.norm != "batch";
  model = torch::nn::Sequential();
  model->push_back(reflect(3));
  model->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(c, f, 7).bias(bias)));
  push_norm(model, opt.norm, f);
  model->push_back(torch::nn::ReLU());
  for (int64_t i = 0, m = 1; i < 2; ++i, m *= 2) {
    model->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(f * m, f * m * 2, 3).stride(2).padding(1).bias(bias)));
    push_norm(model, opt.norm, f * m * 2);
    model->push_back(torch::nn::ReLU());
  }
  for (int64_t i = 0; i < opt.num_blocks; ++i) model->push_back(ResnetBlock(f * 4, opt.norm, opt.dropout));
  for (int64_t m = 4; m > 1; m /= 2) {
    model->push_back(torch::nn::ConvTranspose2d(
        torch::nn::ConvTranspose2dOptions(f * m, f * m / 2, 3).stride(2).padding(1).output_padding(1).bias(bias)));
    push_norm(model, opt.norm, f * m / 2);
    model->push_back(torch::nn::ReLU());
  }
  model->push_back(reflect(3));
  model->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(f, c, 7)));
  model->push_back(torch::nn::Tanh());
  register_module("model", model);
  init_weights(*this, opt.init_type, opt.init_gain);
}

torch::Tensor ResnetGeneratorImpl::forward(torch::Tensor x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == opt.channels, "resnet_generator takes [N, ", opt.channels, ", H, W] images, got ", x.sizes());
  TORCH_CHECK(x.size(2) % 4 == 0 && x.size(3) % 4 == 0, "resnet_generator needs sides that are multiples of 4, got ", x.size(2), "x",
              x.size(3));
  return (nn::forward_fused(*model, x * 2 - 1) + 1) * 0.5;
}

// ---------------- PatchGAN ----------------
PatchGanImpl::PatchGanImpl(PatchGanOptions o) : opt(std::move(o)) {
  const int64_t f = opt.num_feat;
  const bool bias = opt.norm != "batch";
  auto lrelu = [] { return torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2)); };
  auto conv = [&](int64_t in, int64_t out, int64_t stride, bool b) {
    return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 4).stride(stride).padding(1).bias(b));
  };
  model = torch::nn::Sequential();
  model->push_back(conv(opt.channels, f, 2, true));
  model->push_back(lrelu());
  int64_t mult = 1;
  for (int64_t n = 1; n <= opt.num_layers; ++n) {
    const int64_t prev = mult;
    mult = std::min<int64_t>(int64_t{1} << n, 8);
    model->push_back(conv(f * prev, f * mult, n < opt.num_layers ? 2 : 1, bias));
    push_norm(model, opt.norm, f * mult);
    model->push_back(lrelu());
  }
  model->push_back(conv(f * mult, 1, 1, true));
  register_module("model", model);
  init_weights(*this, opt.init_type, opt.init_gain);
}

torch::Tensor PatchGanImpl::score(const torch::Tensor& x, const torch::Tensor&) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == opt.channels, "patchgan takes [N, ", opt.channels, ", H, W] images, got ", x.sizes());
  return nn::forward_fused(*model, x * 2 - 1);
}

// ---------------- U-Net discriminator with spectral norm ----------------
UnetDiscriminatorSnImpl::UnetDiscriminatorSnImpl(UnetDiscriminatorOptions o) : opt(std::move(o)) {
  const int64_t f = opt.num_feat;
  conv0 = register_module("conv0", torch::nn::Conv2d(torch::nn::Conv2dOptions(opt.channels, f, 3).padding(1)));
  // in, out, kernel, stride (padding 1, no bias) of conv1 ... conv8
  const int64_t spec[8][4] = {{f, 2 * f, 4, 2}, {2 * f, 4 * f, 4, 2}, {4 * f, 8 * f, 4, 2}, {8 * f, 4 * f, 3, 1},
                              {4 * f, 2 * f, 3, 1}, {2 * f, f, 3, 1}, {f, f, 3, 1}, {f, f, 3, 1}};
  for (int i = 0; i < 8; ++i)
    sn.push_back(register_module("conv" + std::to_string(i + 1),
                                 nn::SnConv2d(torch::nn::Conv2dOptions(spec[i][0], spec[i][1], spec[i][2]).stride(spec[i][3]).padding(1).bias(false))));
  conv9 = register_module("conv9", torch::nn::Conv2d(torch::nn::Conv2dOptions(f, 1, 3).padding(1)));
}

torch::Tensor UnetDiscriminatorSnImpl::score(const torch::Tensor& x, const torch::Tensor&) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == opt.channels, "unet_discriminator_sn takes [N, ", opt.channels, ", H, W] images, got ", x.sizes());
  TORCH_CHECK(x.size(2) % 8 == 0 && x.size(3) % 8 == 0, "unet_discriminator_sn needs sides that are multiples of 8, got ", x.size(2), "x",
              x.size(3));
  auto lrelu = [](const torch::Tensor& t) { return torch::leaky_relu(t, 0.2); };
  auto up = [](const torch::Tensor& t) {
    return F::interpolate(t, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kBilinear).align_corners(false));
  };
  const torch::Tensor x0 = lrelu(conv0(x)), x1 = lrelu(sn[0](x0)), x2 = lrelu(sn[1](x1)), x3 = lrelu(sn[2](x2));
  torch::Tensor h = lrelu(sn[3](up(x3)));
  if (opt.skip_connection) h = h + x2;
  h = lrelu(sn[4](up(h)));
  if (opt.skip_connection) h = h + x1;
  h = lrelu(sn[5](up(h)));
  if (opt.skip_connection) h = h + x0;
  h = lrelu(sn[6](h));
  h = lrelu(sn[7](h));
  return conv9(h);
}

// ---------------- ONNX emitters ----------------
namespace {

using exporter::add_emitter;
using exporter::emit;
using exporter::OnnxGraph;
using S = const std::string&;

// x * 2 - 1 and (y + 1) / 2: the [0, 1] <-> [-1, 1] mapping the networks apply inside.
std::string to_symmetric(OnnxGraph& g, S x) {
  return g.add_node("Sub", {g.add_node("Mul", {x, g.add_scalar("two", 2.0f)}, "input_x2"), g.add_scalar("one", 1.0f)}, "input_symmetric");
}

void register_image_gan_emitters() {
  add_emitter<ResnetBlockImpl>([](OnnxGraph& g, ResnetBlockImpl& b, S x, S p) {
    return g.add_node("Add", {x, emit(g, *b.conv_block, x, exporter::child_prefix(p, "conv_block"))}, p + ".out");
  });
  add_emitter<ResnetGeneratorImpl>([](OnnxGraph& g, ResnetGeneratorImpl& n, S x, S) {
    const std::string y = emit(g, *n.model, to_symmetric(g, x), "model");
    return g.add_node("Mul", {g.add_node("Add", {y, g.add_scalar("one", 1.0f)}, "output_plus1"), g.add_scalar("half", 0.5f)}, "unit_range_output");
  });
  add_emitter<PatchGanImpl>([](OnnxGraph& g, PatchGanImpl& n, S x, S) { return emit(g, *n.model, to_symmetric(g, x), "model"); });
  add_emitter<UnetDiscriminatorSnImpl>([](OnnxGraph& g, UnetDiscriminatorSnImpl& n, S x, S) {
    auto lrelu = [&](S t, S name) { return g.add_node("LeakyRelu", {t}, name, {{"alpha", 0.2f}}); };
    const float scales[4] = {1.0f, 1.0f, 2.0f, 2.0f};
    const std::string sc = g.add_initializer("up_scales", {4}, scales);
    auto up = [&](S t, S name) {
      return g.add_node("Resize", {t, "", sc}, name, {{"mode", std::string("linear")}, {"coordinate_transformation_mode", std::string("half_pixel")}});
    };
    auto conv = [&](int i, S t) { return emit(g, *n.sn[i - 1], t, "conv" + std::to_string(i)); };
    const std::string x0 = lrelu(emit(g, *n.conv0, x, "conv0"), "x0"), x1 = lrelu(conv(1, x0), "x1"), x2 = lrelu(conv(2, x1), "x2"),
                      x3 = lrelu(conv(3, x2), "x3");
    std::string h = lrelu(conv(4, up(x3, "up4")), "x4");
    if (n.opt.skip_connection) h = g.add_node("Add", {h, x2}, "skip4");
    h = lrelu(conv(5, up(h, "up5")), "x5");
    if (n.opt.skip_connection) h = g.add_node("Add", {h, x1}, "skip5");
    h = lrelu(conv(6, up(h, "up6")), "x6");
    if (n.opt.skip_connection) h = g.add_node("Add", {h, x0}, "skip6");
    h = lrelu(conv(8, lrelu(conv(7, h), "x7")), "x8");
    return emit(g, *n.conv9, h, "conv9");
  });
}

}  // namespace

void register_image_gan_archs(ArchRegistry& r) {
  register_image_gan_emitters();
  r.add("resnet_generator", [](Cfg& c) -> NetPtr { return std::make_shared<ResnetGeneratorImpl>(read_options<ResnetGeneratorOptions>(c)); },
        [] { return document_options<ResnetGeneratorOptions>(); });
  r.add("patchgan", [](Cfg& c) -> NetPtr { return std::make_shared<PatchGanImpl>(read_options<PatchGanOptions>(c)); },
        [] { return document_options<PatchGanOptions>(); });
  r.add("unet_discriminator_sn",
        [](Cfg& c) -> NetPtr { return std::make_shared<UnetDiscriminatorSnImpl>(read_options<UnetDiscriminatorOptions>(c)); },
        [] { return document_options<UnetDiscriminatorOptions>(); });
}

}  // namespace tessera::archs
