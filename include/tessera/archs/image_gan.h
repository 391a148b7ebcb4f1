// Image-to-image GAN archs with the parameter names of the code their checkpoints come from:
//   resnet_generator        CycleGAN's ResNet generator (junyanz/pytorch-CycleGAN-and-pix2pix
//                           ResnetGenerator: model.N names)
//   patchgan                its 70x70 PatchGAN discriminator (NLayerDiscriminator, n_layers 3)
//   unet_discriminator_sn   Real-ESRGAN's U-Net discriminator with spectral normalisation
//                           (UNetDiscriminatorSN: conv0 ... conv9, SN on conv1-8)
#pragma once
#include "tessera/archs/generative.h"
#include "tessera/core/options.h"
#include "tessera/nn/layers.h"

namespace tessera::archs {

// Zhu et al. 2017 (after Johnson et al.): reflection pad + 7x7 conv, two stride-2 3x3 convs, residual
// blocks, two stride-2 transposed convs, reflection pad + 7x7 conv, tanh; instance norm without
// affine parameters (or batch norm, pix2pix's), ReLU, conv biases unless the norm is batch norm.
// norm none keeps the biases (junyanz's rule would drop them too); instance norm makes the network
// blind to each image's brightness and contrast, which norm none is not (a colour mapping needs it).
// Images in and out are in [0, 1], like every tessera image network: the [-1, 1] range the
// junyanz weights were trained in is mapped inside forward (the weights are unchanged).
struct ResnetGeneratorOptions {
  int64_t channels = 3, num_feat = 64, num_blocks = 9;
  std::string norm = "instance";
  bool dropout = false;
  std::string init_type = "normal";
  double init_gain = 0.02;
  template <class V>
  void visit(V& v) {
    v("channels", channels, "image channels (in and out)", 1, 4);
    v("num_feat", num_feat, "features of the first conv (ngf)", 1, 1024);
    v("num_blocks", num_blocks, "residual blocks: 9 at 256 px, 6 at 128 px (the paper's)", 1, 64);
    v.choice("norm", norm, "instance (CycleGAN), batch (pix2pix) or none", {"instance", "batch", "none"});
    v("dropout", dropout, "Dropout(0.5) in each residual block (junyanz --no_dropout off)");
    v.choice("init_type", init_type, "initial conv weights (junyanz --init_type): normal N(0, init_gain), xavier (gain init_gain), "
             "kaiming (fan in; for norm none), orthogonal (gain init_gain)", {"normal", "xavier", "kaiming", "orthogonal"});
    v("init_gain", init_gain, "std of the normal init, gain of xavier/orthogonal", 0.0, 1.0);
  }
};

class ResnetGeneratorImpl : public NetImpl {
 public:
  explicit ResnetGeneratorImpl(ResnetGeneratorOptions o);
  torch::Tensor forward(torch::Tensor x) override;
  std::string type() const override { return "resnet_generator"; }
  YAML::Node options_yaml() const override { return write_options(opt, type()); }
  int64_t in_channels() const override { return opt.channels; }
  int64_t size_multiple() const override { return 4; }  // two stride-2 stages and back
  ResnetGeneratorOptions opt;
  torch::nn::Sequential model{nullptr};
};
TORCH_MODULE(ResnetGenerator);

// One residual block of the generator: x + conv_block(x), conv_block = pad, conv, norm, ReLU,
// [dropout], pad, conv, norm (its children numbered as junyanz's nn.Sequential).
class ResnetBlockImpl : public torch::nn::Module {
 public:
  ResnetBlockImpl(int64_t features, const std::string& norm, bool dropout);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Sequential conv_block{nullptr};
};
TORCH_MODULE(ResnetBlock);

// PatchGAN (Isola et al. 2017): 4x4 convs with strides 2, ..., 2, 1, 1, LeakyReLU 0.2, norm after
// all but the first and last; one score per 70x70 patch (num_layers 3). Inputs in [0, 1] like the
// generator's outputs (mapped to [-1, 1] inside).
struct PatchGanOptions {
  int64_t channels = 3, num_feat = 64, num_layers = 3;
  std::string norm = "instance";
  std::string init_type = "normal";
  double init_gain = 0.02;
  template <class V>
  void visit(V& v) {
    v("channels", channels, "image channels", 1, 4);
    v("num_feat", num_feat, "features of the first conv (ndf)", 1, 1024);
    v("num_layers", num_layers, "stride-2 convs (3: the 70x70 PatchGAN)", 1, 8);
    v.choice("norm", norm, "instance (CycleGAN), batch (pix2pix) or none", {"instance", "batch", "none"});
    v.choice("init_type", init_type, "initial conv weights (junyanz --init_type): normal N(0, init_gain), xavier (gain init_gain), "
             "kaiming (fan in; for norm none), orthogonal (gain init_gain)", {"normal", "xavier", "kaiming", "orthogonal"});
    v("init_gain", init_gain, "std of the normal init, gain of xavier/orthogonal", 0.0, 1.0);
  }
};

class PatchGanImpl : public CriticImpl {
 public:
  explicit PatchGanImpl(PatchGanOptions o);
  torch::Tensor score(const torch::Tensor& x, const torch::Tensor& labels = {}) override;  // [B, 1, h, w]
  std::string type() const override { return "patchgan"; }
  YAML::Node options_yaml() const override { return write_options(opt, type()); }
  int64_t in_channels() const override { return opt.channels; }
  PatchGanOptions opt;
  torch::nn::Sequential model{nullptr};
};
TORCH_MODULE(PatchGan);

// Real-ESRGAN (Wang et al. 2021): conv0, three stride-2 SN convs (f -> 2f -> 4f -> 8f), three
// bilinear x2 + SN conv stages back up with skip connections, two SN convs, conv9 to one channel:
// a realness score per pixel, [B, 1, H, W]. Sides must be multiples of 8. Inputs in [0, 1].
struct UnetDiscriminatorOptions {
  int64_t channels = 3, num_feat = 64;
  bool skip_connection = true;
  template <class V>
  void visit(V& v) {
    v("channels", channels, "image channels", 1, 4);
    v("num_feat", num_feat, "features of conv0", 1, 1024);
    v("skip_connection", skip_connection, "U-Net skips (add the encoder's features to the decoder's)");
  }
};

class UnetDiscriminatorSnImpl : public CriticImpl {
 public:
  explicit UnetDiscriminatorSnImpl(UnetDiscriminatorOptions o);
  torch::Tensor score(const torch::Tensor& x, const torch::Tensor& labels = {}) override;
  std::string type() const override { return "unet_discriminator_sn"; }
  YAML::Node options_yaml() const override { return write_options(opt, type()); }
  int64_t in_channels() const override { return opt.channels; }
  int64_t size_multiple() const override { return 8; }
  UnetDiscriminatorOptions opt;
  torch::nn::Conv2d conv0{nullptr}, conv9{nullptr};
  std::vector<nn::SnConv2d> sn;  // conv1 ... conv8
};
TORCH_MODULE(UnetDiscriminatorSn);

void register_image_gan_archs(ArchRegistry& r);

}  // namespace tessera::archs
