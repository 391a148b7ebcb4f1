// Recipes srgan and esrgan: an upscaler (the generator) trained against a discriminator with a
// pixel loss, a perceptual loss on VGG features and an adversarial loss, as Ledig et al. (SRGAN)
// and Wang et al. (ESRGAN; BasicSR's SRGANModel / ESRGANModel) train them. Each step updates the
// generator (after `d_init_steps` discriminator-only steps), then the discriminator on the real HR
// patch and the detached SR output. Validation is the sr recipe's (PSNR/SSIM against bicubic).
//
// Defaults per family (REFERENCE.md):
//   srgan   Ledig et al.: no pixel loss, VGG19 relu5_4 MSE on features / 12.75, standard
//           (non-saturating) GAN x 1e-3, Adam 1e-4 (0.9, 0.999) for both networks
//   esrgan  Wang et al.: L1 x 1e-2, VGG19 conv5_4 (before its ReLU) L1 x 1, relativistic average
//           GAN x 5e-3, Adam 1e-4 (0.9, 0.99), generator EMA 0.999
#include <fmt/format.h>

#include "tessera/archs/checkpoint.h"
#include "tessera/archs/generative.h"
#include "tessera/archs/vgg.h"
#include "tessera/losses/adversarial.h"
#include "tessera/losses/feature.h"
#include "tessera/losses/losses.h"
#include "tessera/recipes/sr.h"
#include "tessera/recipes/trained_net.h"

namespace tessera::recipes {

namespace {

struct SrGanDefaults {
  std::string pixel_type;
  double pixel_weight;
  losses::LayerWeights layers;
  std::string criterion;
  double perceptual_weight, feature_scale;
  std::string gan_loss;
  double gan_weight;
  std::string optimizer;  // both networks'
  double ema;
};

class SrGanRecipe : public Recipe {
 public:
  SrGanRecipe(Cfg& root, torch::Device device, int64_t total, const std::string& family, const SrGanDefaults& def)
      : device_(device), family_(family), file_(root.file()) {
    Cfg nets = root.child("networks");
    archs::NetPtr g = archs::build_arch(nets.child("generator"));
    archs::NetPtr d = archs::build_arch(nets.child("discriminator"));
    if (g->task() != "image_to_image") nets.fail("generator", "must be an upscaler (srresnet, rrdbnet, edsr, ...), not " + g->type());
    auto* dc = dynamic_cast<archs::CriticImpl*>(d.get());
    if (!dc || dc->num_classes() > 0)
      nets.fail("discriminator", "must be an unconditional critic arch (vgg_discriminator, unet_discriminator_sn), not " + d->type());
    if (dc->in_channels() != 3) nets.fail("discriminator", "must take 3-channel images (channels: 3)");
    nets.finish();

    Cfg rc = root.child("recipe");
    rc.req<std::string>("type");
    pretrained_ = rc.get<std::string>("pretrained_generator", "");
    if (!pretrained_.empty()) load_pretrained(*g, pretrained_, {"model.safetensors"}, rc.where("pretrained_generator"));

    // Pixel loss: the family's type and weight with the user's keys laid over them; weight 0 turns it off.
    YAML::Node pn = YAML::Load(fmt::format("{{type: {}, weight: {}}}", def.pixel_type, def.pixel_weight));
    yaml_merge(pn, rc.child("pixel", true).node());
    pixel_ = losses::build_loss(rc.child("pixel", true).with_node(pn));
    pixel_weight_ = pn["weight"].as<double>();

    Cfg pc = rc.child("perceptual", true);
    perceptual_weight_ = pc.get<double>("weight", def.perceptual_weight, 0.0, 1e6);
    criterion_ = pc.get_choice("criterion", def.criterion, {"l1", "mse"});
    feature_scale_ = pc.get<double>("feature_scale", def.feature_scale, 1e-6, 1e6);
    layers_ = losses::read_layer_weights(pc, "layers", def.layers);
    YAML::Node fn;
    if (perceptual_weight_ > 0) {
      fn = archs::read_feature_section(pc, "features", 19, "");
      vgg_ = archs::build_feature_vgg(pc.child("features", true).with_node(fn));
      vgg_->to(device_);
      for (const auto& [k, w] : layers_) taps_.insert(k);
      vgg_->features(torch::zeros({1, 3, 32, 32}, torch::TensorOptions().device(device_)), taps_);  // unknown layers fail here
    } else {
      pc.allow("features");
    }
    pc.finish();

    Cfg gc = rc.child("gan", true);
    adv_ = losses::build_adversarial(gc.get<std::string>("loss", def.gan_loss), gc.where("loss"));
    gan_weight_ = gc.get<double>("weight", def.gan_weight, 0.0, 1e6);
    gc.finish();
    d_init_steps_ = rc.get<int64_t>("d_init_steps", 0, 0, int64_t{1} << 40);
    if (pixel_weight_ == 0 && perceptual_weight_ == 0 && gan_weight_ == 0)
      rc.fail("pixel", "pixel, perceptual and gan weights are all 0: the generator would not train");

    precision_ = std::make_shared<Precision>(rc, device_);
    TrainedNetOptions go, dopt;
    go.precision = dopt.precision = precision_;
    go.optimizer_key = "optimizer_g", go.scheduler_key = "scheduler_g", go.default_optimizer = def.optimizer;
    go.ema = read_ema(rc, def.ema);
    go.grad_clip = rc.get<double>("grad_clip", 0.0, 0.0, 1e9);
    go.state_net = "generator", go.state_optimizer = "optimizer_g";
    dopt.optimizer_key = "optimizer_d", dopt.scheduler_key = "scheduler_d", dopt.default_optimizer = def.optimizer;
    dopt.state_net = "discriminator", dopt.state_optimizer = "optimizer_d";
    gen_ = std::make_unique<TrainedNet>(g, rc, go, total, device_, "networks.generator");
    disc_ = std::make_unique<TrainedNet>(d, rc, dopt, total, device_, "networks.discriminator");
    val_ = std::make_unique<SrValidation>(rc.child("val", true), *g);
    rc.finish();

    resolved_["networks"]["generator"] = g->options_yaml();
    resolved_["networks"]["discriminator"] = d->options_yaml();
    resolved_["recipe"] = yaml_clone(rc.node());
    resolved_["recipe"]["pixel"] = pn;
    resolved_["recipe"]["perceptual"]["layers"] = losses::layer_weights_yaml(layers_);
    if (fn) resolved_["recipe"]["perceptual"]["features"] = fn;
  }

  archs::CriticImpl& disc() { return disc_->as<archs::CriticImpl>(); }

  Scalars train_step(const data::Batch& batch, int64_t step) override {
    archs::NetImpl& g = gen_->net();
    archs::CriticImpl& d = disc();
    g.train();
    d.train();
    torch::Tensor lq = data::sr_input(batch, g.scale(), device_), gt = batch.at("gt").to(device_);
    Scalars out;
    torch::Tensor sr;
    if (step >= d_init_steps_) {
      FrozenParameters frozen{&d};
      torch::Tensor g_loss;
      {
        auto autocast = precision_->autocast();
        sr = g.forward(lq).to(torch::kFloat32);
        torch::Tensor fake = d.score(sr).to(torch::kFloat32);
        torch::Tensor real = adv_->generator_needs_real() ? d.score(gt).to(torch::kFloat32).detach() : torch::Tensor();
        g_loss = gan_weight_ * adv_->generator(real, fake);
        out["g_gan"] = g_loss.item<double>();
        if (pixel_weight_ > 0) {
          torch::Tensor l = pixel_(sr, gt);
          out["g_pixel"] = l.item<double>();
          g_loss = g_loss + l;
        }
        if (perceptual_weight_ > 0) {
          losses::FeatureMap target;
          {
            torch::NoGradGuard ng;
            target = vgg_->features(gt, taps_);
          }
          torch::Tensor l = perceptual_weight_ * losses::perceptual_loss(vgg_->features(sr, taps_), target, layers_, criterion_, feature_scale_);
          out["g_perceptual"] = l.item<double>();
          g_loss = g_loss + l;
        }
      }
      out["g_loss"] = g_loss.item<double>();
      precision_->check_loss(out["g_loss"], step, "generator loss");
      gen_->step(g_loss, step);
      out["lr_g"] = gen_->lr(step);
    } else {
      torch::NoGradGuard ng;
      auto autocast = precision_->autocast();
      sr = g.forward(lq).to(torch::kFloat32);
    }
    torch::Tensor d_loss;
    {
      auto autocast = precision_->autocast();
      torch::Tensor real = d.score(gt).to(torch::kFloat32), fake = d.score(sr.detach()).to(torch::kFloat32);
      d_loss = adv_->critic(real, fake);
      out["d_real"] = real.mean().item<double>();
      out["d_fake"] = fake.mean().item<double>();
    }
    out["d_loss"] = d_loss.item<double>();
    precision_->check_loss(out["d_loss"], step, "discriminator loss");
    disc_->step(d_loss, step);
    return out;
  }

  ValResult validate(const data::Dataset* val, int64_t) override { return val_->run(gen_->inference(), val, device_, family_); }
  std::string best_metric() const override { return val_->best_metric(); }

  void check_data(const data::Dataset& train, const data::Dataset* val) const override {
    const int64_t scale = gen_->net().scale();
    SrValidation::check_data(file_, family_, scale, train, val);
    const auto shape = disc_->net().input_shape();
    const int64_t side = dynamic_cast<const data::SrFolderDataset&>(train).patch_size() * scale;
    if (shape.size() == 3 && shape[1] > 0 && side != shape[1])
      throw ConfigError(fmt::format("{}: data.train gives HR patches of {} px (patch_size x scale) but networks.discriminator "
                                    "takes {} px: set data.train.patch_size to {} or networks.discriminator.input_size to {}",
                                    file_, side, shape[1], shape[1] % scale == 0 ? std::to_string(shape[1] / scale) : "?", side));
  }

  std::vector<std::pair<std::string, io::TensorFile>> weight_files() override {
    return {{"model.safetensors", archs::net_weights(gen_->inference(), {{"tessera.ema", gen_->has_ema() ? "true" : "false"}})},
            {"discriminator.safetensors", archs::net_weights(disc_->net())}};
  }
  void save_state(torch::serialize::OutputArchive& ar) override {
    gen_->save(ar);
    disc_->save(ar);
  }
  void load_state(torch::serialize::InputArchive& ar) override {
    gen_->load(ar);
    disc_->load(ar);
  }
  YAML::Node resolved_config() const override { return resolved_; }
  Precision* precision() override { return precision_.get(); }
  std::string summary() const override {
    std::string losses = fmt::format("{} GAN x {:g}", adv_->name(), gan_weight_);
    if (pixel_weight_ > 0) losses += fmt::format(", pixel x {:g}", pixel_weight_);
    if (perceptual_weight_ > 0) {
      std::string l;
      for (const auto& [k, w] : layers_) l += (l.empty() ? "" : "+") + k;
      losses += fmt::format(", VGG{} {} {} x {:g}", vgg_->opt.depth, l, criterion_, perceptual_weight_);
    }
    return fmt::format("{}: {} x{} ({} params; {}){} vs {} ({} params; {}); {}", family_, gen_->net().type(), gen_->net().scale(),
                       archs::count_parameters(gen_->net()), gen_->summary(), pretrained_.empty() ? "" : " from " + pretrained_,
                       disc_->net().type(), archs::count_parameters(disc_->net()), disc_->summary(), losses);
  }

 private:
  torch::Device device_;
  std::string family_, file_, pretrained_;
  PrecisionPtr precision_;
  std::unique_ptr<TrainedNet> gen_, disc_;
  losses::LossFn pixel_;
  double pixel_weight_ = 0, perceptual_weight_ = 0, feature_scale_ = 1, gan_weight_ = 0;
  std::string criterion_;
  losses::LayerWeights layers_;
  std::set<std::string> taps_;
  archs::Vgg vgg_{nullptr};
  losses::AdversarialPtr adv_;
  int64_t d_init_steps_ = 0;
  std::unique_ptr<SrValidation> val_;
  YAML::Node resolved_;
};

}  // namespace

void register_sr_gan_recipes(RecipeRegistry& r) {
  const std::map<std::string, SrGanDefaults> families = {
      {"srgan", {"l1", 0.0, {{"relu5_4", 1.0}}, "mse", 1.0, 1.0 / 12.75, "nonsaturating", 1e-3, "{type: adam, lr: 1.0e-4, betas: [0.9, 0.999]}", 0.0}},
      {"esrgan", {"l1", 1e-2, {{"conv5_4", 1.0}}, "l1", 1.0, 1.0, "relativistic", 5e-3, "{type: adam, lr: 1.0e-4, betas: [0.9, 0.99]}", 0.999}},
  };
  for (const auto& [name, def] : families)
    r.add(name, [name = name, def = def](Cfg& root, torch::Device d, int64_t total) -> RecipePtr {
      return std::make_unique<SrGanRecipe>(root, d, total, name, def);
    });
}

}  // namespace tessera::recipes
