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

LayerWeights read_layer_weights(Cfg& parent, const std::string& key, const LayerWeights& def) {
  if (!parent.has(key)) {
    parent.allow(key);
    return def;
  }
  Cfg layers = parent.child(key);
  LayerWeights out;
  for (const auto& kv : layers.node()) out[kv.first.as<std::string>()] = layers.get<double>(kv.first.as<std::string>(), 0.0, 0.0, 1e15);
  if (out.empty()) parent.fail(key, "needs at least one layer: weight");
  return out;
}

YAML::Node layer_weights_yaml(const LayerWeights& w) {
  YAML::Node n(YAML::NodeType::Map);
  for (const auto& [k, v] : w) n[k] = v;
  return n;
}

torch::Tensor content_loss(const FeatureMap& x, const FeatureMap& target, const LayerWeights& w, bool normalize) {
  torch::Tensor total;
  for (const auto& [name, weight] : w) {
    torch::Tensor term = weight * layer_term(tap(x, name, "content loss"), tap(target, name, "content target"), normalize);
    total = total.defined() ? total + term : term;
  }
  return total;
}

torch::Tensor perceptual_loss(const FeatureMap& x, const FeatureMap& target, const LayerWeights& w, const std::string& criterion,
                              double feature_scale) {
  if (criterion != "l1" && criterion != "mse") throw Error("perceptual loss: criterion '" + criterion + "' is not l1 or mse");
  torch::Tensor total;
  for (const auto& [name, weight] : w) {
    torch::Tensor d = (tap(x, name, "perceptual loss") - tap(target, name, "perceptual target")) * feature_scale;
    torch::Tensor term = weight * (criterion == "l1" ? d.abs().mean() : d.square().mean());
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
