#include "tessera/losses/adversarial.h"

#include "tessera/core/config.h"
#include "tessera/dist/dist.h"
#include "tessera/ops/ops.h"

namespace tessera::losses {

namespace {

torch::Tensor bce_logits(const torch::Tensor& logits, double target) {
  // softplus(-x) = -log sigmoid(x); softplus(x) = -log(1 - sigmoid(x)): stable for any logit.
  return target == 1.0 ? torch::softplus(-logits).mean() : torch::softplus(logits).mean();
}

struct NonSaturating : AdversarialLoss {
  std::string name() const override { return "nonsaturating"; }
  torch::Tensor critic(const torch::Tensor& r, const torch::Tensor& f) const override { return bce_logits(r, 1) + bce_logits(f, 0); }
  torch::Tensor generator(const torch::Tensor&, const torch::Tensor& f) const override { return bce_logits(f, 1); }
};

struct LeastSquares : AdversarialLoss {
  std::string name() const override { return "lsgan"; }
  torch::Tensor critic(const torch::Tensor& r, const torch::Tensor& f) const override {
    return 0.5 * ((r - 1).square().mean() + f.square().mean());
  }
  torch::Tensor generator(const torch::Tensor&, const torch::Tensor& f) const override { return 0.5 * (f - 1).square().mean(); }
};

struct Hinge : AdversarialLoss {
  std::string name() const override { return "hinge"; }
  torch::Tensor critic(const torch::Tensor& r, const torch::Tensor& f) const override {
    return torch::relu(1 - r).mean() + torch::relu(1 + f).mean();
  }
  torch::Tensor generator(const torch::Tensor&, const torch::Tensor& f) const override { return -f.mean(); }
};

struct Wasserstein : AdversarialLoss {
  std::string name() const override { return "wasserstein"; }
  torch::Tensor critic(const torch::Tensor& r, const torch::Tensor& f) const override { return f.mean() - r.mean(); }
  torch::Tensor generator(const torch::Tensor&, const torch::Tensor& f) const override { return -f.mean(); }
};

struct RelativisticAverage : AdversarialLoss {
  std::string name() const override { return "relativistic"; }
  bool generator_needs_real() const override { return true; }
  torch::Tensor critic(const torch::Tensor& r, const torch::Tensor& f) const override {
    return 0.5 * (bce_logits(r - f.mean(), 1) + bce_logits(f - r.mean(), 0));
  }
  torch::Tensor generator(const torch::Tensor& r, const torch::Tensor& f) const override {
    // ESRGAN detaches the real scores in the generator step: only the fake path trains G.
    const torch::Tensor rd = r.detach();
    return 0.5 * (bce_logits(rd - f.mean(), 0) + bce_logits(f - rd.mean(), 1));
  }
};

void register_builtin() {
  auto& r = adversarial_registry();
  if (r.contains("nonsaturating")) return;
  auto add = [&r](const std::string& name, AdversarialPtr p) {
    r.add(name, [p](Cfg& c) {
      c.finish();
      return p;
    });
  };
  add("nonsaturating", std::make_shared<NonSaturating>());
  add("lsgan", std::make_shared<LeastSquares>());
  add("hinge", std::make_shared<Hinge>());
  add("wasserstein", std::make_shared<Wasserstein>());
  add("relativistic", std::make_shared<RelativisticAverage>());
}

}  // namespace

AdversarialRegistry& adversarial_registry() {
  static AdversarialRegistry r("adversarial loss");
  return r;
}

AdversarialPtr build_adversarial(Cfg cfg) {
  register_builtin();
  const std::string type = cfg.req<std::string>("type");
  return adversarial_registry().build(type, cfg, cfg.where("type"));
}

AdversarialPtr build_adversarial(const std::string& name, const std::string& where) {
  register_builtin();
  Cfg empty(YAML::Node(YAML::NodeType::Map), "", "");
  return adversarial_registry().build(name, empty, where);
}

torch::Tensor GradientPenalty::operator()(const ScoreFn& score, const torch::Tensor& real, const torch::Tensor& fake,
                                          const torch::Tensor& mix) const {
  torch::Tensor x;
  if (type == "r1") {
    x = real.detach().requires_grad_(true);
  } else {
    std::vector<int64_t> shape(real.dim(), 1);
    shape[0] = real.size(0);
    torch::Tensor t = mix.defined() ? mix.view(shape).to(real.options()) : dist::local_rand(shape, real.options());
    x = (t * real.detach() + (1 - t) * fake.detach()).requires_grad_(true);
  }
  torch::Tensor s = score(x);
  torch::Tensor grad = torch::autograd::grad({s.sum() * grad_scale}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0].flatten(1);
  if (grad_scale != 1.0) grad = grad / grad_scale;
  if (type == "r1") return 0.5 * weight * grad.square().sum(1).mean();
  return weight * (grad.norm(2, 1) - 1).square().mean();
}

torch::Tensor total_variation(const torch::Tensor& x, bool squared) {
  using torch::indexing::Slice;
  torch::Tensor dh = x.index({Slice(), Slice(), Slice(1, torch::indexing::None)}) - x.index({Slice(), Slice(), Slice(torch::indexing::None, -1)});
  torch::Tensor dw = x.index({"...", Slice(1, torch::indexing::None)}) - x.index({"...", Slice(torch::indexing::None, -1)});
  return squared ? dh.square().mean() + dw.square().mean() : dh.abs().mean() + dw.abs().mean();
}

torch::Tensor gram_matrix(const torch::Tensor& f) {
  TORCH_CHECK(f.dim() == 4, "gram_matrix: expected NCHW features, got ", f.sizes());
  return ops::gram(f);  // the upper triangle only; tested equal to the bmm composite
}

}  // namespace tessera::losses
