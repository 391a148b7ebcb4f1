// Recipes ae (denoising / sparse autoencoders) and vae.
#include "generative_common.h"
#include "tessera/dist/dist.h"
#include "tessera/metrics/image_quality.h"

namespace tessera::recipes {

namespace {

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
      torch::Tensor n = gen ? torch::randn(x.sizes(), *gen, x.options()) : dist::local_randn(x.sizes().vec(), x.options());
      return (x + noise_std_ * n).clamp(0, 1);
    }
    if (noise_ == "salt_pepper") {
      torch::Tensor u = gen ? torch::rand(x.sizes(), *gen, x.options()) : dist::local_rand(x.sizes().vec(), x.options());
      torch::Tensor v = gen ? torch::rand(x.sizes(), *gen, x.options()) : dist::local_rand(x.sizes().vec(), x.options());
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
      eps = gen ? torch::randn(mu.sizes(), *gen, mu.options().device(torch::kCPU)).to(mu.device()) : dist::local_randn(mu.sizes().vec(), mu.options());
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
    {
      auto autocast = trained_->autocast();
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
    }
    loss = loss.to(torch::kFloat32);
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
           " params; " + trained_->summary() + (variational_ ? ", beta " + std::to_string(beta_) : (noise_ != "none" ? ", denoising (" + noise_ + ")" : ""));
  }

 private:
  bool variational_;
  double beta_ = 1, sparsity_ = 0, noise_std_ = 0.2, noise_amount_ = 0.1;
  int64_t kl_warmup_ = 0;
  std::string loss_name_ = "mse", noise_ = "none", best_;
};


}  // namespace

void register_autoencoder_recipes(RecipeRegistry& r) {
  r.add("ae", [](Cfg& root, torch::Device d, int64_t total) -> RecipePtr { return std::make_unique<AutoencoderRecipe>(root, d, total, false); });
  r.add("vae", [](Cfg& root, torch::Device d, int64_t total) -> RecipePtr { return std::make_unique<AutoencoderRecipe>(root, d, total, true); });
}

}  // namespace tessera::recipes
