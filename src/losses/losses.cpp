#include "tessera/losses/losses.h"

#include <torch/nn/functional/loss.h>

namespace tessera::losses {

torch::Tensor charbonnier_loss(const torch::Tensor& pred, const torch::Tensor& target, double eps) {
  return torch::sqrt((pred - target).square() + eps * eps).mean();
}

LossRegistry& loss_registry() {
  static LossRegistry r("loss");
  return r;
}

void register_builtin_losses() {
  auto& r = loss_registry();
  if (r.contains("l1")) return;
  auto weighted = [](Cfg& c, std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)> f) -> LossFn {
    double w = c.get<double>("weight", 1.0, 0.0, 1e12);
    c.finish();
    if (w == 1.0) return f;
    return [w, f](const torch::Tensor& p, const torch::Tensor& t) { return f(p, t) * w; };
  };
  r.add("l1", [weighted](Cfg& c) { return weighted(c, [](const torch::Tensor& p, const torch::Tensor& t) { return torch::l1_loss(p, t); }); });
  r.add("mse", [weighted](Cfg& c) { return weighted(c, [](const torch::Tensor& p, const torch::Tensor& t) { return torch::mse_loss(p, t); }); });
  r.add("charbonnier", [weighted](Cfg& c) {
    double eps = c.get<double>("eps", 1e-3, 0.0, 1.0);
    return weighted(c, [eps](const torch::Tensor& p, const torch::Tensor& t) { return charbonnier_loss(p, t, eps); });
  });
}

LossFn build_loss(Cfg cfg, const std::string& default_type) {
  register_builtin_losses();
  std::string type = default_type.empty() ? cfg.req<std::string>("type") : cfg.get<std::string>("type", default_type);
  return loss_registry().build(type, cfg, cfg.where("type"));
}

}  // namespace tessera::losses
