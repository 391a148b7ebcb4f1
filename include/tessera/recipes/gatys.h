// Optimisation-based neural style transfer (Gatys, Ecker & Bethge 2016): an image is optimised so
// that its VGG features match a content image's at the content layers and its Gram matrices match
// one or more style images' at the style layers, with a total-variation prior. Defaults are
// jcjohnson/neural-style's: VGG19, content relu4_2 x5, style relu1_1..relu5_1 x100, TV 1e-3,
// 1000 L-BFGS iterations, 512 px, noise init. Colour preservation (Gatys et al. 2017, luminance
// transfer) and coarse-to-fine scales are options.
#pragma once
#include "tessera/core/options.h"
#include <functional>

#include "tessera/archs/vgg.h"
#include "tessera/core/config.h"
#include "tessera/losses/feature.h"
#include "tessera/recipes/recipe.h"

namespace tessera::recipes {

struct GatysOptions {
  std::string name = "gatys";
  uint64_t seed = 0;
  std::string device = "auto";
  YAML::Node features;  // build_feature_vgg's section: {depth, weights, seed, pooling, ...}
  int64_t image_size = 512;
  losses::LayerWeights content_layers{{"relu4_2", 5.0}};
  losses::LayerWeights style_layers{{"relu1_1", 100.0}, {"relu2_1", 100.0}, {"relu3_1", 100.0}, {"relu4_1", 100.0}, {"relu5_1", 100.0}};
  double tv_weight = 1e-3;
  std::string normalize_layers = "auto";
  std::string optimizer = "lbfgs";
  double lr = 0;
  int64_t history_size = 100;
  int64_t iterations = 1000;
  std::string init = "noise";
  bool preserve_color = false;
  std::vector<double> scales{1.0};
  double style_scale = 1.0;
  int64_t log_every = 50, snapshot_every = 100;
  std::string amp = "none";

  // The plain keys (features, content_layers and style_layers have their own readers).
  template <class V>
  void visit(V& v) {
    v("name", name, "run name (the run directory under runs/ unless --run-dir)");
    v("seed", seed, "seed of the noise init and of a random VGG");
    v("device", device, "auto | cpu | cuda[:N]");
    v("image_size", image_size, "the output's longer side", 16, 1 << 14);
    v("tv_weight", tv_weight, "total variation weight", 0.0, 1e12);
    v.choice("normalize_layers", normalize_layers, "divide each layer's loss by its size (auto: with random weights)", {"auto", "true", "false"});
    v.choice("optimizer", optimizer, "what optimises the image", {"lbfgs", "adam"});
    v("lr", lr, "learning rate (0: 1.0 for L-BFGS, 0.02 for Adam)", 0.0, 1e6);
    v("history_size", history_size, "L-BFGS memory", 1, 10000);
    v("iterations", iterations, "iterations per scale", 1, 10'000'000);
    v.choice("init", init, "start from noise or from the content image", {"noise", "content"});
    v("preserve_color", preserve_color, "transfer luminance only, keeping the content's chroma");
    v("scales", scales, "coarse to fine, fractions of image_size ending at 1");
    v("style_scale", style_scale, "style images' longer side relative to the output's", 0.01, 10.0);
    v("log_every", log_every, "iterations between progress lines and scalars (0: never)", 0, 1'000'000);
    v("snapshot_every", snapshot_every, "iterations between snapshots (0: never)", 0, 1'000'000);
    // No fp16: L-BFGS's line search compares losses exactly, which a loss scaler's skipped steps break.
    v.choice("amp", amp, "bf16: the VGG forward and the losses under bfloat16 autocast (the image stays float32)", {"none", "bf16"});
  }
  void check(Cfg& root) const;
  static GatysOptions from_yaml(Cfg& root);  // every key checked
  YAML::Node to_yaml() const;                 // the whole resolved config
};

struct StyleImage {
  torch::Tensor rgb;  // [3,H,W] in [0,1]
  double weight = 1.0;
};

struct GatysProgress {
  int64_t iteration = 0, total = 0, evaluations = 0;
  double scale = 1.0;
  Scalars terms;  // loss, content, style, tv
};

struct GatysResult {
  torch::Tensor image;            // [3,H,W] in [0,1]
  std::vector<GatysProgress> log;  // one row per logged iteration (the first and last included)
  int64_t evaluations = 0;         // loss/gradient evaluations in all
};

class Gatys {
 public:
  Gatys(GatysOptions opt, torch::Device device);
  // `on_log` runs at every logged iteration, `on_snapshot` every snapshot_every iterations.
  GatysResult run(const torch::Tensor& content, const std::vector<StyleImage>& styles,
                  const std::function<void(const GatysProgress&)>& on_log = {},
                  const std::function<void(const torch::Tensor&, const GatysProgress&)>& on_snapshot = {});
  // The loss terms of `image` against content and styles at the final scale (for reports and tests).
  Scalars terms(const torch::Tensor& image, const torch::Tensor& content, const std::vector<StyleImage>& styles);
  archs::VggImpl& vgg() { return *vgg_; }
  bool normalized() const { return normalize_; }

 private:
  struct Targets {
    losses::FeatureMap content, grams;
  };
  Targets targets(const torch::Tensor& content, const std::vector<StyleImage>& styles, int64_t size);
  Scalars evaluate(const torch::Tensor& x, const Targets& t, torch::Tensor* loss_out);

  GatysOptions opt_;
  torch::Device device_;
  archs::Vgg vgg_{nullptr};
  bool normalize_ = false;
  std::set<std::string> taps_;
};

// Resizes so the longer side is `size` (MATLAB bicubic, antialiased when shrinking).
torch::Tensor resize_longer_side(const torch::Tensor& rgb, int64_t size);
// The luminance of `stylized` with the chroma of `content` (same size), the luminance clamped to
// what keeps every pixel in the RGB gamut, so the chroma is exactly the content's.
torch::Tensor transfer_luminance(const torch::Tensor& stylized, const torch::Tensor& content);

}  // namespace tessera::recipes
