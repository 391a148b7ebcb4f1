#include <catch2/catch.hpp>
#include <opencv2/dnn.hpp>

#include <fstream>
#include <sstream>

#include "../support/support.h"
#include "tessera/archs/checkpoint.h"
#include "tessera/archs/inference.h"
#include "tessera/archs/sr.h"
#include "tessera/export/onnx_export.h"
#include "tessera/io/files.h"
#include "tessera/nn/layers.h"

using namespace tessera;

namespace {

archs::NetPtr build(const std::string& yaml) { return archs::build_arch(Cfg(YAML::Load(yaml), "network", "test")); }

// Small variants of every registered arch (one per variant and upscale path).
const std::vector<std::string> kSmallArchs = {
    "{type: espcn, scale: 3, feat1: 8, feat2: 4}",
    "{type: espcn, scale: 2, feat1: 8, feat2: 4, activation: relu}",
    "{type: edsr, scale: 2, num_feat: 8, num_block: 2}",
    "{type: edsr, scale: 3, num_feat: 8, num_block: 1, res_scale: 0.1}",
    "{type: edsr, scale: 4, num_feat: 8, num_block: 1}",
    "{type: wdsr, variant: a, scale: 2, num_feat: 8, num_block: 2}",
    "{type: wdsr, variant: b, scale: 3, num_feat: 10, num_block: 2, res_scale: 0.5}",
    "{type: srresnet, scale: 4, num_feat: 8, num_block: 2}",
    "{type: srresnet, scale: 2, num_feat: 8, num_block: 1}",
};

void randomise_bn(archs::NetImpl& net) {
  torch::NoGradGuard ng;
  for (auto& b : net.named_buffers()) {
    if (b.key().find("running_mean") != std::string::npos) b.value().normal_(0, 0.1);
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 1.5);
  }
}

// Max abs difference between OpenCV dnn running the ONNX file and LibTorch on a [1,3,h,w] input.
float opencv_vs_libtorch(archs::NetImpl& net, const std::string& onnx_path, int h, int w) {
  cv::dnn::Net cvnet = cv::dnn::readNetFromONNX(onnx_path);
  torch::Tensor x = torch::rand({1, 3, h, w});
  torch::Tensor ref;
  {
    torch::NoGradGuard ng;
    ref = net.forward(x).contiguous();
  }
  int sizes[] = {1, 3, h, w};
  cvnet.setInput(cv::Mat(4, sizes, CV_32F, x.data_ptr<float>()));
  cv::Mat out = cvnet.forward();
  REQUIRE(out.total() == static_cast<size_t>(ref.numel()));
  return (torch::from_blob(out.ptr<float>(), ref.sizes(), torch::kFloat32) - ref).abs().max().item<float>();
}

}  // namespace

TEST_CASE("every registered arch: defaults build, forward and backward run, weights round trip", "[archs][registry]") {
  archs::register_builtin_archs();
  auto dir = test::temp_dir("arch_registry");
  const auto names = archs::arch_registry().names();
  REQUIRE(names.size() >= 14);
  for (const auto& name : names) {
    INFO("arch " << name);
    torch::manual_seed(0);
    auto net = build("{type: " + name + "}");
    std::vector<int64_t> shape{2};
    for (int64_t d : net->input_shape()) shape.push_back(d < 0 ? 32 : d);  // 32: VGG's five poolings
    torch::Tensor x = net->task() == "generator" ? torch::randn(shape) : torch::rand(shape);
    net->train();
    torch::Tensor y = net->forward(x);
    REQUIRE(torch::isfinite(y).all().item<bool>());
    if (net->task() == "image_to_image")
      REQUIRE(y.sizes() == torch::IntArrayRef({2, net->in_channels(), shape[2] * net->scale(), shape[3] * net->scale()}));
    y.square().mean().backward();
    bool grads = false;
    for (const auto& p : net->parameters()) grads |= p.grad().defined() && p.grad().abs().sum().item<double>() > 0;
    REQUIRE(grads);
    // The weights file alone rebuilds the same network (eval mode: BN statistics, no dropout).
    net->eval();
    const auto path = (dir / (name + ".safetensors")).string();
    io::save_safetensors(path, archs::net_weights(*net));
    auto back = archs::load_net_checkpoint(path);
    REQUIRE(back->type() == net->type());
    REQUIRE(back->task() == net->task());
    torch::NoGradGuard ng;
    REQUIRE(torch::equal(net->forward(x), back->forward(x)));
  }
}

TEST_CASE("parameter counts match the papers", "[archs]") {
  // EDSR baseline x2: 1.37 M; EDSR full x4: 43 M; WDSR-A (16 blocks, 32 features, x4 expansion): 1.19 M.
  REQUIRE(std::abs(archs::count_parameters(*build("{type: edsr, scale: 2}")) - 1'369'859) < 1000);
  REQUIRE(std::abs(archs::count_parameters(*build("{type: edsr, scale: 4, num_feat: 256, num_block: 32, res_scale: 0.1}")) / 1e6 - 43.1) < 0.1);
  REQUIRE(std::abs(archs::count_parameters(*build("{type: wdsr, variant: a, scale: 2}")) / 1e6 - 1.19) < 0.01);
}

TEST_CASE("weights round trip through a self-describing safetensors file", "[archs][checkpoint]") {
  auto dir = test::temp_dir("arch_roundtrip");
  for (const auto& y : kSmallArchs) {
    INFO(y);
    auto net = build(y);
    randomise_bn(*net);
    net->eval();
    const auto path = (dir / "w.safetensors").string();
    io::save_safetensors(path, archs::net_weights(*net));
    auto back = archs::load_net_checkpoint(path);  // rebuilt from the metadata alone
    REQUIRE(back->type() == net->type());
    auto x = torch::rand({2, 3, 9, 11});
    torch::NoGradGuard ng;
    REQUIRE(torch::equal(net->forward(x), back->forward(x)));
  }
}

TEST_CASE("loading mismatched weights names the problem", "[archs][checkpoint]") {
  auto a = build("{type: edsr, num_feat: 8, num_block: 2}");
  auto b = build("{type: edsr, num_feat: 8, num_block: 3}");
  REQUIRE_THROWS_WITH(archs::load_net_weights(*b, archs::net_weights(*a), "f.safetensors"),
                      Catch::Matchers::Contains("missing: body.2.conv1.bias, body.2.conv1.weight"));
}

TEST_CASE("tiled inference equals whole-image inference", "[archs][inference]") {
  for (const auto& y : {kSmallArchs[2], kSmallArchs[5], kSmallArchs[7]}) {
    INFO(y);
    auto net = build(y);
    net->eval();
    auto lq = torch::rand({3, 45, 38});
    auto whole = archs::run_image(*net, lq);
    auto tiled = archs::run_image(*net, lq, {16, 12});
    REQUIRE((whole - tiled).abs().max().item<float>() < 1.0f / 255);
  }
}

TEST_CASE("ONNX export passes the checker and matches LibTorch in OpenCV's dnn", "[archs][onnx]") {
  auto dir = test::temp_dir("onnx_opencv");
  for (const auto& y : kSmallArchs) {
    INFO(y);
    auto net = build(y);
    randomise_bn(*net);
    net->eval();
    const auto path = (dir / "m.onnx").string();
    // OpenCV 4.6 needs static shapes for DepthToSpace (onnxruntime runs the dynamic graph: tests/python).
    exporter::export_onnx_file(*net, path, {17, 1, 13, 17});
    REQUIRE(opencv_vs_libtorch(*net, path, 13, 17) <= 1e-4f);
  }
}

TEST_CASE("with PixelShuffle as ConvTranspose OpenCV's dnn runs the dynamic graph at any size", "[archs][onnx]") {
  auto dir = test::temp_dir("onnx_opencv_dynamic");
  for (const auto& y : kSmallArchs) {
    INFO(y);
    auto net = build(y);
    randomise_bn(*net);
    net->eval();
    const auto path = (dir / "m.onnx").string();
    exporter::ExportOptions opt;
    opt.pixel_shuffle_as_conv_transpose = true;
    exporter::export_onnx_file(*net, path, opt);
    for (auto [h, w] : {std::pair<int, int>{13, 17}, {20, 9}}) REQUIRE(opencv_vs_libtorch(*net, path, h, w) <= 1e-4f);
  }
}

TEST_CASE("ONNX export rejects unsupported opsets", "[archs][onnx]") {
  auto net = build(kSmallArchs[0]);
  REQUIRE_THROWS_AS(exporter::export_onnx(*net, {18}), ConfigError);
}

TEST_CASE("each SR arch's receptive radius is exact, and tiles with that overlap match whole images", "[archs][tiles]") {
  torch::manual_seed(3);
  for (const auto& y : kSmallArchs) {
    INFO(y);
    archs::NetPtr net = build(y);
    randomise_bn(*net);
    net->eval();
    const int64_t radius = net->receptive_radius(), s = net->scale();
    REQUIRE(radius > 0);
    // Measured: the input pixels whose gradient reaches one output pixel (ceil to LR pixels).
    const int64_t n = 2 * radius + 11, c = n / 2;
    torch::Tensor x = torch::rand({1, 3, n, n}, torch::dtype(torch::kFloat64)).requires_grad_(true);
    net->to(torch::kFloat64);
    net->forward(x).index({0, torch::indexing::Slice(), c * s, c * s}).sum().backward();
    torch::Tensor hit = x.grad()[0].abs().sum(0) > 0;
    torch::Tensor rows = hit.any(1).nonzero(), cols = hit.any(0).nonzero();
    const int64_t measured = std::max({c - rows.min().item<int64_t>(), rows.max().item<int64_t>() - c,
                                       c - cols.min().item<int64_t>(), cols.max().item<int64_t>() - c});
    CHECK(measured <= radius);
    CHECK(radius - measured <= 1);
    net->to(torch::kFloat32);
    // Tiled inference with overlap = radius equals the whole image; with no overlap it does not.
    torch::Tensor img = torch::rand({3, 45, 38});
    torch::Tensor whole = archs::run_image(*net, img);
    const float exact = (archs::run_image(*net, img, archs::checked_tiles(*net, 16, -1)) - whole).abs().max().item<float>();
    const float seams = (archs::run_image(*net, img, {16, 0}) - whole).abs().max().item<float>();
    CHECK(exact < 1e-4f);
    CHECK(seams > 1e-3f);
  }
}

TEST_CASE("each arch's declared options parse, dump and document the same keys", "[archs][options]") {
  archs::register_builtin_archs();
  for (const auto& name : archs::arch_registry().names()) {
    INFO("arch " << name);
    const auto rows = archs::arch_registry().options(name);
    REQUIRE(!rows.empty());
    // The documented defaults, written out as a config, build the network, and the network dumps
    // exactly those keys and values back (the checkpoint metadata).
    YAML::Node cfg = YAML::Load("{type: " + name + "}");
    for (const auto& r : rows) cfg[r.key] = YAML::Load(r.default_value);
    auto net = archs::build_arch(Cfg(cfg, "network", "docs"));
    YAML::Node dumped = net->options_yaml();
    REQUIRE(dumped.size() == rows.size() + 1);
    REQUIRE(dumped["type"].as<std::string>() == name);
    for (const auto& r : rows) {
      INFO("key " << r.key);
      REQUIRE(dumped[r.key]);
      REQUIRE(yaml_dump(dumped[r.key]) == yaml_dump(YAML::Load(r.default_value)));
    }
    // An unknown key is refused, naming the nearest declared key.
    YAML::Node bad = yaml_clone(cfg);
    bad[rows[0].key + "x"] = 1;
    REQUIRE_THROWS_WITH(archs::build_arch(Cfg(bad, "network", "docs")), Catch::Contains("did you mean '" + rows[0].key + "'"));
  }
}

TEST_CASE("docs/options.md is what tessera info --options prints", "[archs][options][docs]") {
  auto r = test::run_cli({"info", "--options"});
  REQUIRE(r.exit_code == 0);
  std::ifstream f(test::source_dir() / "docs/options.md");
  std::stringstream doc;
  doc << f.rdbuf();
  INFO("regenerate with: build/tessera info --options > docs/options.md");
  REQUIRE(doc.str() == r.output);
}

TEST_CASE("each SR arch's inference path (fused, stem, in place, channels-last) equals its training forward", "[archs][inference]") {
  torch::manual_seed(4);
  for (const auto& y : kSmallArchs) {
    INFO(y);
    auto net = build(y);
    randomise_bn(*net);
    net->eval();
    const torch::Tensor x = torch::rand({2, 3, 13, 17});
    torch::Tensor ref;
    {
      torch::AutoGradMode on(true);
      ref = net->forward(x).detach();
    }
    const auto opt = archs::prepare_for_inference(*net, {}, /*channels_last=*/true, /*bf16=*/false);
    const torch::Tensor out = archs::run_image(*net, x[1], opt);  // as apply runs it
    REQUIRE(out.sizes() == ref[1].sizes());
    REQUIRE(out.is_contiguous());
    REQUIRE((out - ref[1]).abs().max().item<float>() < 2e-5);
    torch::NoGradGuard ng;  // a batch
    REQUIRE((net->forward(x.contiguous(torch::MemoryFormat::ChannelsLast)) - ref).abs().max().item<float>() < 2e-5);
  }
  // The stem kernel's widths (EDSR's and ESPCN's first layers at the sizes SR uses), and the
  // image-to-image networks whose convolutions follow reflection pads (stem and Winograd kernels
  // with padding 0), instance norms between them: one image as apply runs it.
  for (const std::string y : {"{type: espcn, scale: 3}", "{type: edsr, scale: 2, num_feat: 64, num_block: 2}",
                              "{type: transformer_net, base: 8, num_res: 2}", "{type: resnet_generator, num_feat: 8, num_blocks: 2}"}) {
    INFO(y);
    auto net = build(y);
    net->eval();
    const torch::Tensor x = torch::rand({1, 3, 20, 28});
    torch::Tensor ref;
    {
      torch::AutoGradMode on(true);
      ref = net->forward(x).detach();
    }
    const auto opt = archs::prepare_for_inference(*net, {}, true, false);
    REQUIRE((archs::run_image(*net, x, opt) - ref[0]).abs().max().item<float>() < 2e-5);
  }
}

TEST_CASE("conv_add_ writes conv + residual over the residual; stem convolutions; pixel_shuffle_contiguous", "[archs][nn][fusion]") {
  torch::manual_seed(1);
  auto conv = nn::conv(8, 8, 3);
  const auto cl = torch::MemoryFormat::ChannelsLast;
  torch::Tensor x = torch::randn({2, 8, 11, 14}).contiguous(cl), r = torch::randn({2, 8, 11, 14}).contiguous(cl);
  torch::Tensor ref;
  {
    torch::AutoGradMode on(true);
    ref = (conv(x) + r).detach();
  }
  torch::NoGradGuard ng;
  for (bool residual_cl : {true, false}) {
    INFO("residual " << (residual_cl ? "channels-last" : "NCHW"));
    torch::Tensor res = residual_cl ? r.clone(cl) : r.contiguous();
    const void* storage = res.data_ptr();
    torch::Tensor out = nn::conv_add_(*conv, x, res);
    REQUIRE(out.data_ptr() == storage);  // written in place, whichever path
    REQUIRE((out - ref).abs().max().item<float>() < 1e-5);
    REQUIRE((res - ref).abs().max().item<float>() < 1e-5);
  }
  REQUIRE_THROWS_WITH(nn::conv_add_(*conv, x, x), Catch::Matchers::Contains("must not share memory"));

  // Which convolutions take the stem kernel.
  auto stem = nn::conv(3, 64, 5);
  const torch::Tensor img = torch::rand({1, 3, 12, 12});
  REQUIRE(nn::stem_conv_fits(*stem, img));
  REQUIRE(!nn::stem_conv_fits(*nn::conv(5, 64, 3), torch::rand({1, 5, 12, 12})));  // too many inputs
  REQUIRE(!nn::stem_conv_fits(*nn::conv(3, 3, 3), img));                           // too few outputs
  REQUIRE(!nn::stem_conv_fits(*torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 16, 3).stride(2).padding(1)), img));
  REQUIRE(nn::stem_conv_fits(*torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 16, 3)), img));  // no padding (after a reflection pad)
  REQUIRE(!nn::stem_conv_fits(*torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 16, 3).padding(2)), img));  // more than 'same'
  REQUIRE(nn::winograd_fits(*torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 8, 3)), torch::rand({1, 8, 6, 6})));
  REQUIRE(!nn::winograd_fits(*nn::conv(8, 8, 5), torch::rand({1, 8, 6, 6})));
  REQUIRE(!nn::winograd_fits(*nn::conv(4, 8, 3), torch::rand({1, 4, 6, 6})));  // the stem kernel's
  REQUIRE(!nn::stem_conv_fits(*stem, img.to(torch::kFloat64)));
  {
    torch::AutoGradMode on(true);
    REQUIRE(!nn::stem_conv_fits(*stem, img));  // training keeps the differentiable convolution
  }
  for (const std::string act : {"none", "relu", "tanh"}) {
    torch::Tensor want = stem(img);
    want = act == "relu" ? torch::relu(want) : act == "tanh" ? torch::tanh(want) : want;
    const torch::Tensor got = nn::conv_act(*stem, img, act);
    REQUIRE(got.is_contiguous(cl));
    REQUIRE((got - want).abs().max().item<float>() < 1e-5);
  }

  for (int64_t scale : {2, 3}) {
    const torch::Tensor y = torch::randn({2, 5 * scale * scale, 4, 6});
    for (const torch::Tensor& in : {y, y.contiguous(cl)}) {
      const torch::Tensor s = nn::pixel_shuffle_contiguous(in, scale);
      REQUIRE(s.is_contiguous());
      REQUIRE(torch::equal(s, torch::pixel_shuffle(y, scale)));
    }
  }
}

TEST_CASE("oneDNN-fused conv + activation and conv + residual equal the composites", "[archs][nn][fusion]") {
  torch::manual_seed(0);
  for (int64_t k : {3, 5}) {
    for (bool channels_last : {false, true}) {
      INFO("kernel " << k << (channels_last ? ", channels-last" : ", NCHW"));
      auto conv = nn::conv(8, 12, k);
      torch::Tensor x = torch::randn({2, 8, 19, 23}), r = torch::randn({2, 12, 19, 23});
      if (channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
      torch::Tensor ref_relu, ref_tanh, ref_add;
      {
        torch::AutoGradMode on(true);  // the composite path
        REQUIRE(!nn::conv_fusable(*conv, x));
        ref_relu = torch::relu(conv(x)).detach();
        ref_tanh = torch::tanh(conv(x)).detach();
        ref_add = (conv(x) + r).detach();
      }
      torch::NoGradGuard ng;
      REQUIRE(nn::conv_fusable(*conv, x) == at::hasMKLDNN());
      REQUIRE((nn::conv_act(*conv, x, "relu") - ref_relu).abs().max().item<float>() < 1e-5);
      REQUIRE((nn::conv_act(*conv, x, "tanh") - ref_tanh).abs().max().item<float>() < 1e-5);
      REQUIRE((nn::conv_add(*conv, x, r) - ref_add).abs().max().item<float>() < 1e-5);
    }
  }
  // Training keeps the differentiable composite: gradients reach the weights.
  auto conv = nn::conv(4, 4, 3);
  torch::Tensor x = torch::randn({1, 4, 9, 9});
  nn::conv_add(*conv, nn::conv_act(*conv, x, "relu"), x).sum().backward();
  REQUIRE(conv->weight.grad().defined());
  REQUIRE(conv->weight.grad().abs().sum().item<float>() > 0);
}

TEST_CASE("auto tiles: whole images within the memory budget, exact tiles past it", "[archs][inference][tiles]") {
  torch::manual_seed(0);
  auto net = build("{type: edsr, scale: 2, num_feat: 8, num_block: 1}");
  net->eval();
  archs::TileOptions opt = archs::checked_tiles(*net, 0, -1);
  REQUIRE(archs::auto_tile(*net, 40, 50, opt) == 0);  // default budget: whole image
  const int64_t tile = archs::auto_tile(*net, 40, 50, opt, 40.0 * 1024);  // a budget a 40x50 image passes
  REQUIRE(tile >= archs::kMinTile);
  REQUIRE(tile < 50);
  opt.tile = tile;
  torch::Tensor img = torch::rand({3, 40, 50});
  REQUIRE((archs::run_image(*net, img, opt) - archs::run_image(*net, img)).abs().max().item<float>() < 1e-5);
  auto style = build("{type: transformer_net, base: 4, num_res: 1}");
  REQUIRE(archs::auto_tile(*style, 4000, 4000, opt, 1.0) == 0);  // never tiled
}
