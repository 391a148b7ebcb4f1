// Super-resolution archs: ESPCN, EDSR, WDSR-A/B, SRResNet, RRDBNet. Paper defaults in each Options struct.
#pragma once
#include <array>

#include "tessera/archs/net.h"
#include "tessera/core/options.h"
#include "tessera/nn/layers.h"

namespace tessera::archs {

// ESPCN (Shi et al. 2016): 5x5x64 -> 3x3x32 -> 3x3x(r^2 C), tanh, pixel shuffle.
struct EspcnOptions {
  int64_t scale = 2, channels = 3, feat1 = 64, feat2 = 32;
  std::string activation = "tanh";
  template <class V>
  void visit(V& v) {
    v("scale", scale, "upscale factor", 2, 8);
    v("channels", channels, "image channels", 1, 4);
    v("feat1", feat1, "features of the 5x5 conv", 1, 1024);
    v("feat2", feat2, "features of the 3x3 conv", 1, 1024);
    v.choice("activation", activation, "hidden activation (the paper's tanh, or relu)", {"tanh", "relu"});
  }
};
class EspcnImpl : public NetImpl {
 public:
  explicit EspcnImpl(EspcnOptions o);
  torch::Tensor forward(torch::Tensor x) override;
  std::string type() const override { return "espcn"; }
  int64_t receptive_radius() const override { return 4  /* 5x5, 3x3, 3x3 at LR */; }
  YAML::Node options_yaml() const override { return write_options(opt, type()); }
  int64_t scale() const override { return opt.scale; }
  int64_t in_channels() const override { return opt.channels; }
  torch::Tensor act(const torch::Tensor& x) const;

  EspcnOptions opt;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::PixelShuffle shuffle{nullptr};
};
TORCH_MODULE(Espcn);

// EDSR (Lim et al. 2017), BasicSR's layout and names: baseline 16x64, res_scale 1; full 32x256
// with res_scale 0.1. Works in [0, 255] with the DIV2K mean subtracted, as the paper.
struct EdsrOptions {
  int64_t scale = 2, channels = 3, num_feat = 64, num_block = 16;
  double res_scale = 1.0, img_range = 255.0;
  std::array<double, 3> rgb_mean{0.4488, 0.4371, 0.4040};
  template <class V>
  void visit(V& v) {
    v("scale", scale, "upscale factor (2, 3, 4 or 8)", 1, 8);
    v("channels", channels, "image channels", 1, 4);
    v("num_feat", num_feat, "features (baseline 64, full 256)", 1, 2048);
    v("num_block", num_block, "residual blocks (baseline 16, full 32)", 0, 256);
    v("res_scale", res_scale, "residual scaling (full EDSR: 0.1)", 0.0, 10.0);
    v("img_range", img_range, "pixel range the network works in", 1e-6, 1e6);
    v("rgb_mean", rgb_mean, "mean subtracted from RGB inputs (DIV2K's)");
  }
  void check(Cfg& c) const;
};
class ResidualBlockNoBNImpl : public torch::nn::Module {
 public:
  ResidualBlockNoBNImpl(int64_t feat, double res_scale);
  torch::Tensor forward(const torch::Tensor& x);
  // Inference: the same, with the output written over x (nothing else may still need x).
  torch::Tensor forward_into(torch::Tensor x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  double res_scale;
};
TORCH_MODULE(ResidualBlockNoBN);
class EdsrImpl : public NetImpl {
 public:
  explicit EdsrImpl(EdsrOptions o);
  torch::Tensor forward(torch::Tensor x) override;
  std::string type() const override { return "edsr"; }
  int64_t receptive_radius() const override { return 4 + 2 * opt.num_block  /* 3x3 convs at LR, upsampler and conv_last rounded up */; }
  YAML::Node options_yaml() const override { return write_options(opt, type()); }
  int64_t scale() const override { return opt.scale; }
  int64_t in_channels() const override { return opt.channels; }

  EdsrOptions opt;
  torch::Tensor mean;  // not a buffer: BasicSR keeps it out of the state_dict
  torch::nn::Conv2d conv_first{nullptr}, conv_after_body{nullptr}, conv_last{nullptr};
  torch::nn::Sequential body{nullptr}, upsample{nullptr};
};
TORCH_MODULE(Edsr);

// WDSR (Yu et al. 2018), the official code's layout and names: weight-normalised convs, wide
// activation blocks (A: expansion 4; B: 1x1 expansion 6 then a 0.8 low-rank 1x1), a 5x5 skip branch.
struct WdsrOptions {
  std::string variant = "a";
  int64_t scale = 2, channels = 3, num_feat = 32, num_block = 16, expansion = 4;
  double low_rank = 0.8, res_scale = 1.0;
  std::array<double, 3> rgb_mean{0.4488, 0.4371, 0.4040};
  template <class V>
  void visit(V& v) {
    v.choice("variant", variant, "block type: a (wide 3x3) or b (1x1 expansion, low-rank)", {"a", "b"});
    v("scale", scale, "upscale factor", 2, 8);
    v("channels", channels, "image channels", 1, 4);
    v("num_feat", num_feat, "features", 1, 2048);
    v("num_block", num_block, "residual blocks", 0, 256);
    if (!v.given("expansion")) expansion = variant == "a" ? 4 : 6;
    v("expansion", expansion, "width expansion inside a block (default 4 for a, 6 for b)", 1, 64);
    v("low_rank", low_rank, "B: low-rank ratio of the second 1x1", 0.01, 1.0);
    v("res_scale", res_scale, "residual scaling", 0.0, 10.0);
    v("rgb_mean", rgb_mean, "mean subtracted from RGB inputs (DIV2K's)");
  }
};
class WdsrBlockImpl : public torch::nn::Module {
 public:
  WdsrBlockImpl(const WdsrOptions& o);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Sequential body{nullptr};  // WnConv2d / ReLU children, named 0, 1, 2, ...
  double res_scale;
};
TORCH_MODULE(WdsrBlock);
class WdsrImpl : public NetImpl {
 public:
  explicit WdsrImpl(WdsrOptions o);
  torch::Tensor forward(torch::Tensor x) override;
  std::string type() const override { return "wdsr"; }
  int64_t receptive_radius() const override { return 2 + opt.num_block * (opt.variant == "a" ? 2 : 1)  /* head, blocks, tail; the 5x5 skip is within */; }
  YAML::Node options_yaml() const override { return write_options(opt, type()); }
  int64_t scale() const override { return opt.scale; }
  int64_t in_channels() const override { return opt.channels; }

  WdsrOptions opt;
  torch::Tensor mean;
  torch::nn::Sequential head{nullptr}, body{nullptr}, tail{nullptr}, skip{nullptr};
};
TORCH_MODULE(Wdsr);

// SRResNet (Ledig et al. 2017): 9x9 conv + PReLU, residual blocks with BN and PReLU, conv + BN with
// a long skip, x2 sub-pixel stages with PReLU, 9x9 conv out. The SRGAN generator.
struct SrResNetOptions {
  int64_t scale = 4, channels = 3, num_feat = 64, num_block = 16;
  template <class V>
  void visit(V& v) {
    v("scale", scale, "upscale factor (2, 4 or 8)", 2, 8);
    v("channels", channels, "image channels", 1, 4);
    v("num_feat", num_feat, "features", 1, 2048);
    v("num_block", num_block, "residual blocks", 0, 256);
  }
  void check(Cfg& c) const;
};
class SrResBlockImpl : public torch::nn::Module {
 public:
  explicit SrResBlockImpl(int64_t feat);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::PReLU prelu{nullptr};
};
TORCH_MODULE(SrResBlock);
class SrResNetImpl : public NetImpl {
 public:
  explicit SrResNetImpl(SrResNetOptions o);
  torch::Tensor forward(torch::Tensor x) override;
  std::string type() const override { return "srresnet"; }
  int64_t receptive_radius() const override { return 8 + 2 * opt.num_block  /* 9x9 first, blocks, upsampler, 9x9 last at HR rounded up */; }
  YAML::Node options_yaml() const override { return write_options(opt, type()); }
  int64_t scale() const override { return opt.scale; }
  int64_t in_channels() const override { return opt.channels; }

  SrResNetOptions opt;
  torch::nn::Conv2d conv_first{nullptr}, conv_after_body{nullptr}, conv_last{nullptr};
  torch::nn::PReLU prelu_first{nullptr};
  torch::nn::BatchNorm2d bn_after_body{nullptr};
  torch::nn::Sequential body{nullptr}, upsample{nullptr};
};
TORCH_MODULE(SrResNet);

// RRDBNet (ESRGAN, Wang et al. 2018), BasicSR's layout and names (conv_first, body.N.rdb1.conv1 ...
// conv5, conv_body, conv_up1, conv_up2, conv_hr, conv_last): residual-in-residual dense blocks with
// residual scale 0.2 and LeakyReLU 0.2, two nearest x2 upsamplings; x2 and x1 pixel-unshuffle the
// input first (BasicSR's rule). Dense-block convs initialised by Kaiming normal scaled by 0.1.
struct RrdbNetOptions {
  int64_t scale = 4, channels = 3, num_feat = 64, num_block = 23, num_grow_ch = 32;
  template <class V>
  void visit(V& v) {
    v("scale", scale, "upscale factor (1, 2 or 4)", 1, 4);
    v("channels", channels, "image channels", 1, 4);
    v("num_feat", num_feat, "features", 1, 2048);
    v("num_block", num_block, "RRDB blocks (ESRGAN: 23)", 0, 256);
    v("num_grow_ch", num_grow_ch, "growth channels of the dense blocks", 1, 1024);
  }
  void check(Cfg& c) const;
};
class ResidualDenseBlockImpl : public torch::nn::Module {
 public:
  ResidualDenseBlockImpl(int64_t feat, int64_t grow);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, conv4{nullptr}, conv5{nullptr};
};
TORCH_MODULE(ResidualDenseBlock);
class RrdbImpl : public torch::nn::Module {
 public:
  RrdbImpl(int64_t feat, int64_t grow);
  torch::Tensor forward(const torch::Tensor& x);
  ResidualDenseBlock rdb1{nullptr}, rdb2{nullptr}, rdb3{nullptr};
};
TORCH_MODULE(Rrdb);
class RrdbNetImpl : public NetImpl {
 public:
  explicit RrdbNetImpl(RrdbNetOptions o);
  torch::Tensor forward(torch::Tensor x) override;
  std::string type() const override { return "rrdbnet"; }
  // 3 + 15 per block convs at the body's resolution, then the upsampling convs; x2/x1 work at
  // 1/2 and 1/4 of the input's resolution, so radius scales by 4 / scale.
  int64_t receptive_radius() const override { return (4 / opt.scale) * (3 + 15 * opt.num_block + 2); }
  YAML::Node options_yaml() const override { return write_options(opt, type()); }
  int64_t scale() const override { return opt.scale; }
  int64_t in_channels() const override { return opt.channels; }
  int64_t unshuffle() const { return 4 / opt.scale; }  // 1 for x4
  int64_t size_multiple() const override { return unshuffle(); }

  RrdbNetOptions opt;
  torch::nn::Conv2d conv_first{nullptr}, conv_body{nullptr}, conv_up1{nullptr}, conv_up2{nullptr}, conv_hr{nullptr}, conv_last{nullptr};
  torch::nn::Sequential body{nullptr};
};
TORCH_MODULE(RrdbNet);

void register_sr_archs(ArchRegistry& r);

}  // namespace tessera::archs
