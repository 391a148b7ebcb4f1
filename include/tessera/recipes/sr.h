// The super-resolution recipe (pixel loss, Adam, EMA, optional bf16 autocast) and SR evaluation.
#pragma once
#include "tessera/archs/inference.h"
#include "tessera/archs/net.h"
#include "tessera/data/sr_dataset.h"
#include "tessera/metrics/image_quality.h"
#include "tessera/recipes/recipe.h"

namespace tessera::recipes {

struct SrImageScore {
  std::string name;
  std::map<std::string, double> model, bicubic;  // metric name -> value
};
struct SrEvaluation {
  std::vector<std::string> metrics;              // in the order asked for
  std::map<std::string, double> model, bicubic;  // means over the images
  std::vector<SrImageScore> images;
  std::vector<std::pair<std::string, torch::Tensor>> samples;  // first few SR outputs
};

// Scores `net` and MATLAB bicubic upscaling against the HR images of `val` (8-bit quantised
// outputs, as saved images would be).
// `metric_names` come from the metric registry (psnr, ssim).
SrEvaluation evaluate_sr(archs::NetImpl& net, const data::SrFolderDataset& val, const metrics::QualityOptions& q,
                         const std::vector<std::string>& metric_names = {"psnr", "ssim"}, const archs::TileOptions& tile = {},
                         torch::Device device = torch::kCPU, size_t max_samples = 0);

// MATLAB bicubic upscaling of an LR image, the baseline every SR paper reports.
torch::Tensor bicubic_upscale(const torch::Tensor& lq, int64_t scale);

// What every upscaler recipe (sr, srgan, esrgan) shares: the `recipe.val` section
//   {y_channel: true, crop_border: <scale>, metrics: [psnr, ssim], save_images: 3, tile: 0}
// the validation it runs (model and bicubic, logged as val/<metric>_y and val/bicubic_<metric>_y),
// and the check that the data's scale is the network's.
class SrValidation {
 public:
  SrValidation(Cfg vc, archs::NetImpl& net);  // reads and finishes `vc`
  ValResult run(archs::NetImpl& net, const data::Dataset* val, torch::Device device, const std::string& recipe) const;
  // The first metric (PSNR by default) picks the best checkpoint.
  std::string best_metric() const;
  // Both splits must be sr_folder datasets of the network's scale (ConfigError naming the keys).
  static void check_data(const std::string& file, const std::string& recipe, int64_t scale, const data::Dataset& train,
                         const data::Dataset* val);

 private:
  metrics::QualityOptions quality_;
  archs::TileOptions tile_;
  int64_t samples_ = 3;
  std::vector<std::string> metric_names_;
};

void register_sr_recipe(RecipeRegistry& r);
void register_sr_gan_recipes(RecipeRegistry& r);  // srgan, esrgan (sr_gan.cpp)

}  // namespace tessera::recipes
