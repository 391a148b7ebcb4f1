#include "tessera/losses/feature.h"

#include "tessera/core/error.h"
#include "tessera/losses/adversarial.h"

namespace tessera::losses {

namespace {

const torch::Tensor& tap(const FeatureMap& m, const std::string& name, const char* what) {
  auto it = m.find(name);
  if (it == m.end()) throw Error(std::string(what) + ": no features for layer '" + name + "'");
  return it->second;
}

torch::Tensor layer_term(const torch::Tensor& x, const torch::Tensor& t, bool normalize) {
  torch::Tensor target = t.expand_as(x);
  torch::Tensor term = (x - target).square().mean();
  if (normalize) term = term / (t.square().mean().detach() + 1e-12);
  return term;
}

}  // namespace

torch::Tensor content_loss(const FeatureMap& x, const FeatureMap& target, const LayerWeights& w, bool normalize) {
  torch::Tensor total;
  for (const auto& [name, weight] : w) {
    torch::Tensor term = weight * layer_term(tap(x, name, "content loss"), tap(target, name, "content target"), normalize);
    total = total.defined() ? total + term : term;
  }
  return total;
}

torch::Tensor style_loss(const FeatureMap& x, const FeatureMap& target_grams, const LayerWeights& w, bool normalize) {
  torch::Tensor total;
  for (const auto& [name, weight] : w) {
    torch::Tensor term = weight * layer_term(gram_matrix(tap(x, name, "style loss")), tap(target_grams, name, "style target"), normalize);
    total = total.defined() ? total + term : term;
  }
  return total;
}

}  // namespace tessera::losses
