// InceptionV3 (Szegedy et al. 2016) with torchvision's module names, for FID/IS features (pool3,
// 2048-d) from weights a user converts with scripts/convert_inception.py. Input: images in [-1, 1]
// at 299x299 (the FeatureNet wrapper resizes and rescales [0,1] images).
#pragma once
#include "tessera/archs/net.h"
#include "tessera/core/options.h"

namespace tessera::archs {

class BasicConv2dImpl : public torch::nn::Module {
 public:
  BasicConv2dImpl(int64_t in, int64_t out, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride = {1, 1},
                  std::array<int64_t, 2> padding = {0, 0});
  torch::Tensor forward(const torch::Tensor& x) { return torch::relu(bn(conv(x))); }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(BasicConv2d);

struct InceptionOptions {
  int64_t num_classes = 1000;
  template <class V>
  void visit(V& v) {
    v("num_classes", num_classes, "classes of the final layer (torchvision's: 1000)", 1, 1 << 20);
  }
};

class InceptionV3Impl : public NetImpl {
 public:
  explicit InceptionV3Impl(InceptionOptions o);
  torch::Tensor features(const torch::Tensor& x);  // [B, 2048] average-pooled Mixed_7c
  torch::Tensor forward(torch::Tensor x) override { return fc(features(x)); }
  std::string type() const override { return "inception_v3"; }
  std::string task() const override { return "classifier"; }
  std::vector<int64_t> input_shape() const override { return {3, 299, 299}; }
  YAML::Node options_yaml() const override { return write_options(opt, type()); }
  InceptionOptions opt;
  torch::nn::Linear fc{nullptr};

 private:
  BasicConv2d conv(const std::string& name, int64_t in, int64_t out, std::array<int64_t, 2> k, std::array<int64_t, 2> s = {1, 1},
                   std::array<int64_t, 2> p = {0, 0});
  std::vector<std::pair<std::string, std::function<torch::Tensor(const torch::Tensor&)>>> stages_;
};
TORCH_MODULE(InceptionV3);

void register_inception_arch(ArchRegistry& r);

}  // namespace tessera::archs
