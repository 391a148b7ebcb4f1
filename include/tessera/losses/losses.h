// Pixel losses for image restoration: L1, MSE, Charbonnier; built by name from a config section.
#pragma once
#include <torch/types.h>

#include <functional>

#include "tessera/core/registry.h"

namespace tessera::losses {

using LossFn = std::function<torch::Tensor(const torch::Tensor& pred, const torch::Tensor& target)>;

// Charbonnier (a differentiable L1): mean(sqrt((pred - target)^2 + eps^2)).
torch::Tensor charbonnier_loss(const torch::Tensor& pred, const torch::Tensor& target, double eps = 1e-3);

using LossRegistry = Registry<LossFn>;
LossRegistry& loss_registry();
void register_builtin_losses();
// A config section {type: l1|mse|charbonnier, weight: 1.0, ...}; `type` defaults to `default_type`.
LossFn build_loss(Cfg cfg, const std::string& default_type = "");

}  // namespace tessera::losses
