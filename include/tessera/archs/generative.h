// Generative archs: DCGAN-style generator and discriminator/critic (optionally class-conditional),
// MLPs for 2D toy distributions, a convolutional autoencoder and VAE, and the small digits classifier
// used as FID/IS feature network. Images are in [-1, 1] for GANs (tanh) and [0, 1] for AE/VAE.
#pragma once
#include "tessera/archs/net.h"
#include "tessera/core/options.h"

namespace tessera::archs {

// A network that maps a latent code (and optionally a class label) to a sample.
class GeneratorImpl : public NetImpl {
 public:
  virtual int64_t latent_dim() const = 0;
  virtual int64_t num_classes() const { return 0; }  // > 0: conditional, labels in [0, num_classes)
  virtual torch::Tensor generate(const torch::Tensor& z, const torch::Tensor& labels = {}) = 0;
  virtual std::vector<int64_t> sample_shape() const = 0;  // without batch: [C,H,W] or [2]
  // True when images come out in [-1, 1] (tanh), false for [0, 1] (sigmoid) or unbounded points.
  virtual bool signed_output() const { return false; }
  std::string task() const override { return "generator"; }
  std::vector<int64_t> input_shape() const override { return {latent_dim()}; }
  torch::Tensor forward(torch::Tensor z) override { return generate(z); }
};
using GeneratorPtr = std::shared_ptr<GeneratorImpl>;

// A network that scores samples (discriminator logits or critic values), optionally conditional.
class CriticImpl : public NetImpl {
 public:
  virtual int64_t num_classes() const { return 0; }
  // [B] scores, or [B, 1, h, w] maps of patch scores (PatchGAN, U-Net discriminators): the
  // adversarial losses average over every element.
  virtual torch::Tensor score(const torch::Tensor& x, const torch::Tensor& labels = {}) = 0;
  std::string task() const override { return "critic"; }
  torch::Tensor forward(torch::Tensor x) override { return score(x); }
};
using CriticPtr = std::shared_ptr<CriticImpl>;

struct DcganOptions {
  int64_t image_size = 32, channels = 1, latent_dim = 64, base = 64, num_classes = 0, embed_dim = 16;
  std::string norm = "batch";
  std::string conditioning = "concat";
  template <class V>
  void visit(V& v, bool critic) {
    v("image_size", image_size, "image side (a power of two)", 8, 1024);
    v("channels", channels, "image channels", 1, 4);
    if (!critic) v("latent_dim", latent_dim, "latent code size", 1, 4096);
    v("base", base, "features of the first critic stage / last generator stage", 1, 1024);
    v("num_classes", num_classes, "classes of a conditional network (0: unconditional)", 0, 100000);
    v("embed_dim", embed_dim, "generator: label embedding size", 1, 1024);
    if (critic) {
      v.choice("norm", norm, "normalisation after each stage but the first (layer: for WGAN-GP)", {"batch", "layer", "none"});
      v.choice("conditioning", conditioning, "labels as one-hot input maps, or a projection discriminator", {"concat", "projection"});
    } else {
      v.choice("norm", norm, "normalisation after each stage", {"batch", "none"});
    }
  }
  void check(Cfg& c) const;
};

class DcganGeneratorImpl : public GeneratorImpl {
 public:
  explicit DcganGeneratorImpl(DcganOptions o);
  torch::Tensor generate(const torch::Tensor& z, const torch::Tensor& labels = {}) override;
  std::string type() const override { return "dcgan_generator"; }
  YAML::Node options_yaml() const override { return write_options(opt, type(), false); }
  int64_t latent_dim() const override { return opt.latent_dim; }
  int64_t num_classes() const override { return opt.num_classes; }
  std::vector<int64_t> sample_shape() const override { return {opt.channels, opt.image_size, opt.image_size}; }
  bool signed_output() const override { return true; }
  int64_t in_channels() const override { return opt.channels; }

  DcganOptions opt;
  int64_t ch0 = 0;
  torch::nn::Embedding embed{nullptr};
  torch::nn::Linear fc{nullptr};
  torch::nn::BatchNorm1d fc_bn{nullptr};
  torch::nn::Sequential body{nullptr};  // ConvTranspose2d, BatchNorm2d, ReLU per x2 stage
  torch::nn::Conv2d conv_out{nullptr};
};
TORCH_MODULE(DcganGenerator);

class DcganCriticImpl : public CriticImpl {
 public:
  explicit DcganCriticImpl(DcganOptions o);
  torch::Tensor score(const torch::Tensor& x, const torch::Tensor& labels = {}) override;
  std::string type() const override { return "dcgan_critic"; }
  YAML::Node options_yaml() const override { return write_options(opt, type(), true); }
  int64_t num_classes() const override { return opt.num_classes; }
  int64_t in_channels() const override { return opt.channels; }
  std::vector<int64_t> input_shape() const override { return {opt.channels, opt.image_size, opt.image_size}; }
  torch::Tensor features(const torch::Tensor& x, const torch::Tensor& labels);

  DcganOptions opt;
  torch::nn::Sequential body{nullptr};  // Conv2d stride 2 (+ norm) + LeakyReLU(0.2)
  torch::nn::Linear fc{nullptr};
  torch::nn::Embedding embed{nullptr};  // concat: label maps; projection: class vectors
};
TORCH_MODULE(DcganCritic);

// BasicSR's VGGStyleDiscriminator (SRGAN's discriminator; ESRGAN's too): stages of a 3x3 conv then a
// stride-2 4x4 conv, each with BatchNorm (but the first) and LeakyReLU 0.2, features f, 2f, 4f, 8f,
// 8f (and 8f more at 256 px), then linear1 (100) and linear2 (1). BasicSR's names (conv0_0,
// conv0_1/bn0_1, ..., linear1, linear2) so its .pth files load. Input sides 96 (the SRGAN paper's
// patches), 128 or 256.
struct VggDiscriminatorOptions {
  int64_t channels = 3, num_feat = 64, input_size = 128;
  template <class V>
  void visit(V& v) {
    v("channels", channels, "image channels", 1, 4);
    v("num_feat", num_feat, "features of the first stage", 1, 1024);
    v("input_size", input_size, "input side: 96, 128 or 256", 96, 256);
  }
  void check(Cfg& c) const;
};
class VggDiscriminatorImpl : public CriticImpl {
 public:
  explicit VggDiscriminatorImpl(VggDiscriminatorOptions o);
  torch::Tensor score(const torch::Tensor& x, const torch::Tensor& labels = {}) override;
  std::string type() const override { return "vgg_discriminator"; }
  YAML::Node options_yaml() const override { return write_options(opt, type()); }
  int64_t in_channels() const override { return opt.channels; }
  std::vector<int64_t> input_shape() const override { return {opt.channels, opt.input_size, opt.input_size}; }

  VggDiscriminatorOptions opt;
  // In order: conv0_0 (no norm), conv0_1 + bn0_1, conv1_0 + bn1_0, ...; bns[0] is empty.
  std::vector<torch::nn::Conv2d> convs;
  std::vector<torch::nn::BatchNorm2d> bns;
  torch::nn::Linear linear1{nullptr}, linear2{nullptr};
};
TORCH_MODULE(VggDiscriminator);

struct MlpOptions {
  int64_t in_dim = 2, out_dim = 2, hidden = 256, layers = 3, latent_dim = 2;
  std::string norm = "none";
  template <class V>
  void visit(V& v, bool critic) {
    v("hidden", hidden, "hidden units per layer", 1, 1 << 16);
    v("layers", layers, "hidden layers", 1, 64);
    if (critic) {
      v("in_dim", in_dim, "sample size", 1, 1 << 16);
      v.choice("norm", norm, "normalisation of hidden layers", {"none", "layer"});
    } else {
      v("latent_dim", latent_dim, "latent code size", 1, 1 << 16);
      v("out_dim", out_dim, "sample size", 1, 1 << 16);
    }
  }
};

class MlpGeneratorImpl : public GeneratorImpl {
 public:
  explicit MlpGeneratorImpl(MlpOptions o);
  torch::Tensor generate(const torch::Tensor& z, const torch::Tensor& labels = {}) override { return net->forward(z); }
  std::string type() const override { return "mlp_generator"; }
  YAML::Node options_yaml() const override { return write_options(opt, type(), false); }
  int64_t latent_dim() const override { return opt.latent_dim; }
  std::vector<int64_t> sample_shape() const override { return {opt.out_dim}; }
  MlpOptions opt;
  torch::nn::Sequential net{nullptr};
};
TORCH_MODULE(MlpGenerator);

class MlpCriticImpl : public CriticImpl {
 public:
  explicit MlpCriticImpl(MlpOptions o);
  torch::Tensor score(const torch::Tensor& x, const torch::Tensor& labels = {}) override { return net->forward(x).squeeze(1); }
  std::string type() const override { return "mlp_critic"; }
  std::vector<int64_t> input_shape() const override { return {opt.in_dim}; }
  YAML::Node options_yaml() const override { return write_options(opt, type(), true); }
  MlpOptions opt;
  torch::nn::Sequential net{nullptr};
};
TORCH_MODULE(MlpCritic);

// Convolutional autoencoder / VAE: two stride-2 convs and a linear code; decoder mirrors it.
struct AutoencoderOptions {
  int64_t image_size = 8, channels = 1, base = 32, latent_dim = 16;
  template <class V>
  void visit(V& v) {
    v("image_size", image_size, "image side (a multiple of 4)", 4, 4096);
    v("channels", channels, "image channels", 1, 4);
    v("base", base, "features of the first conv", 1, 1024);
    v("latent_dim", latent_dim, "code size", 1, 1 << 16);
  }
  void check(Cfg& c) const;
};

class ConvDecoderImpl : public GeneratorImpl {
 public:
  ConvDecoderImpl(AutoencoderOptions o, std::string owner_type);
  torch::Tensor generate(const torch::Tensor& z, const torch::Tensor& labels = {}) override;
  std::string type() const override { return owner_type_; }
  YAML::Node options_yaml() const override { return write_options(opt, owner_type_); }
  int64_t latent_dim() const override { return opt.latent_dim; }
  std::vector<int64_t> sample_shape() const override { return {opt.channels, opt.image_size, opt.image_size}; }
  AutoencoderOptions opt;
  torch::nn::Linear fc{nullptr};
  torch::nn::ConvTranspose2d up1{nullptr}, up2{nullptr};

 private:
  std::string owner_type_;
};
TORCH_MODULE(ConvDecoder);

class AutoencoderImpl : public NetImpl {
 public:
  AutoencoderImpl(AutoencoderOptions o, bool variational);
  // Encoder output: the code (AE) or [mu, logvar] concatenated (VAE).
  torch::Tensor encode(const torch::Tensor& x);
  torch::Tensor decode(const torch::Tensor& z) { return decoder->generate(z); }
  torch::Tensor forward(torch::Tensor x) override;  // reconstruction (VAE: from the mean)
  std::string type() const override { return variational_ ? "conv_vae" : "conv_autoencoder"; }
  YAML::Node options_yaml() const override { return write_options(opt, type()); }
  int64_t in_channels() const override { return opt.channels; }
  std::string task() const override { return "autoencoder"; }
  std::vector<int64_t> input_shape() const override { return {opt.channels, opt.image_size, opt.image_size}; }
  bool variational() const { return variational_; }

  AutoencoderOptions opt;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::Linear fc_code{nullptr};
  ConvDecoder decoder{nullptr};

 private:
  bool variational_;
};
TORCH_MODULE(Autoencoder);

// Small CNN classifier on [0,1] images; its penultimate layer is the FID feature space.
struct ClassifierOptions {
  int64_t image_size = 8, channels = 1, num_classes = 10, base = 32, feature_dim = 64;
  template <class V>
  void visit(V& v) {
    v("image_size", image_size, "image side (a multiple of 4)", 4, 4096);
    v("channels", channels, "image channels", 1, 4);
    v("num_classes", num_classes, "classes", 2, 100000);
    v("base", base, "features of the first conv", 1, 1024);
    v("feature_dim", feature_dim, "size of the penultimate (FID feature) layer", 2, 4096);
  }
  void check(Cfg& c) const;
};
class ClassifierImpl : public NetImpl {
 public:
  explicit ClassifierImpl(ClassifierOptions o);
  torch::Tensor features(const torch::Tensor& x);  // [B, feature_dim]
  torch::Tensor forward(torch::Tensor x) override;  // logits [B, num_classes]
  std::string type() const override { return "classifier"; }
  std::string task() const override { return "classifier"; }
  std::vector<int64_t> input_shape() const override { return {opt.channels, opt.image_size, opt.image_size}; }
  YAML::Node options_yaml() const override { return write_options(opt, type()); }
  int64_t in_channels() const override { return opt.channels; }
  ClassifierOptions opt;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(Classifier);

// The generator inside a network: a generator itself, or an autoencoder's decoder; null otherwise.
GeneratorImpl* as_generator(NetImpl& net);

void register_generative_archs(ArchRegistry& r);

}  // namespace tessera::archs
