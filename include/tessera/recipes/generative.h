// Recipes of the generative families: gan / wgan / wgan_gp / cgan (one adversarial procedure with
// per-family defaults), ae and vae, and the classifier that provides FID/IS features.
#pragma once
#include "tessera/archs/generative.h"
#include "tessera/archs/inception.h"
#include "tessera/metrics/generative.h"
#include "tessera/recipes/recipe.h"

namespace tessera::recipes {

// A feature network for FID/IS and class accuracy: a tessera classifier checkpoint, or InceptionV3
// converted with scripts/convert_inception.py (pool3 features; images resized to 299 and mapped to [-1,1]).
class FeatureNet {
 public:
  explicit FeatureNet(const std::string& checkpoint, torch::Device device = torch::kCPU);
  // Images in [0,1], resized to the network's input size and channel count when they differ.
  torch::Tensor features(const torch::Tensor& images);
  torch::Tensor probabilities(const torch::Tensor& images);

 private:
  torch::Tensor prepare(const torch::Tensor& images);
  archs::NetPtr holder_;
  std::shared_ptr<archs::ClassifierImpl> net_;
  std::shared_ptr<archs::InceptionV3Impl> inception_;
  torch::Device device_;
};

struct GenerativeScores {
  double fid = NAN, is_mean = NAN, is_std = NAN, class_accuracy = NAN;
};
// FID against `real` images, IS, and (for a conditional generator) the accuracy of the feature
// network on class-given samples; `n` samples from `gen`.
GenerativeScores score_generator(archs::GeneratorImpl& gen, FeatureNet& feat, const torch::Tensor& real, int64_t n,
                                 uint64_t seed, torch::Device device = torch::kCPU);

// n latent codes ~ N(0, I) from a generator seeded with `seed` (the global RNG is untouched).
torch::Tensor latent_batch(archs::GeneratorImpl& gen, int64_t n, uint64_t seed, torch::Device device = torch::kCPU);
// n raw samples (2D points for toy generators), on the CPU.
torch::Tensor sample_points(archs::GeneratorImpl& gen, int64_t n, uint64_t seed, torch::Device device = torch::kCPU);
// Samples n images in [0,1] (generators in [-1,1] are mapped) with a fixed seed; labels cycle over
// the classes for conditional generators.
torch::Tensor sample_images(archs::GeneratorImpl& gen, int64_t n, uint64_t seed, torch::Device device = torch::kCPU,
                            int64_t class_id = -1);
// Linear interpolations between `rows` pairs of latents, `steps` images each, in [0,1].
torch::Tensor interpolate_images(archs::GeneratorImpl& gen, int64_t rows, int64_t steps, uint64_t seed,
                                 torch::Device device = torch::kCPU);
// [N,C,H,W] in [0,1] -> one [3, H', W'] grid image, `nrow` per row.
torch::Tensor make_grid(const torch::Tensor& images, int64_t nrow, int64_t pad = 2);
// 2D points (and the modes) rendered as a 256x256 scatter image.
torch::Tensor scatter_image(const torch::Tensor& points, const torch::Tensor& modes, double extent);

void register_generative_recipes(RecipeRegistry& r);

// Recipe cyclegan (cyclegan.cpp): unpaired image-to-image translation.
void register_cyclegan_recipe(RecipeRegistry& r);

}  // namespace tessera::recipes
