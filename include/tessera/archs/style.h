// The feed-forward style network of Johnson, Alahi & Fei-Fei (2016), as pytorch/examples'
// fast_neural_style TransformerNet with its parameter names (conv1.conv2d.weight, in1.weight,
// res1.conv1.conv2d.weight, deconv1.conv2d.weight, ...): reflection-padded convolutions, instance
// norm with affine parameters, residual blocks, nearest-neighbour upsampling + conv instead of
// transposed convs. pytorch/examples feeds it images in [0, 255]; tessera's images are in [0, 1],
// so `pixel_range` (255) scales in and out and converted models behave exactly as theirs.
#pragma once
#include "tessera/archs/net.h"
#include "tessera/core/options.h"

namespace tessera::archs {

struct TransformerNetOptions {
  int64_t base = 32, num_res = 5;
  double pixel_range = 255.0;
  template <class V>
  void visit(V& v) {
    v("base", base, "channels of the first conv (then 2x, 4x)", 1, 1024);
    v("num_res", num_res, "residual blocks", 0, 64);
    v("pixel_range", pixel_range, "the pixel range the weights work in (pytorch/examples: 255)", 1e-3, 1e6);
  }
};

class ConvLayerImpl : public torch::nn::Module {
 public:
  ConvLayerImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t upsample = 1);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv2d{nullptr};
  int64_t kernel, stride, upsample;
};
TORCH_MODULE(ConvLayer);

class StyleResidualBlockImpl : public torch::nn::Module {
 public:
  explicit StyleResidualBlockImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);
  ConvLayer conv1{nullptr}, conv2{nullptr};
  torch::nn::InstanceNorm2d in1{nullptr}, in2{nullptr};
};
TORCH_MODULE(StyleResidualBlock);

class TransformerNetImpl : public NetImpl {
 public:
  explicit TransformerNetImpl(TransformerNetOptions o);
  torch::Tensor forward(torch::Tensor x) override;  // [B,3,H,W] in [0,1] -> same size (not clamped)
  std::string type() const override { return "transformer_net"; }
  YAML::Node options_yaml() const override { return write_options(opt, type()); }
  // Instance norm makes every output pixel depend on the whole image: no tiling (-1).
  int64_t receptive_radius() const override { return -1; }

  TransformerNetOptions opt;
  ConvLayer conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, deconv1{nullptr}, deconv2{nullptr}, deconv3{nullptr};
  torch::nn::InstanceNorm2d in1{nullptr}, in2{nullptr}, in3{nullptr}, in4{nullptr}, in5{nullptr};
  std::vector<StyleResidualBlock> res;
};
TORCH_MODULE(TransformerNet);

void register_style_archs(ArchRegistry& r);

}  // namespace tessera::archs
