// Adversarial losses, built by name: what the critic (discriminator) minimises and what the
// generator minimises, from the critic's raw scores (logits, not probabilities) on real and fake
// samples. Relativistic losses need both scores on both sides, so both are always passed.
//   nonsaturating  Goodfellow et al. 2014 (the -log D(G(z)) generator loss), BCE on logits
//   lsgan          Mao et al. 2017: least squares with targets 1 (real) and 0 (fake)
//   hinge          Lim & Ye 2017 / Miyato et al. 2018: relu(1 - real) + relu(1 + fake); G: -fake
//   wasserstein    Arjovsky et al. 2017: fake - real; G: -fake (with clipping or a gradient penalty)
//   relativistic   Jolicoeur-Martineau 2018, relativistic average (RaGAN, ESRGAN's): BCE of
//                  real - mean(fake) and fake - mean(real), labels swapped for the generator
// Penalties on the critic's input gradient:
//   wgan_gp        Gulrajani et al. 2017: lambda * (||grad at real/fake mix|| - 1)^2
//   r1             Mescheder et al. 2018: gamma / 2 * ||grad at real||^2
#pragma once
#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>

#include "tessera/core/registry.h"

namespace tessera::losses {

class AdversarialLoss {
 public:
  virtual ~AdversarialLoss() = default;
  virtual std::string name() const = 0;
  virtual torch::Tensor critic(const torch::Tensor& real_scores, const torch::Tensor& fake_scores) const = 0;
  virtual torch::Tensor generator(const torch::Tensor& real_scores, const torch::Tensor& fake_scores) const = 0;
  // True when generator() reads real_scores (the critic must score real samples for a G step).
  virtual bool generator_needs_real() const { return false; }
};
using AdversarialPtr = std::shared_ptr<const AdversarialLoss>;
using AdversarialRegistry = Registry<AdversarialPtr>;
AdversarialRegistry& adversarial_registry();
// `cfg` holds {type: ...}; a plain name is accepted by build_adversarial(name, where).
AdversarialPtr build_adversarial(Cfg cfg);
AdversarialPtr build_adversarial(const std::string& name, const std::string& where);

// The critic as a function of its input (labels bound by the caller).
using ScoreFn = std::function<torch::Tensor(const torch::Tensor&)>;
struct GradientPenalty {
  std::string type = "wgan_gp";  // wgan_gp | r1
  double weight = 10.0;          // lambda (wgan_gp) or gamma (r1)
  // The score is multiplied by this before it is differentiated and the gradients divided by it
  // after (fp16 training passes the loss scale, as PyTorch's AMP guide does for penalties).
  double grad_scale = 1.0;
  // `mix`: per-sample interpolation weights in [0,1] for wgan_gp ([B]); drawn uniformly when undefined.
  torch::Tensor operator()(const ScoreFn& score, const torch::Tensor& real, const torch::Tensor& fake,
                           const torch::Tensor& mix = {}) const;
};

// Anisotropic total variation (Johnson et al., Mahendran & Vedaldi): mean |x[i+1,j]-x[i,j]| +
// mean |x[i,j+1]-x[i,j]| over an NCHW batch; `squared` gives the squared-difference variant.
torch::Tensor total_variation(const torch::Tensor& x, bool squared = false);

// Gram matrices of NCHW features, normalised by C*H*W (Gatys et al.; pytorch/examples): [N,C,C].
torch::Tensor gram_matrix(const torch::Tensor& features);

}  // namespace tessera::losses
