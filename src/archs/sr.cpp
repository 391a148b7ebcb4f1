#include "tessera/archs/sr.h"

#include "tessera/nn/onnx_emit.h"
#include "tessera/ops/ops.h"

namespace tessera::archs {

namespace {

torch::Tensor mean_tensor(const std::array<double, 3>& m, int64_t channels) {
  if (channels != 3) return torch::zeros({1, channels, 1, 1});
  return torch::tensor({m[0], m[1], m[2]}, torch::kFloat32).view({1, 3, 1, 1});
}

void check_scale(Cfg& c, int64_t scale) {
  if (!nn::valid_upscale(scale) || scale < 2) c.fail("scale", "upscale factor " + std::to_string(scale) + " is not supported; use 2, 3, 4 or 8");
}

}  // namespace

void EdsrOptions::check(Cfg& c) const { check_scale(c, scale); }
void SrResNetOptions::check(Cfg& c) const { check_scale(c, scale); }

// ---------------- ESPCN ----------------
EspcnImpl::EspcnImpl(EspcnOptions o) : opt(std::move(o)) {
  conv1 = register_module("conv1", nn::conv(opt.channels, opt.feat1, 5));
  conv2 = register_module("conv2", nn::conv(opt.feat1, opt.feat2, 3));
  conv3 = register_module("conv3", nn::conv(opt.feat2, opt.channels * opt.scale * opt.scale, 3));
  shuffle = register_module("shuffle", torch::nn::PixelShuffle(opt.scale));
}
torch::Tensor EspcnImpl::act(const torch::Tensor& x) const { return opt.activation == "tanh" ? torch::tanh(x) : torch::relu(x); }
torch::Tensor EspcnImpl::forward(torch::Tensor x) {
  if (!torch::GradMode::is_enabled()) {  // inference: fused conv + activation, one copy for the shuffle
    x = nn::conv_act(*conv2, nn::conv_act(*conv1, x, opt.activation), opt.activation);
    return nn::pixel_shuffle_contiguous(nn::conv_act(*conv3, x, "none"), opt.scale);
  }
  x = act(conv1(x));
  x = act(conv2(x));
  return shuffle(conv3(x));
}

// ---------------- EDSR ----------------
ResidualBlockNoBNImpl::ResidualBlockNoBNImpl(int64_t feat, double rs) : res_scale(rs) {
  conv1 = register_module("conv1", nn::conv(feat, feat));
  conv2 = register_module("conv2", nn::conv(feat, feat));
}
torch::Tensor ResidualBlockNoBNImpl::forward(const torch::Tensor& x) {
  if (!torch::GradMode::is_enabled()) {  // inference: oneDNN-fused conv + ReLU and conv + skip
    torch::Tensor h = nn::conv_act(*conv1, x, "relu");
    return res_scale == 1.0 ? nn::conv_add(*conv2, h, x) : ops::scale_add(x, conv2(h), res_scale);
  }
  torch::Tensor r = conv2(torch::relu(conv1(x)));
  return res_scale == 1.0 ? x + r : ops::scale_add(x, r, res_scale);
}
torch::Tensor ResidualBlockNoBNImpl::forward_into(torch::Tensor x) {
  TORCH_CHECK(!torch::GradMode::is_enabled(), "ResidualBlockNoBN::forward_into is for inference");
  if (res_scale != 1.0) return forward(x);
  return nn::conv_add_(*conv2, nn::conv_act(*conv1, x, "relu"), x);
}
EdsrImpl::EdsrImpl(EdsrOptions o) : opt(std::move(o)) {
  mean = mean_tensor(opt.rgb_mean, opt.channels);
  conv_first = register_module("conv_first", nn::conv(opt.channels, opt.num_feat));
  body = torch::nn::Sequential();
  for (int64_t i = 0; i < opt.num_block; ++i) body->push_back(ResidualBlockNoBN(opt.num_feat, opt.res_scale));
  register_module("body", body);
  conv_after_body = register_module("conv_after_body", nn::conv(opt.num_feat, opt.num_feat));
  upsample = register_module("upsample", nn::pixel_shuffle_upsampler(opt.scale, opt.num_feat));
  conv_last = register_module("conv_last", nn::conv(opt.num_feat, opt.channels));
}
torch::Tensor EdsrImpl::forward(torch::Tensor x) {
  torch::Tensor m = mean.to(x.device(), x.scalar_type());
  x = (x - m) * opt.img_range;
  x = nn::conv_act(*conv_first, x, "none");
  torch::Tensor res;
  if (!torch::GradMode::is_enabled() && opt.num_block > 0) {
    // Inference: blocks after the first write over their input (the first's is the global skip),
    // and the global skip is added in place too: no copy of a full-resolution residual.
    torch::Tensor h = x;
    for (size_t i = 0; i < body->size(); ++i) {
      auto& block = *body->ptr<ResidualBlockNoBNImpl>(i);
      h = i == 0 ? block.forward(h) : block.forward_into(h);
    }
    res = nn::conv_add_(*conv_after_body, h, x);
  } else {
    res = nn::conv_add(*conv_after_body, opt.num_block > 0 ? body->forward(x) : x, x);
  }
  x = nn::conv_act(*conv_last, nn::forward_fused(*upsample, res), "none");
  return x / opt.img_range + m;
}

// ---------------- WDSR ----------------
WdsrBlockImpl::WdsrBlockImpl(const WdsrOptions& o) : res_scale(o.res_scale) {
  body = torch::nn::Sequential();
  const int64_t f = o.num_feat, wide = f * o.expansion;
  if (o.variant == "a") {
    body->push_back(nn::WnConv2d(f, wide, 3));
    body->push_back(torch::nn::ReLU());
    body->push_back(nn::WnConv2d(wide, f, 3));
  } else {
    const int64_t lr = static_cast<int64_t>(f * o.low_rank);
    body->push_back(nn::WnConv2d(f, wide, 1));
    body->push_back(torch::nn::ReLU());
    body->push_back(nn::WnConv2d(wide, lr, 1));
    body->push_back(nn::WnConv2d(lr, f, 3));
  }
  register_module("body", body);
}
torch::Tensor WdsrBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor r = body->forward(x);
  return res_scale == 1.0 ? r + x : ops::scale_add(x, r, res_scale);
}
WdsrImpl::WdsrImpl(WdsrOptions o) : opt(std::move(o)) {
  mean = mean_tensor(opt.rgb_mean, opt.channels);
  const int64_t out = opt.scale * opt.scale * opt.channels;
  head = register_module("head", torch::nn::Sequential(nn::WnConv2d(opt.channels, opt.num_feat, 3)));
  body = torch::nn::Sequential();
  for (int64_t i = 0; i < opt.num_block; ++i) body->push_back(WdsrBlock(opt));
  register_module("body", body);
  tail = register_module("tail", torch::nn::Sequential(nn::WnConv2d(opt.num_feat, out, 3), torch::nn::PixelShuffle(opt.scale)));
  skip = register_module("skip", torch::nn::Sequential(nn::WnConv2d(opt.channels, out, 5), torch::nn::PixelShuffle(opt.scale)));
}
torch::Tensor WdsrImpl::forward(torch::Tensor x) {
  torch::Tensor m = mean.to(x.device(), x.scalar_type());
  // The official code maps [0,255] to (x - 255 mean) / 127.5; on [0,1] images that is 2 (x - mean).
  x = (x - m) * 2.0;
  torch::Tensor s = skip->forward(x);
  x = head->forward(x);
  if (opt.num_block > 0) x = body->forward(x);
  x = tail->forward(x) + s;
  return x * 0.5 + m;
}

// ---------------- SRResNet ----------------
SrResBlockImpl::SrResBlockImpl(int64_t f) {
  conv1 = register_module("conv1", nn::conv(f, f));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(f));
  prelu = register_module("prelu", torch::nn::PReLU(torch::nn::PReLUOptions().num_parameters(f)));
  conv2 = register_module("conv2", nn::conv(f, f));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(f));
}
torch::Tensor SrResBlockImpl::forward(const torch::Tensor& x) {
  return x + bn2(conv2(prelu(bn1(conv1(x)))));
}
SrResNetImpl::SrResNetImpl(SrResNetOptions o) : opt(std::move(o)) {
  conv_first = register_module("conv_first", nn::conv(opt.channels, opt.num_feat, 9));
  prelu_first = register_module("prelu_first", torch::nn::PReLU(torch::nn::PReLUOptions().num_parameters(opt.num_feat)));
  body = torch::nn::Sequential();
  for (int64_t i = 0; i < opt.num_block; ++i) body->push_back(SrResBlock(opt.num_feat));
  register_module("body", body);
  conv_after_body = register_module("conv_after_body", nn::conv(opt.num_feat, opt.num_feat));
  bn_after_body = register_module("bn_after_body", torch::nn::BatchNorm2d(opt.num_feat));
  upsample = register_module("upsample", nn::pixel_shuffle_upsampler(opt.scale, opt.num_feat, true));
  conv_last = register_module("conv_last", nn::conv(opt.num_feat, opt.channels, 9));
}
torch::Tensor SrResNetImpl::forward(torch::Tensor x) {
  x = prelu_first(conv_first(x));
  torch::Tensor r = opt.num_block > 0 ? body->forward(x) : x;
  r = bn_after_body(conv_after_body(r)) + x;
  return conv_last(upsample->forward(r));
}

// ---------------- RRDBNet ----------------
void RrdbNetOptions::check(Cfg& c) const {
  if (scale != 1 && scale != 2 && scale != 4) c.fail("scale", "RRDBNet upscales by 1, 2 or 4 (BasicSR's), got " + std::to_string(scale));
}

namespace {
// BasicSR's default_init_weights(..., scale=0.1): Kaiming normal (fan-in, a = 0), times 0.1, zero bias.
torch::nn::Conv2d scaled_init_conv(int64_t in, int64_t out) {
  torch::nn::Conv2d c = nn::conv(in, out);
  torch::NoGradGuard ng;
  torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanIn, torch::kReLU);
  c->weight.mul_(0.1);
  c->bias.zero_();
  return c;
}
torch::Tensor lrelu(const torch::Tensor& x) { return torch::leaky_relu(x, 0.2); }
torch::Tensor up2(const torch::Tensor& x) {
  return torch::upsample_nearest2d(x, std::vector<int64_t>{x.size(2) * 2, x.size(3) * 2});
}
}  // namespace

ResidualDenseBlockImpl::ResidualDenseBlockImpl(int64_t f, int64_t g) {
  conv1 = register_module("conv1", scaled_init_conv(f, g));
  conv2 = register_module("conv2", scaled_init_conv(f + g, g));
  conv3 = register_module("conv3", scaled_init_conv(f + 2 * g, g));
  conv4 = register_module("conv4", scaled_init_conv(f + 3 * g, g));
  conv5 = register_module("conv5", scaled_init_conv(f + 4 * g, f));
}
torch::Tensor ResidualDenseBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor x1 = lrelu(conv1(x));
  torch::Tensor x2 = lrelu(conv2(torch::cat({x, x1}, 1)));
  torch::Tensor x3 = lrelu(conv3(torch::cat({x, x1, x2}, 1)));
  torch::Tensor x4 = lrelu(conv4(torch::cat({x, x1, x2, x3}, 1)));
  return ops::scale_add(x, conv5(torch::cat({x, x1, x2, x3, x4}, 1)), 0.2);  // x + 0.2 x5
}
RrdbImpl::RrdbImpl(int64_t f, int64_t g) {
  rdb1 = register_module("rdb1", ResidualDenseBlock(f, g));
  rdb2 = register_module("rdb2", ResidualDenseBlock(f, g));
  rdb3 = register_module("rdb3", ResidualDenseBlock(f, g));
}
torch::Tensor RrdbImpl::forward(const torch::Tensor& x) { return ops::scale_add(x, rdb3(rdb2(rdb1(x))), 0.2); }

RrdbNetImpl::RrdbNetImpl(RrdbNetOptions o) : opt(std::move(o)) {
  const int64_t u = unshuffle(), f = opt.num_feat;
  conv_first = register_module("conv_first", nn::conv(opt.channels * u * u, f));
  body = torch::nn::Sequential();
  for (int64_t i = 0; i < opt.num_block; ++i) body->push_back(Rrdb(f, opt.num_grow_ch));
  register_module("body", body);
  conv_body = register_module("conv_body", nn::conv(f, f));
  conv_up1 = register_module("conv_up1", nn::conv(f, f));
  conv_up2 = register_module("conv_up2", nn::conv(f, f));
  conv_hr = register_module("conv_hr", nn::conv(f, f));
  conv_last = register_module("conv_last", nn::conv(f, opt.channels));
}
torch::Tensor RrdbNetImpl::forward(torch::Tensor x) {
  const int64_t u = unshuffle();
  if (u > 1) {
    TORCH_CHECK(x.size(2) % u == 0 && x.size(3) % u == 0, "rrdbnet x", opt.scale, " needs input sides divisible by ", u, ", got ",
                x.size(2), "x", x.size(3));
    x = torch::pixel_unshuffle(x, u);
  }
  torch::Tensor feat = conv_first(x);
  torch::Tensor body_feat = conv_body(opt.num_block > 0 ? body->forward(feat) : feat);
  feat = feat + body_feat;
  feat = lrelu(conv_up1(up2(feat)));
  feat = lrelu(conv_up2(up2(feat)));
  return conv_last(lrelu(conv_hr(feat)));
}

// ---------------- ONNX emitters ----------------
namespace {

using exporter::add_emitter;
using exporter::emit;
using exporter::OnnxGraph;
using S = const std::string&;

std::string leaky(OnnxGraph& g, S x, S name) { return g.add_node("LeakyRelu", {x}, name, {{"alpha", 0.2f}}); }
std::string nearest2(OnnxGraph& g, S x, S name) {
  const float scales[4] = {1.f, 1.f, 2.f, 2.f};
  return g.add_node("Resize", {x, "", g.add_initializer(name + ".scales", {4}, scales)}, name,
                    {{"mode", std::string("nearest")}, {"coordinate_transformation_mode", std::string("asymmetric")},
                     {"nearest_mode", std::string("floor")}});
}
// x + 0.2 r
std::string scaled_residual(OnnxGraph& g, S x, S r, S p) {
  return g.add_node("Add", {x, g.add_node("Mul", {r, g.add_scalar(p + ".res_scale", 0.2f)}, p + ".scaled")}, p + ".out");
}

void register_sr_emitters() {
  add_emitter<ResidualDenseBlockImpl>([](OnnxGraph& g, ResidualDenseBlockImpl& b, S x, S p) {
    std::vector<std::string> feats{x};
    torch::nn::Conv2d convs[] = {b.conv1, b.conv2, b.conv3, b.conv4};
    for (int k = 0; k < 4; ++k) {
      const std::string n = p + ".conv" + std::to_string(k + 1);
      std::string in = feats.size() == 1 ? x : exporter::concat(g, feats, 1, n + ".in");
      feats.push_back(leaky(g, emit(g, *convs[k], in, n), n + ".lrelu"));
    }
    std::string x5 = emit(g, *b.conv5, exporter::concat(g, feats, 1, p + ".conv5.in"), p + ".conv5");
    return scaled_residual(g, x, x5, p);
  });
  add_emitter<RrdbImpl>([](OnnxGraph& g, RrdbImpl& b, S x, S p) {
    std::string y = emit(g, *b.rdb1, x, p + ".rdb1");
    y = emit(g, *b.rdb2, y, p + ".rdb2");
    return scaled_residual(g, x, emit(g, *b.rdb3, y, p + ".rdb3"), p);
  });
  add_emitter<RrdbNetImpl>([](OnnxGraph& g, RrdbNetImpl& n, S x, S) {
    std::string y = x;
    const int64_t u = n.unshuffle(), c = n.opt.channels;
    if (u > 1) {
      // PyTorch's pixel_unshuffle orders channels (c, i, j); SpaceToDepth orders them (i, j, c): a
      // fixed channel permutation after it (sizes stay dynamic).
      y = g.add_node("SpaceToDepth", {y}, "unshuffle.s2d", {{"blocksize", u}});
      std::vector<int64_t> perm;
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t k = 0; k < u * u; ++k) perm.push_back(k * c + ch);
      y = g.add_node("Gather", {y, g.add_initializer_i64("unshuffle.perm", {static_cast<int64_t>(perm.size())}, perm.data())}, "unshuffle",
                     {{"axis", int64_t{1}}});
    }
    std::string feat = emit(g, *n.conv_first, y, "conv_first");
    std::string body = n.opt.num_block > 0 ? emit(g, *n.body, feat, "body") : feat;
    feat = g.add_node("Add", {feat, emit(g, *n.conv_body, body, "conv_body")}, "trunk");
    feat = leaky(g, emit(g, *n.conv_up1, nearest2(g, feat, "up1"), "conv_up1"), "lrelu_up1");
    feat = leaky(g, emit(g, *n.conv_up2, nearest2(g, feat, "up2"), "conv_up2"), "lrelu_up2");
    return emit(g, *n.conv_last, leaky(g, emit(g, *n.conv_hr, feat, "conv_hr"), "lrelu_hr"), "conv_last");
  });
  add_emitter<ResidualBlockNoBNImpl>([](OnnxGraph& g, ResidualBlockNoBNImpl& b, S x, S p) {
    std::string r = emit(g, *b.conv2, g.add_node("Relu", {emit(g, *b.conv1, x, p + ".conv1")}, p + ".relu"), p + ".conv2");
    if (b.res_scale != 1.0) r = g.add_node("Mul", {r, g.add_scalar(p + ".res_scale", static_cast<float>(b.res_scale))}, p + ".scaled");
    return g.add_node("Add", {x, r}, p + ".out");
  });
  add_emitter<WdsrBlockImpl>([](OnnxGraph& g, WdsrBlockImpl& b, S x, S p) {
    std::string r = emit(g, *b.body, x, p + ".body");
    if (b.res_scale != 1.0) r = g.add_node("Mul", {r, g.add_scalar(p + ".res_scale", static_cast<float>(b.res_scale))}, p + ".scaled");
    return g.add_node("Add", {r, x}, p + ".out");
  });
  add_emitter<SrResBlockImpl>([](OnnxGraph& g, SrResBlockImpl& b, S x, S p) {
    std::string y = emit(g, *b.bn1, emit(g, *b.conv1, x, p + ".conv1"), p + ".bn1");
    y = emit(g, *b.prelu, y, p + ".prelu");
    y = emit(g, *b.bn2, emit(g, *b.conv2, y, p + ".conv2"), p + ".bn2");
    return g.add_node("Add", {x, y}, p + ".out");
  });
  add_emitter<EspcnImpl>([](OnnxGraph& g, EspcnImpl& n, S x, S) {
    const std::string act = n.opt.activation == "tanh" ? "Tanh" : "Relu";
    std::string y = g.add_node(act, {emit(g, *n.conv1, x, "conv1")}, "act1");
    y = g.add_node(act, {emit(g, *n.conv2, y, "conv2")}, "act2");
    return emit(g, *n.shuffle, emit(g, *n.conv3, y, "conv3"), "shuffle");
  });
  add_emitter<EdsrImpl>([](OnnxGraph& g, EdsrImpl& n, S x, S) {
    std::string mean = exporter::tensor_init(g, "mean", n.mean.view({1, -1, 1, 1}));
    std::string range = g.add_scalar("img_range", static_cast<float>(n.opt.img_range));
    std::string y = g.add_node("Mul", {g.add_node("Sub", {x, mean}, "centered"), range}, "scaled_input");
    y = emit(g, *n.conv_first, y, "conv_first");
    std::string body = n.opt.num_block > 0 ? emit(g, *n.body, y, "body") : y;
    std::string res = g.add_node("Add", {emit(g, *n.conv_after_body, body, "conv_after_body"), y}, "res");
    std::string out = emit(g, *n.conv_last, emit(g, *n.upsample, res, "upsample"), "conv_last");
    return g.add_node("Add", {g.add_node("Div", {out, range}, "unscaled"), mean}, "sr");
  });
  add_emitter<WdsrImpl>([](OnnxGraph& g, WdsrImpl& n, S x, S) {
    std::string mean = exporter::tensor_init(g, "mean", n.mean.view({1, -1, 1, 1}));
    std::string y = g.add_node("Mul", {g.add_node("Sub", {x, mean}, "centered"), g.add_scalar("two", 2.0f)}, "normalized");
    std::string s = emit(g, *n.skip, y, "skip");
    std::string h = emit(g, *n.head, y, "head");
    if (n.opt.num_block > 0) h = emit(g, *n.body, h, "body");
    std::string t = g.add_node("Add", {emit(g, *n.tail, h, "tail"), s}, "sum");
    return g.add_node("Add", {g.add_node("Mul", {t, g.add_scalar("half", 0.5f)}, "halved"), mean}, "sr");
  });
  add_emitter<SrResNetImpl>([](OnnxGraph& g, SrResNetImpl& n, S x, S) {
    std::string y = emit(g, *n.prelu_first, emit(g, *n.conv_first, x, "conv_first"), "prelu_first");
    std::string r = n.opt.num_block > 0 ? emit(g, *n.body, y, "body") : y;
    r = emit(g, *n.bn_after_body, emit(g, *n.conv_after_body, r, "conv_after_body"), "bn_after_body");
    r = g.add_node("Add", {r, y}, "res");
    return emit(g, *n.conv_last, emit(g, *n.upsample, r, "upsample"), "conv_last");
  });
}

}  // namespace

void register_sr_archs(ArchRegistry& r) {
  register_sr_emitters();
  r.add("espcn", [](Cfg& c) -> NetPtr { return std::make_shared<EspcnImpl>(read_options<EspcnOptions>(c)); },
        [] { return document_options<EspcnOptions>(); });
  r.add("edsr", [](Cfg& c) -> NetPtr { return std::make_shared<EdsrImpl>(read_options<EdsrOptions>(c)); },
        [] { return document_options<EdsrOptions>(); });
  r.add("wdsr", [](Cfg& c) -> NetPtr { return std::make_shared<WdsrImpl>(read_options<WdsrOptions>(c)); },
        [] { return document_options<WdsrOptions>(); });
  r.add("srresnet", [](Cfg& c) -> NetPtr { return std::make_shared<SrResNetImpl>(read_options<SrResNetOptions>(c)); },
        [] { return document_options<SrResNetOptions>(); });
  r.add("rrdbnet", [](Cfg& c) -> NetPtr { return std::make_shared<RrdbNetImpl>(read_options<RrdbNetOptions>(c)); },
        [] { return document_options<RrdbNetOptions>(); });
}

}  // namespace tessera::archs
