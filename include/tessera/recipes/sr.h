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

void register_sr_recipe(RecipeRegistry& r);

}  // namespace tessera::recipes
