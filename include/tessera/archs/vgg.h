// VGG16 / VGG19 (Simonyan & Zisserman 2015) as a feature network for perceptual and style losses,
// with torchvision's parameter names (features.N.weight) so its converted weights load as they are.
// Named taps follow the paper's layer names: conv1_1, relu1_1, ..., pool1, ..., conv5_4, relu5_4,
// pool5 (VGG16 stops at conv5_3). Inputs are RGB in [0, 1] (or [-1, 1] with range_norm); the
// ImageNet normalisation torchvision's weights expect is applied inside (use_input_norm), as in
// BasicSR's VGGFeatureExtractor.
#pragma once
#include <map>
#include <set>

#include "tessera/archs/net.h"
#include "tessera/core/options.h"

namespace tessera::archs {

struct VggOptions {
  int64_t depth = 19;
  bool use_input_norm = true;
  bool range_norm = false;
  std::string pooling = "max";
  template <class V>
  void visit(V& v) {
    v("depth", depth, "16 or 19", 16, 19);
    v("use_input_norm", use_input_norm, "subtract the ImageNet mean and divide by its std inside");
    v("range_norm", range_norm, "inputs in [-1, 1]: map them to [0, 1] first");
    v.choice("pooling", pooling, "pooling between stages (Gatys et al. prefer avg)", {"max", "avg"});
  }
  void check(Cfg& c) const;
};

class VggImpl : public NetImpl {
 public:
  explicit VggImpl(VggOptions o);
  // Every tap in `taps` (names as above), computed up to the deepest one requested.
  std::map<std::string, torch::Tensor> features(const torch::Tensor& x, const std::set<std::string>& taps);
  torch::Tensor forward(torch::Tensor x) override;  // the last conv stage's output (pool5)
  std::string type() const override { return "vgg"; }
  std::string task() const override { return "feature_extractor"; }
  YAML::Node options_yaml() const override { return write_options(opt, type()); }
  // The tap names in network order.
  const std::vector<std::string>& tap_names() const { return names_; }
  // Seeded He (Kaiming normal, fan-out, as torchvision's init) weights and zero biases.
  void randomise(uint64_t seed);
  // The ImageNet normalisation, [1, 3, 1, 1].
  const torch::Tensor& input_mean() const { return mean_; }
  const torch::Tensor& input_std() const { return std_; }

  VggOptions opt;
  torch::nn::Sequential features_seq{nullptr};  // registered as "features"

 private:
  std::vector<std::string> names_;  // one per features child
  torch::Tensor mean_, std_;
};
TORCH_MODULE(Vgg);

// The feature network of a loss: {depth, weights: random | PATH, seed, use_input_norm, range_norm,
// pooling}. `weights: random` is the explicit choice of a seeded random VGG; a PATH must be a VGG
// converted with scripts/convert_weights.py (a missing file is an error that says how). The
// network is frozen (no gradients to its weights) and in eval mode.
Vgg build_feature_vgg(Cfg cfg);
// Reads a loss's `features` section under `parent` (keys checked): `depth` defaults to
// `default_depth`; `weights` defaults to `default_weights`, or is required when that is empty.
YAML::Node read_feature_section(Cfg& parent, const std::string& key, int64_t default_depth, const std::string& default_weights);

void register_vgg_arch(ArchRegistry& r);

}  // namespace tessera::archs
