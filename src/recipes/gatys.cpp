#include "tessera/recipes/gatys.h"

#include <torch/optim/adam.h>
#include <torch/optim/lbfgs.h>

#include <cmath>

#include "tessera/core/runtime.h"
#include "tessera/data/resize.h"
#include "tessera/io/image_io.h"
#include "tessera/losses/adversarial.h"
#include "tessera/optim/optim.h"

namespace tessera::recipes {

void GatysOptions::check(Cfg& root) const {
  if (name.empty() || name.find('/') != std::string::npos) root.fail("name", "must be a non-empty name without '/'");
  if (scales.empty()) root.fail("scales", "needs at least one scale");
  for (size_t i = 0; i < scales.size(); ++i)
    if (!(scales[i] > 0 && scales[i] <= 1) || (i > 0 && scales[i] <= scales[i - 1]))
      root.fail("scales", "must increase, each in (0, 1], e.g. [0.25, 0.5, 1]");
  if (scales.back() != 1.0) root.fail("scales", "must end at 1 (the output size)");
}

GatysOptions GatysOptions::from_yaml(Cfg& root) {
  const GatysOptions defaults;
  YAML::Node features = archs::read_feature_section(root, "features", 19, "random");
  losses::LayerWeights content = losses::read_layer_weights(root, "content_layers", defaults.content_layers);
  losses::LayerWeights style = losses::read_layer_weights(root, "style_layers", defaults.style_layers);
  root.allow("_meta");
  GatysOptions o = read_options<GatysOptions>(root);  // the plain keys, check(), unknown keys refused
  o.features = features;
  o.content_layers = std::move(content);
  o.style_layers = std::move(style);
  // The feature network's own keys are checked by building it.
  archs::build_feature_vgg(Cfg(yaml_clone(o.features), "features", root.file()));
  return o;
}

YAML::Node GatysOptions::to_yaml() const {
  YAML::Node n = write_options(*this, "");
  n["features"] = yaml_clone(features);
  n["content_layers"] = losses::layer_weights_yaml(content_layers);
  n["style_layers"] = losses::layer_weights_yaml(style_layers);
  return n;
}

torch::Tensor resize_longer_side(const torch::Tensor& rgb, int64_t size) {
  const int64_t h = rgb.size(-2), w = rgb.size(-1);
  const double f = static_cast<double>(size) / static_cast<double>(std::max(h, w));
  const int64_t oh = std::max<int64_t>(1, std::llround(h * f)), ow = std::max<int64_t>(1, std::llround(w * f));
  if (oh == h && ow == w) return rgb;
  return data::imresize_bicubic(rgb, oh, ow).clamp(0, 1);
}

torch::Tensor transfer_luminance(const torch::Tensor& stylized, const torch::Tensor& content) {
  torch::Tensor s = io::rgb_to_ycbcr(stylized.to(torch::kFloat64)), c = io::rgb_to_ycbcr(content.to(torch::kFloat64));
  // Each RGB channel is Y plus an offset fixed by the chroma: keep Y where all three stay in [0, 1].
  torch::Tensor offsets = io::ycbcr_to_rgb(torch::stack({torch::zeros_like(c[0]), c[1], c[2]}));
  torch::Tensor lo = (-offsets).amax(0), hi = (1 - offsets).amin(0);
  torch::Tensor y = torch::maximum(torch::minimum(s[0], hi), lo);
  return io::ycbcr_to_rgb(torch::stack({y, c[1], c[2]})).clamp(0, 1).to(torch::kFloat32);
}

Gatys::Gatys(GatysOptions opt, torch::Device device) : opt_(std::move(opt)), device_(device) {
  vgg_ = archs::build_feature_vgg(Cfg(yaml_clone(opt_.features), "features", ""));
  vgg_->to(device_);
  normalize_ = opt_.normalize_layers == "auto" ? opt_.features["weights"].as<std::string>() == "random" : opt_.normalize_layers == "true";
  for (const auto& [k, w] : opt_.content_layers) taps_.insert(k);
  for (const auto& [k, w] : opt_.style_layers) taps_.insert(k);
  vgg_->features(torch::zeros({1, 3, 32, 32}, torch::TensorOptions().device(device_)), taps_);  // names every unknown layer now
}

Gatys::Targets Gatys::targets(const torch::Tensor& content, const std::vector<StyleImage>& styles, int64_t size) {
  torch::NoGradGuard ng;
  Targets t;
  std::set<std::string> ctaps, staps;
  for (const auto& [k, w] : opt_.content_layers) ctaps.insert(k);
  for (const auto& [k, w] : opt_.style_layers) staps.insert(k);
  t.content = vgg_->features(content.unsqueeze(0).to(device_), ctaps);
  // Several styles blend their Gram matrices with their weights (neural-style's style_blend_weights).
  double total = 0;
  for (const auto& s : styles) total += s.weight;
  const int64_t style_size = std::max<int64_t>(16, std::llround(size * opt_.style_scale));
  for (const auto& s : styles) {
    auto f = vgg_->features(resize_longer_side(s.rgb, style_size).unsqueeze(0).to(device_), staps);
    for (auto& [k, v] : f) {
      torch::Tensor g = losses::gram_matrix(v) * (s.weight / total);
      t.grams[k] = t.grams.count(k) ? t.grams[k] + g : g;
    }
  }
  return t;
}

Scalars Gatys::evaluate(const torch::Tensor& x, const Targets& t, torch::Tensor* loss_out) {
  optim::AutocastScope autocast(device_.type(), opt_.amp == "bf16");
  auto f = vgg_->features(x, taps_);
  torch::Tensor content = losses::content_loss(f, t.content, opt_.content_layers, normalize_);
  torch::Tensor style = losses::style_loss(f, t.grams, opt_.style_layers, normalize_);
  torch::Tensor tv = opt_.tv_weight * losses::total_variation(x, /*squared=*/true);
  torch::Tensor loss = (content + style + tv).to(torch::kFloat32);
  if (loss_out) *loss_out = loss;
  return {{"loss", loss.item<double>()}, {"content", content.item<double>()}, {"style", style.item<double>()}, {"tv", tv.item<double>()}};
}

Scalars Gatys::terms(const torch::Tensor& image, const torch::Tensor& content, const std::vector<StyleImage>& styles) {
  torch::NoGradGuard ng;
  const int64_t size = std::max(image.size(-2), image.size(-1));
  Targets t = targets(resize_longer_side(content, size), styles, size);
  return evaluate(image.unsqueeze(0).to(device_), t, nullptr);
}

GatysResult Gatys::run(const torch::Tensor& content_full, const std::vector<StyleImage>& styles,
                       const std::function<void(const GatysProgress&)>& on_log,
                       const std::function<void(const torch::Tensor&, const GatysProgress&)>& on_snapshot) {
  if (styles.empty()) throw ConfigError("style transfer needs at least one style image");
  GatysResult result;
  torch::Tensor image;
  const int64_t total = opt_.iterations * static_cast<int64_t>(opt_.scales.size());
  int64_t done_all = 0;
  for (double scale : opt_.scales) {
    const int64_t size = std::max<int64_t>(16, std::llround(opt_.image_size * scale));
    torch::Tensor content = resize_longer_side(content_full, size);
    Targets t = targets(content, styles, size);
    torch::Tensor init;
    if (image.defined()) {
      init = data::imresize_bicubic(image, content.size(1), content.size(2), false);  // the coarser result, upsampled
    } else if (opt_.init == "content") {
      init = content.clone();
    } else {
      torch::Generator g = at::detail::createCPUGenerator(opt_.seed);
      init = torch::rand(content.sizes(), g, torch::kFloat32);
    }
    torch::Tensor x = init.unsqueeze(0).to(device_).set_requires_grad(true);
    GatysProgress p;
    p.total = total;
    p.scale = scale;
    auto closure = [&]() -> torch::Tensor {
      torch::Tensor loss;
      if (x.grad().defined()) x.grad().zero_();
      p.terms = evaluate(x, t, &loss);
      loss.backward();
      ++result.evaluations;
      return loss;
    };
    std::unique_ptr<torch::optim::Optimizer> optimizer;
    if (opt_.optimizer == "lbfgs") {
      optimizer = std::make_unique<torch::optim::LBFGS>(
          std::vector<torch::Tensor>{x}, torch::optim::LBFGSOptions(opt_.lr > 0 ? opt_.lr : 1.0).history_size(opt_.history_size)
                                             .tolerance_grad(0).tolerance_change(0));
    } else {
      optimizer = std::make_unique<torch::optim::Adam>(std::vector<torch::Tensor>{x}, torch::optim::AdamOptions(opt_.lr > 0 ? opt_.lr : 0.02));
    }
    auto log_now = [&](int64_t it) {
      p.iteration = it;
      p.evaluations = result.evaluations;
      result.log.push_back(p);
      if (on_log) on_log(p);
    };
    // Iterations run in chunks between the logging/snapshot points (L-BFGS keeps its history across them).
    int64_t done = 0;
    {
      torch::NoGradGuard ng;
      p.terms = evaluate(x, t, nullptr);
    }
    log_now(done_all);
    while (done < opt_.iterations) {
      int64_t next = opt_.iterations;
      for (int64_t every : {opt_.log_every, opt_.snapshot_every})
        if (every > 0) next = std::min(next, (done / every + 1) * every);
      const int64_t chunk = next - done;
      if (opt_.optimizer == "lbfgs") {
        auto& o = static_cast<torch::optim::LBFGSOptions&>(optimizer->param_groups()[0].options());
        o.max_iter(chunk).max_eval(chunk * 5 / 4 + 1);
        optimizer->step(closure);
      } else {
        for (int64_t i = 0; i < chunk; ++i) {
          closure();
          optimizer->step();
        }
      }
      done = next;
      const int64_t it = done_all + done;
      const bool log = done == opt_.iterations || (opt_.log_every > 0 && done % opt_.log_every == 0);
      if (log) log_now(it);
      if (on_snapshot && opt_.snapshot_every > 0 && done % opt_.snapshot_every == 0) {
        p.iteration = it;
        on_snapshot(x.detach()[0].clamp(0, 1).to(torch::kCPU), p);
      }
      if (!std::isfinite(p.terms.at("loss"))) throw Error("the style loss became " + std::to_string(p.terms.at("loss")) + " at iteration " + std::to_string(it) + "; lower lr");
    }
    done_all += opt_.iterations;
    image = x.detach()[0].to(torch::kCPU);
  }
  image = image.clamp(0, 1);
  if (opt_.preserve_color) image = transfer_luminance(image, resize_longer_side(content_full, std::max(image.size(1), image.size(2))));
  result.image = image;
  return result;
}

}  // namespace tessera::recipes
