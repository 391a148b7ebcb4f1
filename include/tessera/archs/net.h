// The arch interface: a network and nothing else, options in, tensors out.
#pragma once
#include <torch/nn.h>
#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>

#include "tessera/core/registry.h"

namespace tessera::archs {

// An image-to-image network (SR upscaler, style network, generator...). Images are float NCHW
// RGB in [0, 1] unless the arch says otherwise.
class NetImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  virtual std::string type() const = 0;
  // The options that rebuild this network, `type:` included (stored in checkpoint metadata).
  virtual YAML::Node options_yaml() const = 0;
  virtual int64_t scale() const { return 1; }
  // What the network does, which decides the commands that can run it: "image_to_image" (upscalers),
  // "generator", "autoencoder", "critic" or "classifier". Stored as tessera.task in checkpoints.
  virtual std::string task() const { return "image_to_image"; }
  // Input pixels on each side that reach one output pixel (at the input's resolution); -1 when an
  // output pixel depends on the whole image (normalisation over the image). Tiling needs an overlap
  // of at least this much to match whole-image inference.
  virtual int64_t receptive_radius() const { return -1; }
  // The shape of one input without the batch dimension; -1 where any size goes. Image networks
  // take [in_channels, -1, -1]; generators a latent code [latent_dim].
  virtual std::vector<int64_t> input_shape() const { return {in_channels(), -1, -1}; }
  virtual int64_t in_channels() const { return 3; }
  // Input sides must be multiples of this (stride-2 stages that come back up); 1 for any size.
  // run_image pads other sizes and crops the result; exported ONNX files say it in their metadata.
  virtual int64_t size_multiple() const { return 1; }
};
using NetPtr = std::shared_ptr<NetImpl>;

using ArchRegistry = Registry<NetPtr>;
ArchRegistry& arch_registry();
void register_builtin_archs();

// Builds a network from a config section holding `type:` and the arch's options.
NetPtr build_arch(Cfg cfg);
// Rebuilds a network from options YAML text (a checkpoint's metadata).
NetPtr build_arch_from_yaml_text(const std::string& yaml_text, const std::string& source);

int64_t count_parameters(const torch::nn::Module& m);

}  // namespace tessera::archs
