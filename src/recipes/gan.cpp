// Recipes gan, wgan, wgan_gp and cgan: one adversarial procedure with each paper's defaults.
#include <spdlog/spdlog.h>

#include "generative_common.h"
#include "tessera/dist/dist.h"
#include "tessera/losses/adversarial.h"

namespace tessera::recipes {

namespace {

struct GanDefaults {
  std::string loss;
  int64_t n_critic;
  double clip, gp;
  std::string opt_g, opt_d;
};

class GanRecipe : public Recipe {
 public:
  GanRecipe(Cfg& root, torch::Device device, int64_t total, const std::string& family, const GanDefaults& def)
      : device_(device), family_(family), file_(root.file()) {
    Cfg nets = root.child("networks");
    archs::NetPtr gen_net = archs::build_arch(nets.child("generator")), critic_net = archs::build_arch(nets.child("critic"));
    auto* g = dynamic_cast<archs::GeneratorImpl*>(gen_net.get());
    auto* c = dynamic_cast<archs::CriticImpl*>(critic_net.get());
    if (!g) nets.fail("generator", "is not a generator arch (dcgan_generator, mlp_generator)");
    if (!c) nets.fail("critic", "is not a critic arch (dcgan_critic, mlp_critic)");
    nets.finish();
    if (g->num_classes() != c->num_classes())
      throw ConfigError(root.file() + ": networks.generator.num_classes and networks.critic.num_classes differ");
    if (family_ == "cgan" && g->num_classes() == 0)
      throw ConfigError(root.file() + ": the cgan recipe needs num_classes > 0 in both networks");
    Cfg rc = root.child("recipe");
    adv_ = losses::build_adversarial(rc.get<std::string>("loss", def.loss), rc.where("loss"));
    loss_ = adv_->name();
    n_critic_ = rc.get<int64_t>("n_critic", def.n_critic, 1, 10000);
    clip_ = rc.get<double>("clip", def.clip, 0.0, 1e6);
    gp_.weight = rc.get<double>("gp_lambda", def.gp, 0.0, 1e6);
    r1_.type = "r1";
    r1_.weight = rc.get<double>("r1_gamma", 0.0, 0.0, 1e6);
    paper_schedule_ = rc.get<bool>("wgan_schedule", false);
    if (loss_ == "nonsaturating" && (clip_ > 0 || gp_.weight > 0) && family_ == "gan")
      rc.fail("loss", "clip and gp_lambda go with the wasserstein loss");
    if (gp_.weight > 0 || r1_.weight > 0) {
      auto* dc = dynamic_cast<archs::DcganCriticImpl*>(c);
      if (dc && dc->opt.norm == "batch")
        spdlog::warn("{}: the gradient penalty is per sample, which batch norm in the critic breaks (Gulrajani et al. "
                     "use none); set networks.critic.norm to none or layer", root.file());
    }
    // Each network with the family's optimizer, the config's keys laid over it; EMA on the generator.
    precision_ = std::make_shared<Precision>(rc, device_);
    TrainedNetOptions go, co;
    go.precision = co.precision = precision_;
    go.optimizer_key = "optimizer_g", go.scheduler_key = "scheduler_g", go.default_optimizer = def.opt_g;
    go.ema = read_ema(rc);
    go.state_net = "generator", go.state_optimizer = "optimizer_g";
    co.optimizer_key = "optimizer_d", co.scheduler_key = "scheduler_d", co.default_optimizer = def.opt_d;
    co.state_net = "critic", co.state_optimizer = "optimizer_d";
    gen_ = std::make_unique<TrainedNet>(gen_net, rc, go, total, device_, "networks.generator");
    critic_ = std::make_unique<TrainedNet>(critic_net, rc, co, total, device_, "networks.critic");
    Cfg vc = rc.child("val", true);
    num_eval_ = vc.get<int64_t>("num_samples", 1000, 10, 1 << 24);
    grid_ = vc.get<int64_t>("grid", 8, 1, 64);
    feature_net_path_ = vc.get<std::string>("feature_net", "");
    if (!feature_net_path_.empty() && !std::filesystem::exists(feature_net_path_)) {
      // Samples and losses need no feature network: train without FID/IS rather than refuse.
      spdlog::warn("{}: recipe.val.feature_net '{}' does not exist, so FID/IS are skipped; train it with "
                   "`tessera train configs/eval/digits_classifier.yaml`", root.file(), feature_net_path_);
      feature_net_path_.clear();
    }
    vc.finish();
    rc.get<std::string>("type", "");
    rc.finish();
    resolved_["networks"]["generator"] = gen_net->options_yaml();
    resolved_["networks"]["critic"] = critic_net->options_yaml();
    resolved_["recipe"] = yaml_clone(rc.node());
  }

  archs::GeneratorImpl& gen() { return gen_->as<archs::GeneratorImpl>(); }
  archs::CriticImpl& critic() { return critic_->as<archs::CriticImpl>(); }

  torch::Tensor real_of(const data::Batch& b) const {
    if (b.count("image")) return b.at("image").to(device_) * 2 - 1;  // [0,1] -> [-1,1] as tanh outputs
    return b.at("point").to(device_);
  }

  int64_t critic_iters_needed() const {
    // Arjovsky et al.'s official schedule: 100 critic steps for the first 25 generator steps and
    // every 500th, else n_critic.
    if (paper_schedule_ && (gen_iters_ < 25 || gen_iters_ % 500 == 0)) return 100;
    return n_critic_;
  }

  Scalars train_step(const data::Batch& batch, int64_t step) override {
    archs::GeneratorImpl& g = gen();
    archs::CriticImpl& c = critic();
    g.train();
    c.train();
    torch::Tensor real = real_of(batch);
    torch::Tensor labels = g.num_classes() > 0 ? batch.at("label").to(device_) : torch::Tensor();
    const int64_t b = real.size(0);
    Scalars out;
    // Critic / discriminator step. Under fp16 the penalties differentiate the scaled score (PyTorch's
    // AMP recipe for gradient penalties) so that small input gradients do not underflow.
    torch::Tensor d_loss;
    {
      auto autocast = precision_->autocast();
      torch::Tensor fake = g.generate(dist::local_randn({b, g.latent_dim()}, real.options()), labels).detach();
      torch::Tensor d_real = c.score(real, labels).to(torch::kFloat32), d_fake = c.score(fake, labels).to(torch::kFloat32);
      d_loss = adv_->critic(d_real, d_fake);
      if (loss_ == "wasserstein") out["wasserstein"] = -d_loss.item<double>();
      const losses::ScoreFn score = [&](const torch::Tensor& x) { return c.score(x, labels).to(torch::kFloat32); };
      const double grad_scale = precision_->scaler() ? precision_->scaler()->scale_value() : 1.0;
      for (losses::GradientPenalty* pen : {&gp_, &r1_}) {
        if (pen->weight <= 0) continue;
        pen->grad_scale = grad_scale;
        torch::Tensor p = (*pen)(score, real, fake);
        out[pen->type == "r1" ? "r1_penalty" : "gradient_penalty"] = p.item<double>();
        d_loss = d_loss + p;
      }
    }
    critic_->step(d_loss, step);
    if (clip_ > 0) {
      torch::NoGradGuard ng;
      for (auto& p : critic_->trainable()) p.clamp_(-clip_, clip_);
    }
    out["d_loss"] = d_loss.item<double>();
    // Generator step after enough critic steps.
    if (++critic_count_ >= critic_iters_needed()) {
      torch::Tensor g_loss;
      {
        auto autocast = precision_->autocast();
        torch::Tensor g_fake = g.generate(dist::local_randn({b, g.latent_dim()}, real.options()), labels);
        torch::Tensor s = c.score(g_fake, labels).to(torch::kFloat32);
        torch::Tensor s_real = adv_->generator_needs_real() ? c.score(real, labels).to(torch::kFloat32) : torch::Tensor();
        g_loss = adv_->generator(s_real, s);
      }
      gen_->step(g_loss, step);
      out["g_loss"] = g_loss.item<double>();  // reported on generator steps only
      ++gen_iters_;
      critic_count_ = 0;
    }
    out["generator_steps"] = static_cast<double>(gen_iters_);
    return out;
  }

  archs::GeneratorImpl& inference_gen() { return dynamic_cast<archs::GeneratorImpl&>(gen_->inference()); }

  ValResult validate(const data::Dataset* val, int64_t) override {
    ValResult r;
    archs::GeneratorImpl& g = inference_gen();
    torch::NoGradGuard ng;
    if (g.sample_shape().size() == 1) {  // 2D toy data
      auto* toy = dynamic_cast<const data::Toy2dDataset*>(val);
      torch::Tensor pts = sample_points(g, num_eval_, 777, device_);
      if (toy) {
        auto cov = metrics::mode_coverage(pts, toy->modes(), toy->mode_std());
        r.metrics["modes_covered"] = static_cast<double>(cov.modes_covered);
        r.metrics["high_quality"] = cov.high_quality;
        best_ = "high_quality";
        r.images.emplace_back("samples", scatter_image(pts, toy->modes(), toy->modes().abs().max().item<double>() * 1.5));
      }
      return r;
    }
    r.images.emplace_back("samples", make_grid(sample_images(g, grid_ * grid_, 1234, device_), grid_));
    r.images.emplace_back("interpolation", make_grid(interpolate_images(g, std::min<int64_t>(grid_, 8), 10, 4321, device_), 10));
    if (!feature_net_path_.empty()) {
      if (!feature_) feature_ = std::make_unique<FeatureNet>(feature_net_path_, device_);
      torch::Tensor real = real_images(val, num_eval_);
      if (!real.defined()) throw ConfigError("FID needs a labelled image dataset as data.val");
      GenerativeScores s = score_generator(g, *feature_, real, num_eval_, 999, device_);
      r.metrics["fid"] = s.fid;
      r.metrics["inception_score"] = s.is_mean;
      if (g.num_classes() > 0) r.metrics["class_accuracy"] = s.class_accuracy;
      best_ = "fid";
    }
    return r;
  }


  void check_data(const data::Dataset& train, const data::Dataset* val) const override {
    check_image_shapes(file_, train, val, gen_->as<archs::GeneratorImpl>().sample_shape(),
                       "networks.generator and networks.critic image_size/channels");
  }

  std::string best_metric() const override { return best_; }
  bool higher_is_better() const override { return best_ != "fid"; }

  std::vector<std::pair<std::string, io::TensorFile>> weight_files() override {
    return {{"generator.safetensors", archs::net_weights(inference_gen(), {{"tessera.ema", gen_->has_ema() ? "true" : "false"}})},
            {"critic.safetensors", archs::net_weights(critic())}};
  }

  void save_state(torch::serialize::OutputArchive& ar) override {
    gen_->save(ar);
    critic_->save(ar);
    ar.write("counters", torch::tensor({gen_iters_, critic_count_}, torch::kInt64), true);
  }

  void load_state(torch::serialize::InputArchive& ar) override {
    gen_->load(ar);
    critic_->load(ar);
    torch::Tensor c;
    ar.read("counters", c, true);
    gen_iters_ = c[0].item<int64_t>();
    critic_count_ = c[1].item<int64_t>();
  }

  YAML::Node resolved_config() const override { return resolved_; }
  Precision* precision() override { return precision_.get(); }
  std::string summary() const override {
    return family_ + ": " + gen_->net().type() + " (" + std::to_string(archs::count_parameters(gen_->net())) + " params; " +
           gen_->summary() + ") vs " + critic_->net().type() + " (" + std::to_string(archs::count_parameters(critic_->net())) + "; " +
           critic_->summary() + "), " + loss_ + " loss, n_critic " + std::to_string(n_critic_) +
           (clip_ > 0 ? ", clip " + std::to_string(clip_) : "") + (gp_.weight > 0 ? ", gp " + std::to_string(gp_.weight) : "") +
           (r1_.weight > 0 ? ", r1 " + std::to_string(r1_.weight) : "");
  }

 private:
  torch::Device device_;
  std::string family_, loss_, file_;
  PrecisionPtr precision_;
  std::unique_ptr<TrainedNet> gen_, critic_;
  int64_t n_critic_ = 1, gen_iters_ = 0, critic_count_ = 0, num_eval_ = 1000, grid_ = 8;
  double clip_ = 0;
  losses::AdversarialPtr adv_;
  losses::GradientPenalty gp_, r1_;
  bool paper_schedule_ = false;
  std::string feature_net_path_, best_;
  std::unique_ptr<FeatureNet> feature_;
  YAML::Node resolved_;
};


}  // namespace

void register_gan_recipes(RecipeRegistry& r) {
  // Paper defaults per family (REFERENCE.md): DCGAN Adam 2e-4 (0.5, 0.999); WGAN RMSProp 5e-5,
  // clip 0.01, n_critic 5; WGAN-GP Adam 1e-4 (0, 0.9), lambda 10, n_critic 5.
  const std::string dcgan_adam = "{type: adam, lr: 2.0e-4, betas: [0.5, 0.999]}";
  const std::string rms = "{type: rmsprop, lr: 5.0e-5}";
  const std::string gp_adam = "{type: adam, lr: 1.0e-4, betas: [0.0, 0.9]}";
  const std::map<std::string, GanDefaults> families = {
      {"gan", {"nonsaturating", 1, 0.0, 0.0, dcgan_adam, dcgan_adam}},
      {"wgan", {"wasserstein", 5, 0.01, 0.0, rms, rms}},
      {"wgan_gp", {"wasserstein", 5, 0.0, 10.0, gp_adam, gp_adam}},
      {"cgan", {"nonsaturating", 1, 0.0, 0.0, dcgan_adam, dcgan_adam}},
  };
  for (const auto& [name, def] : families)
    r.add(name, [name = name, def = def](Cfg& root, torch::Device d, int64_t total) -> RecipePtr {
      return std::make_unique<GanRecipe>(root, d, total, name, def);
    });
}

}  // namespace tessera::recipes
