// Recipe `style`: a feed-forward style network (Johnson et al. 2016) trained on a folder of content
// images against one style image, with the VGG content and Gram-matrix style losses. Defaults are
// pytorch/examples fast_neural_style's: VGG16, content relu2_2 x1e5, style relu1_2/relu2_2/
// relu3_3/relu4_3 x1e10, Adam 1e-3 (batch 4 and 256 px crops in the data section).
#include "tessera/recipes/style.h"

#include "tessera/archs/checkpoint.h"
#include "tessera/archs/vgg.h"
#include "tessera/data/image_folder.h"
#include "tessera/io/image_io.h"
#include "tessera/losses/adversarial.h"
#include "tessera/losses/feature.h"
#include "tessera/recipes/gatys.h"
#include "tessera/recipes/generative.h"
#include "tessera/recipes/trained_net.h"

namespace tessera::recipes {

namespace {

class StyleRecipe : public Recipe {
 public:
  StyleRecipe(Cfg& root, torch::Device device, int64_t total) : device_(device) {
    archs::NetPtr net = archs::build_arch(root.child("network"));
    if (net->task() != "image_to_image" || net->scale() != 1)
      throw ConfigError(root.file() + ": network: the style recipe trains an image-to-image network of scale 1 (transformer_net), not " + net->type());
    Cfg rc = root.child("recipe");
    rc.req<std::string>("type");
    style_path_ = rc.req<std::string>("style_image");
    style_size_ = rc.get<int64_t>("style_size", 0, 0, 1 << 14);
    YAML::Node fn = archs::read_feature_section(rc, "features", 16, "");
    vgg_ = archs::build_feature_vgg(rc.child("features", true).with_node(fn));
    vgg_->to(device_);
    content_w_ = losses::read_layer_weights(rc, "content_layers", {{"relu2_2", 1e5}});
    style_w_ = losses::read_layer_weights(rc, "style_layers", {{"relu1_2", 1e10}, {"relu2_2", 1e10}, {"relu3_3", 1e10}, {"relu4_3", 1e10}});
    tv_weight_ = rc.get<double>("tv_weight", 0.0, 0.0, 1e15);
    const std::string norm = rc.get_choice("normalize_layers", "auto", {"auto", "true", "false"});
    normalize_ = norm == "auto" ? fn["weights"].as<std::string>() == "random" : norm == "true";
    TrainedNetOptions tno;
    tno.default_optimizer = "{type: adam, lr: 1.0e-3}";
    precision_ = std::make_shared<Precision>(rc, device_);
    net_ = std::make_unique<TrainedNet>(net, rc, read_net_options(rc, precision_, tno), total, device_, "network");
    Cfg vc = rc.child("val", true);
    val_images_ = vc.get<int64_t>("images", 4, 1, 64);
    vc.finish();
    rc.finish();
    for (const auto& [k, w] : content_w_) ctaps_.insert(k), taps_.insert(k);
    for (const auto& [k, w] : style_w_) staps_.insert(k), taps_.insert(k);
    vgg_->features(torch::zeros({1, 3, 32, 32}, torch::TensorOptions().device(device_)), taps_);  // unknown layers fail here
    // The style image's Gram matrices, once (pytorch/examples: the style image at --style-size).
    torch::Tensor style = io::read_image(style_path_).rgb;
    if (style_size_ > 0) style = resize_longer_side(style, style_size_);
    torch::NoGradGuard ng;
    for (auto& [k, f] : vgg_->features(style.unsqueeze(0).to(device_), staps_)) grams_[k] = losses::gram_matrix(f);
    style_preview_ = resize_longer_side(style, 128);
    resolved_["network"] = net->options_yaml();
    resolved_["recipe"] = yaml_clone(rc.node());
    resolved_["recipe"]["features"] = fn;
    resolved_["recipe"]["content_layers"] = losses::layer_weights_yaml(content_w_);
    resolved_["recipe"]["style_layers"] = losses::layer_weights_yaml(style_w_);
  }

  Scalars losses_of(const torch::Tensor& x, const torch::Tensor& y, torch::Tensor* total) {
    losses::FeatureMap target;
    {
      torch::NoGradGuard ng;
      target = vgg_->features(x, ctaps_);
    }
    auto fy = vgg_->features(y, taps_);
    torch::Tensor c = losses::content_loss(fy, target, content_w_, normalize_);
    torch::Tensor s = losses::style_loss(fy, grams_, style_w_, normalize_);
    torch::Tensor loss = c + s;
    torch::Tensor tv;
    if (tv_weight_ > 0) loss = loss + (tv = tv_weight_ * losses::total_variation(y));
    if (total) *total = loss;
    Scalars out{{"loss", loss.item<double>()}, {"content", c.item<double>()}, {"style", s.item<double>()}};
    if (tv.defined()) out["tv"] = tv.item<double>();
    return out;
  }

  Scalars train_step(const data::Batch& batch, int64_t step) override {
    net_->net().train();
    torch::Tensor x = batch.at("image").to(device_), loss;
    Scalars out;
    {
      auto autocast = net_->autocast();
      torch::Tensor y = net_->net().forward(x).to(torch::kFloat32);
      out = losses_of(x, y, &loss);
    }
    precision_->check_loss(out.at("loss"), step, "loss");
    net_->step(loss, step);
    out["lr"] = net_->lr(step);
    return out;
  }

  ValResult validate(const data::Dataset* val, int64_t) override {
    auto* folder = dynamic_cast<const data::ImageFolderDataset*>(val);
    if (!folder) return {};
    torch::NoGradGuard ng;
    archs::NetImpl& net = net_->inference();
    net.eval();
    torch::Tensor x = folder->first(static_cast<size_t>(val_images_)).to(device_);
    torch::Tensor y = net.forward(x);
    ValResult r;
    r.metrics = losses_of(x, y, nullptr);
    torch::Tensor grid = make_grid(torch::cat({x, y.clamp(0, 1)}).to(torch::kCPU), x.size(0));
    r.images.emplace_back("stylized", grid);
    r.images.emplace_back("style", style_preview_);
    return r;
  }
  std::string best_metric() const override { return "loss"; }
  bool higher_is_better() const override { return false; }

  std::vector<std::pair<std::string, io::TensorFile>> weight_files() override {
    return {{"model.safetensors", archs::net_weights(net_->inference(), {{"tessera.ema", net_->has_ema() ? "true" : "false"},
                                                                            {"tessera.style_image", style_path_}})}};
  }
  void save_state(torch::serialize::OutputArchive& ar) override { net_->save(ar); }
  void load_state(torch::serialize::InputArchive& ar) override { net_->load(ar); }
  YAML::Node resolved_config() const override { return resolved_; }
  Precision* precision() override { return precision_.get(); }
  std::string summary() const override {
    return "style: " + net_->net().type() + " (" + std::to_string(archs::count_parameters(net_->net())) + " params; " + net_->summary() +
           ") on VGG" + std::to_string(vgg_->opt.depth) + (normalize_ ? " (random, per-layer normalised losses)" : "") + ", style '" +
           style_path_ + "'";
  }

 private:
  torch::Device device_;
  PrecisionPtr precision_;
  std::unique_ptr<TrainedNet> net_;
  archs::Vgg vgg_{nullptr};
  std::string style_path_;
  int64_t style_size_ = 0, val_images_ = 4;
  losses::LayerWeights content_w_, style_w_;
  double tv_weight_ = 0;
  bool normalize_ = false;
  std::set<std::string> ctaps_, staps_, taps_;
  losses::FeatureMap grams_;
  torch::Tensor style_preview_;
  YAML::Node resolved_;
};

}  // namespace

void register_style_recipe(RecipeRegistry& r) {
  r.add("style", [](Cfg& root, torch::Device d, int64_t total) -> RecipePtr { return std::make_unique<StyleRecipe>(root, d, total); });
}

}  // namespace tessera::recipes
