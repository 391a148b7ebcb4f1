#include "tessera/nn/layers.h"

#include "tessera/core/error.h"

namespace tessera::nn {

WnConv2dImpl::WnConv2dImpl(int64_t in, int64_t out, int64_t kernel, bool with_bias) : kernel_(kernel) {
  // Initialise like PyTorch's Conv2d, then split into direction and magnitude like weight_norm().
  torch::nn::Conv2d c(torch::nn::Conv2dOptions(in, out, kernel).padding(kernel / 2).bias(with_bias));
  torch::Tensor w = c->weight.detach().clone();
  weight_g = register_parameter("weight_g", w.flatten(1).norm(2, 1).view({out, 1, 1, 1}).clone());
  weight_v = register_parameter("weight_v", w);
  if (with_bias) bias = register_parameter("bias", c->bias.detach().clone());
}

torch::Tensor WnConv2dImpl::weight() const {
  torch::Tensor norm = weight_v.flatten(1).norm(2, 1).view({weight_v.size(0), 1, 1, 1});
  return weight_v * (weight_g / norm);
}

torch::Tensor WnConv2dImpl::forward(const torch::Tensor& x) {
  return torch::conv2d(x, weight(), bias, 1, kernel_ / 2);
}

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, bool bias) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).padding(kernel / 2).bias(bias));
}

bool valid_upscale(int64_t scale) { return scale == 3 || (scale >= 1 && (scale & (scale - 1)) == 0); }

torch::nn::Sequential pixel_shuffle_upsampler(int64_t scale, int64_t features, bool prelu) {
  if (!valid_upscale(scale)) throw ConfigError("upscale factor " + std::to_string(scale) + " is not supported (use 2, 3, 4 or 8)");
  torch::nn::Sequential seq;
  auto stage = [&](int64_t r) {
    seq->push_back(conv(features, r * r * features));
    seq->push_back(torch::nn::PixelShuffle(r));
    if (prelu) seq->push_back(torch::nn::PReLU(torch::nn::PReLUOptions().num_parameters(features)));
  };
  if (scale == 3) stage(3);
  else for (int64_t s = scale; s > 1; s /= 2) stage(2);
  return seq;
}

}  // namespace tessera::nn
