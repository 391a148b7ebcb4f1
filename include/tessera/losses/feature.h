// Losses on feature maps of a frozen feature network (VGG): the content (perceptual) loss and the
// Gram-matrix style loss of Gatys et al. and Johnson et al., layer by layer with a weight each.
#pragma once
#include <torch/types.h>

#include <yaml-cpp/yaml.h>

#include <map>
#include <string>

#include "tessera/core/config.h"

namespace tessera::losses {

using FeatureMap = std::map<std::string, torch::Tensor>;
using LayerWeights = std::map<std::string, double>;

// A `key: {layer: weight, ...}` section under `parent` (each weight checked), or `def` when absent.
LayerWeights read_layer_weights(Cfg& parent, const std::string& key, const LayerWeights& def);
YAML::Node layer_weights_yaml(const LayerWeights& w);

// sum_l w_l * mse(x_l, target_l); with `normalize`, each layer's term is divided by the mean square
// of its target, so layers weigh alike whatever the scale of their activations (He, Wang & Hopcroft
// 2016 make random VGGs usable this way). Targets broadcast over the batch.
torch::Tensor content_loss(const FeatureMap& x, const FeatureMap& target, const LayerWeights& w, bool normalize);
// The perceptual loss of SRGAN/ESRGAN (BasicSR's PerceptualLoss): sum_l w_l * criterion(s x_l, s t_l)
// with criterion "l1" (ESRGAN, BasicSR) or "mse" (Ledig et al.) and `feature_scale` s (Ledig et
// al. divide VGG features by 12.75). Targets are the same shape as the inputs.
torch::Tensor perceptual_loss(const FeatureMap& x, const FeatureMap& target, const LayerWeights& w, const std::string& criterion,
                              double feature_scale = 1.0);
// sum_l w_l * mse(gram(x_l), target_gram_l) (gram_matrix normalised by C*H*W), same normalisation.
torch::Tensor style_loss(const FeatureMap& x, const FeatureMap& target_grams, const LayerWeights& w, bool normalize);

}  // namespace tessera::losses
