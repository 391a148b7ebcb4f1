#include "tessera/recipes/generative.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>

#include "tessera/archs/checkpoint.h"
#include "tessera/data/generative_datasets.h"
#include "tessera/io/image_io.h"
#include "tessera/losses/adversarial.h"
#include "tessera/losses/losses.h"
#include "tessera/metrics/image_quality.h"
#include "tessera/optim/optim.h"
#include "tessera/recipes/trained_net.h"

namespace tessera::recipes {

using torch::indexing::Slice;

// ---------------- shared pieces ----------------
FeatureNet::FeatureNet(const std::string& checkpoint, torch::Device device) : device_(device) {
  holder_ = archs::load_net_checkpoint(checkpoint, {"classifier"}, "");
  net_ = std::dynamic_pointer_cast<archs::ClassifierImpl>(holder_);
  inception_ = std::dynamic_pointer_cast<archs::InceptionV3Impl>(holder_);
  if (!net_ && !inception_)
    throw ConfigError("feature network '" + checkpoint + "' is a " + holder_->type() + ", not a classifier or inception_v3 checkpoint "
                      "(train one with configs/eval/digits_classifier.yaml, or convert InceptionV3 with scripts/convert_inception.py)");
  holder_->to(device_);
  holder_->eval();
}

torch::Tensor FeatureNet::prepare(const torch::Tensor& images) {
  torch::Tensor x = images.to(device_, torch::kFloat32);
  const int64_t channels = net_ ? net_->opt.channels : 3, size = net_ ? net_->opt.image_size : 299;
  if (x.size(1) != channels) {
    if (channels == 1) x = io::rgb_to_gray(x);
    else x = x.expand({-1, channels, -1, -1});
  }
  if (x.size(2) != size || x.size(3) != size) x = torch::upsample_bilinear2d(x, {size, size}, false);
  return inception_ ? x * 2 - 1 : x;
}

torch::Tensor FeatureNet::features(const torch::Tensor& images) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < images.size(0); i += 64) {  // bounded memory for large sample counts
    torch::Tensor x = prepare(images.narrow(0, i, std::min<int64_t>(64, images.size(0) - i)));
    out.push_back((net_ ? net_->features(x) : inception_->features(x)).to(torch::kCPU));
  }
  return torch::cat(out);
}

torch::Tensor FeatureNet::probabilities(const torch::Tensor& images) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < images.size(0); i += 64) {
    torch::Tensor x = prepare(images.narrow(0, i, std::min<int64_t>(64, images.size(0) - i)));
    out.push_back(torch::softmax(holder_->forward(x), 1).to(torch::kCPU));
  }
  return torch::cat(out);
}

torch::Tensor latent_batch(archs::GeneratorImpl& gen, int64_t n, uint64_t seed, torch::Device device) {
  torch::Generator g = at::detail::createCPUGenerator(seed);
  return torch::randn({n, gen.latent_dim()}, g, torch::TensorOptions().dtype(torch::kFloat32)).to(device);
}

static torch::Tensor to_unit(archs::GeneratorImpl& gen, const torch::Tensor& x) {
  return (gen.signed_output() ? (x + 1) / 2 : x).clamp(0, 1);
}

torch::Tensor sample_images(archs::GeneratorImpl& gen, int64_t n, uint64_t seed, torch::Device device, int64_t class_id) {
  torch::NoGradGuard ng;
  const bool was_training = gen.is_training();
  gen.eval();
  torch::Tensor labels;
  if (gen.num_classes() > 0)
    labels = class_id >= 0 ? torch::full({n}, class_id, torch::kInt64)
                           : torch::arange(n, torch::kInt64).remainder(gen.num_classes());
  torch::Tensor out = to_unit(gen, gen.generate(latent_batch(gen, n, seed, device), labels.defined() ? labels.to(device) : labels)).to(torch::kCPU);
  if (was_training) gen.train();
  return out;
}

torch::Tensor interpolate_images(archs::GeneratorImpl& gen, int64_t rows, int64_t steps, uint64_t seed, torch::Device device) {
  torch::NoGradGuard ng;
  const bool was_training = gen.is_training();
  gen.eval();
  torch::Tensor ends = latent_batch(gen, 2 * rows, seed, device).view({rows, 2, -1});
  torch::Tensor t = torch::linspace(0, 1, steps, torch::TensorOptions().device(device)).view({1, steps, 1});
  torch::Tensor z = (ends.select(1, 0).unsqueeze(1) * (1 - t) + ends.select(1, 1).unsqueeze(1) * t).reshape({rows * steps, -1});
  torch::Tensor labels;
  if (gen.num_classes() > 0)
    labels = torch::arange(rows, torch::kInt64).remainder(gen.num_classes()).repeat_interleave(steps).to(device);
  torch::Tensor out = to_unit(gen, gen.generate(z, labels)).to(torch::kCPU);
  if (was_training) gen.train();
  return out;
}

torch::Tensor sample_points(archs::GeneratorImpl& gen, int64_t n, uint64_t seed, torch::Device device) {
  torch::NoGradGuard ng;
  const bool was_training = gen.is_training();
  gen.eval();
  torch::Tensor out = gen.generate(latent_batch(gen, n, seed, device)).to(torch::kCPU);
  if (was_training) gen.train();
  return out;
}

torch::Tensor make_grid(const torch::Tensor& images, int64_t nrow, int64_t pad) {
  torch::Tensor x = images.to(torch::kCPU, torch::kFloat32);
  if (x.size(1) == 1) x = x.expand({-1, 3, -1, -1});
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3), rows = (n + nrow - 1) / nrow;
  torch::Tensor grid = torch::ones({3, rows * (h + pad) + pad, nrow * (w + pad) + pad});
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = i / nrow, c = i % nrow;
    grid.index_put_({Slice(), Slice(pad + r * (h + pad), pad + r * (h + pad) + h), Slice(pad + c * (w + pad), pad + c * (w + pad) + w)}, x[i]);
  }
  return grid;
}

torch::Tensor scatter_image(const torch::Tensor& points, const torch::Tensor& modes, double extent) {
  const int64_t size = 256;
  torch::Tensor img = torch::ones({3, size, size});
  auto put = [&](const torch::Tensor& p, std::array<float, 3> color, int radius) {
    auto acc = p.to(torch::kCPU, torch::kFloat32).contiguous();
    const float* d = acc.data_ptr<float>();
    auto a = img.accessor<float, 3>();
    for (int64_t i = 0; i < acc.size(0); ++i) {
      const int64_t x = static_cast<int64_t>((d[2 * i] / extent + 1) / 2 * (size - 1));
      const int64_t y = static_cast<int64_t>((1 - (d[2 * i + 1] / extent + 1) / 2) * (size - 1));
      for (int64_t dy = -radius; dy <= radius; ++dy)
        for (int64_t dx = -radius; dx <= radius; ++dx)
          if (x + dx >= 0 && x + dx < size && y + dy >= 0 && y + dy < size)
            for (int ch = 0; ch < 3; ++ch) a[ch][y + dy][x + dx] = color[ch];
    }
  };
  put(points, {0.1f, 0.3f, 0.9f}, 0);
  put(modes, {0.9f, 0.1f, 0.1f}, 2);
  return img;
}

GenerativeScores score_generator(archs::GeneratorImpl& gen, FeatureNet& feat, const torch::Tensor& real, int64_t n,
                                 uint64_t seed, torch::Device device) {
  GenerativeScores s;
  torch::Tensor fake = sample_images(gen, n, seed, device);
  s.fid = metrics::frechet_distance(metrics::gaussian_fit(feat.features(real)), metrics::gaussian_fit(feat.features(fake)));
  torch::Tensor probs = feat.probabilities(fake);
  std::tie(s.is_mean, s.is_std) = metrics::inception_score(probs, 10);
  if (gen.num_classes() > 0) {
    torch::Tensor wanted = torch::arange(n, torch::kInt64).remainder(gen.num_classes());
    s.class_accuracy = (probs.argmax(1) == wanted).to(torch::kFloat64).mean().item<double>();
  }
  return s;
}

namespace {

// The real images of a labelled dataset (for FID), at most n.
torch::Tensor real_images(const data::Dataset* val, int64_t n) {
  auto* li = dynamic_cast<const data::LabelledImages*>(val);
  if (!li) return {};
  return li->images().narrow(0, 0, std::min<int64_t>(n, li->images().size(0)));
}

// ---------------- adversarial recipes ----------------
struct GanDefaults {
  std::string loss;
  int64_t n_critic;
  double clip, gp;
  std::string opt_g, opt_d;
};

class GanRecipe : public Recipe {
 public:
  GanRecipe(Cfg& root, torch::Device device, int64_t total, const std::string& family, const GanDefaults& def)
      : device_(device), family_(family) {
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
    TrainedNetOptions go, co;
    go.optimizer_key = "optimizer_g", go.scheduler_key = "scheduler_g", go.default_optimizer = def.opt_g;
    go.ema = rc.get<double>("ema", 0.0, 0.0, 1.0);
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
    // Critic / discriminator step.
    torch::Tensor fake = g.generate(torch::randn({b, g.latent_dim()}, real.options()), labels).detach();
    torch::Tensor d_real = c.score(real, labels), d_fake = c.score(fake, labels);
    torch::Tensor d_loss = adv_->critic(d_real, d_fake);
    if (loss_ == "wasserstein") out["wasserstein"] = -d_loss.item<double>();
    const losses::ScoreFn score = [&](const torch::Tensor& x) { return c.score(x, labels); };
    if (gp_.weight > 0) {
      torch::Tensor gp = gp_(score, real, fake);
      out["gradient_penalty"] = gp.item<double>();
      d_loss = d_loss + gp;
    }
    if (r1_.weight > 0) {
      torch::Tensor r1 = r1_(score, real, fake);
      out["r1_penalty"] = r1.item<double>();
      d_loss = d_loss + r1;
    }
    critic_->step(d_loss, step);
    if (clip_ > 0) {
      torch::NoGradGuard ng;
      for (auto& p : critic_->trainable()) p.clamp_(-clip_, clip_);
    }
    out["d_loss"] = d_loss.item<double>();
    // Generator step after enough critic steps.
    if (++critic_count_ >= critic_iters_needed()) {
      torch::Tensor g_fake = g.generate(torch::randn({b, g.latent_dim()}, real.options()), labels);
      torch::Tensor s = c.score(g_fake, labels);
      torch::Tensor s_real = adv_->generator_needs_real() ? c.score(real, labels) : torch::Tensor();
      torch::Tensor g_loss = adv_->generator(s_real, s);
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
  std::string summary() const override {
    return family_ + ": " + gen_->net().type() + " (" + std::to_string(archs::count_parameters(gen_->net())) + " params; " +
           gen_->summary() + ") vs " + critic_->net().type() + " (" + std::to_string(archs::count_parameters(critic_->net())) + "; " +
           critic_->summary() + "), " + loss_ + " loss, n_critic " + std::to_string(n_critic_) +
           (clip_ > 0 ? ", clip " + std::to_string(clip_) : "") + (gp_.weight > 0 ? ", gp " + std::to_string(gp_.weight) : "") +
           (r1_.weight > 0 ? ", r1 " + std::to_string(r1_.weight) : "");
  }

 private:
  torch::Device device_;
  std::string family_, loss_;
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

// ---------------- single-network recipes ----------------
// What the autoencoder, VAE and classifier recipes share: one network of type Net, one optimizer
// and schedule, and their checkpoint state.
template <class Net>
class SingleNetRecipe : public Recipe {
 public:
  SingleNetRecipe(Cfg& root, torch::Device device, int64_t total, const std::string& recipe_name, const std::string& want_types)
      : device_(device) {
    Cfg nc = root.child("network");
    archs::NetPtr net = archs::build_arch(nc);
    net_ = std::dynamic_pointer_cast<Net>(net);
    if (!net_) throw ConfigError(root.file() + ": network.type must be " + want_types + " for the " + recipe_name + " recipe");
    rc_ = root.child("recipe");
    rc_.req<std::string>("type");
    trained_ = std::make_unique<TrainedNet>(net, rc_, TrainedNetOptions{}, total, device_, "network");
  }
  std::vector<std::pair<std::string, io::TensorFile>> weight_files() override { return {{"model.safetensors", archs::net_weights(*net_)}}; }
  void save_state(torch::serialize::OutputArchive& ar) override { trained_->save(ar); }
  void load_state(torch::serialize::InputArchive& ar) override { trained_->load(ar); }
  YAML::Node resolved_config() const override { return resolved_; }

 protected:
  // Call at the end of the derived constructor, once every recipe key has been read.
  void finish_config() {
    rc_.finish();
    resolved_["network"] = net_->options_yaml();
    resolved_["recipe"] = yaml_clone(rc_.node());
  }
  void optimise(const torch::Tensor& loss, int64_t step) { trained_->step(loss, step); }

  torch::Device device_;
  std::shared_ptr<Net> net_;  // the trained network, typed
  Cfg rc_;
  std::unique_ptr<TrainedNet> trained_;
  YAML::Node resolved_;
};

// ---------------- autoencoder / VAE ----------------
class AutoencoderRecipe : public SingleNetRecipe<archs::AutoencoderImpl> {
 public:
  AutoencoderRecipe(Cfg& root, torch::Device device, int64_t total, bool variational)
      : SingleNetRecipe(root, device, total, variational ? "vae" : "ae", variational ? "conv_vae" : "conv_autoencoder"),
        variational_(variational) {
    if (net_->variational() != variational_)
      throw ConfigError(root.file() + ": network.type must be " + std::string(variational_ ? "conv_vae" : "conv_autoencoder") +
                        " for the " + (variational_ ? "vae" : "ae") + " recipe");
    if (variational_) {
      beta_ = rc_.get<double>("beta", 1.0, 0.0, 1e6);
      kl_warmup_ = rc_.get<int64_t>("kl_warmup_steps", 0, 0, 1'000'000'000);
    } else {
      loss_name_ = rc_.get_choice("loss", "mse", {"mse", "l1"});
      sparsity_ = rc_.get<double>("sparsity", 0.0, 0.0, 1e6);
      Cfg noise = rc_.child("noise", true);
      noise_ = noise.get_choice("type", "none", {"none", "gaussian", "salt_pepper"});
      noise_std_ = noise.get<double>("std", 0.2, 0.0, 10.0);
      noise_amount_ = noise.get<double>("amount", 0.1, 0.0, 1.0);
      noise.finish();
    }
    finish_config();
  }

  // The denoising autoencoder's corruption: Gaussian noise or salt-and-pepper, clamped to [0,1].
  torch::Tensor corrupt(const torch::Tensor& x, torch::Generator* gen = nullptr) const {
    if (noise_ == "gaussian") {
      torch::Tensor n = gen ? torch::randn(x.sizes(), *gen, x.options()) : torch::randn_like(x);
      return (x + noise_std_ * n).clamp(0, 1);
    }
    if (noise_ == "salt_pepper") {
      torch::Tensor u = gen ? torch::rand(x.sizes(), *gen, x.options()) : torch::rand_like(x);
      torch::Tensor v = gen ? torch::rand(x.sizes(), *gen, x.options()) : torch::rand_like(x);
      torch::Tensor salt = (v > 0.5).to(x.scalar_type());
      return torch::where(u < noise_amount_, salt, x);
    }
    return x;
  }

  struct VaeTerms {
    torch::Tensor recon, rec_loss, kl;
  };
  // `gen`: a private generator for the noise (validation), so the global one is left alone.
  VaeTerms vae_terms(const torch::Tensor& x, bool sample, torch::Generator* gen = nullptr) {
    torch::Tensor code = net_->encode(x);
    const int64_t d = net_->opt.latent_dim;
    torch::Tensor mu = code.narrow(1, 0, d), logvar = code.narrow(1, d, d).clamp(-30, 20);
    torch::Tensor eps;
    if (sample)
      eps = gen ? torch::randn(mu.sizes(), *gen, mu.options().device(torch::kCPU)).to(mu.device()) : torch::randn_like(mu);
    torch::Tensor z = sample ? mu + torch::exp(0.5 * logvar) * eps : mu;
    torch::Tensor recon = net_->decode(z);
    const double b = static_cast<double>(x.size(0));
    torch::Tensor rec = torch::binary_cross_entropy(recon.clamp(1e-6, 1 - 1e-6), x, {}, at::Reduction::Sum) / b;
    torch::Tensor kl = -0.5 * (1 + logvar - mu.square() - logvar.exp()).sum() / b;
    return {recon, rec, kl};
  }

  Scalars train_step(const data::Batch& batch, int64_t step) override {
    net_->train();
    torch::Tensor x = batch.at("image").to(device_);
    Scalars out;
    torch::Tensor loss;
    if (variational_) {
      VaeTerms t = vae_terms(x, true);
      const double w = kl_warmup_ > 0 ? std::min(1.0, static_cast<double>(step + 1) / kl_warmup_) : 1.0;
      loss = t.rec_loss + beta_ * w * t.kl;
      out["reconstruction"] = t.rec_loss.item<double>();
      out["kl"] = t.kl.item<double>();
      out["elbo"] = -(t.rec_loss + t.kl).item<double>();
      out["kl_weight"] = beta_ * w;
    } else {
      torch::Tensor code = net_->encode(corrupt(x));
      torch::Tensor recon = net_->decode(code);
      loss = loss_name_ == "mse" ? torch::mse_loss(recon, x) : torch::l1_loss(recon, x);
      out["reconstruction"] = loss.item<double>();
      if (sparsity_ > 0) {
        torch::Tensor s = sparsity_ * code.abs().mean();
        out["sparsity"] = s.item<double>();
        loss = loss + s;
      }
    }
    optimise(loss, step);
    out["loss"] = loss.item<double>();
    return out;
  }

  ValResult validate(const data::Dataset* val, int64_t) override {
    ValResult r;
    torch::NoGradGuard ng;
    net_->eval();
    torch::Tensor x = real_images(val, 512);
    if (x.defined()) {
      x = x.to(device_);
      metrics::QualityOptions q{false, 0};
      auto batch_psnr = [&](const torch::Tensor& a) {
        return metrics::psnr(a.permute({1, 0, 2, 3}).flatten(1, 2).to(torch::kCPU), x.permute({1, 0, 2, 3}).flatten(1, 2).to(torch::kCPU), q);
      };
      if (variational_) {
        // A fixed draw for a comparable ELBO estimate, from a private generator: reseeding the
        // global one here would change the training's random stream at every validation.
        torch::Generator gen = at::detail::createCPUGenerator(0);
        VaeTerms t = vae_terms(x, true, &gen);
        r.metrics["elbo"] = -(t.rec_loss + t.kl).item<double>();
        r.metrics["reconstruction"] = t.rec_loss.item<double>();
        r.metrics["kl"] = t.kl.item<double>();
        torch::Tensor recon = net_->forward(x);
        r.metrics["psnr"] = batch_psnr(recon);
        best_ = "elbo";
        const int64_t k = std::min<int64_t>(8, x.size(0));
        r.images.emplace_back("input_reconstruction", make_grid(torch::cat({x.narrow(0, 0, k), recon.narrow(0, 0, k)}), k));
      } else {
        torch::Generator gen = at::detail::createCPUGenerator(5);
        torch::Tensor noisy = corrupt(x.to(torch::kCPU), &gen).to(device_);
        torch::Tensor recon = net_->decode(net_->encode(noisy));
        r.metrics["psnr"] = batch_psnr(recon);
        if (noise_ != "none") r.metrics["noisy_psnr"] = batch_psnr(noisy);
        best_ = "psnr";
        const int64_t k = std::min<int64_t>(8, x.size(0));
        r.images.emplace_back("input_noisy_reconstruction",
                              make_grid(torch::cat({x.narrow(0, 0, k), noisy.narrow(0, 0, k), recon.narrow(0, 0, k)}), k));
      }
    }
    if (variational_) r.images.emplace_back("prior_samples", make_grid(sample_images(*net_->decoder, 64, 1234, device_), 8));
    net_->train();
    return r;
  }

  std::string best_metric() const override { return best_; }
  std::string summary() const override {
    return std::string(variational_ ? "vae" : "ae") + ": " + net_->type() + ", " + std::to_string(archs::count_parameters(*net_)) +
           " params" + (variational_ ? ", beta " + std::to_string(beta_) : (noise_ != "none" ? ", denoising (" + noise_ + ")" : ""));
  }

 private:
  bool variational_;
  double beta_ = 1, sparsity_ = 0, noise_std_ = 0.2, noise_amount_ = 0.1;
  int64_t kl_warmup_ = 0;
  std::string loss_name_ = "mse", noise_ = "none", best_;
};

// ---------------- classifier ----------------
class ClassifierRecipe : public SingleNetRecipe<archs::ClassifierImpl> {
 public:
  ClassifierRecipe(Cfg& root, torch::Device device, int64_t total) : SingleNetRecipe(root, device, total, "classifier", "classifier") {
    finish_config();
  }
  Scalars train_step(const data::Batch& batch, int64_t step) override {
    net_->train();
    torch::Tensor logits = net_->forward(batch.at("image").to(device_));
    torch::Tensor loss = torch::cross_entropy_loss(logits, batch.at("label").to(device_));
    optimise(loss, step);
    return {{"loss", loss.item<double>()}};
  }
  ValResult validate(const data::Dataset* val, int64_t) override {
    auto* li = dynamic_cast<const data::LabelledImages*>(val);
    if (!li) return {};
    torch::NoGradGuard ng;
    net_->eval();
    torch::Tensor pred = net_->forward(li->images().to(device_)).argmax(1).to(torch::kCPU);
    net_->train();
    return {{{"accuracy", (pred == li->labels()).to(torch::kFloat64).mean().item<double>()}}, {}};
  }
  std::string best_metric() const override { return "accuracy"; }
  std::string summary() const override { return "classifier: " + std::to_string(archs::count_parameters(*net_)) + " params"; }
};

}  // namespace

void register_generative_recipes(RecipeRegistry& r) {
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
  r.add("ae", [](Cfg& root, torch::Device d, int64_t total) -> RecipePtr { return std::make_unique<AutoencoderRecipe>(root, d, total, false); });
  r.add("vae", [](Cfg& root, torch::Device d, int64_t total) -> RecipePtr { return std::make_unique<AutoencoderRecipe>(root, d, total, true); });
  r.add("classifier", [](Cfg& root, torch::Device d, int64_t total) -> RecipePtr { return std::make_unique<ClassifierRecipe>(root, d, total); });
}

}  // namespace tessera::recipes
