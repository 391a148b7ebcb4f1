// PSNR and SSIM as the SR papers report them (and as scikit-image computes them): on RGB or on the
// BT.601 Y channel, with `crop_border` pixels removed from each side, images on the [0, 255] scale.
#pragma once
#include <torch/types.h>

#include <functional>
#include <string>

#include "tessera/core/registry.h"

namespace tessera::metrics {

// float [3,H,W] RGB in [0,1] -> Y in [16, 235] (float64), BT.601 as MATLAB's rgb2ycbcr.
torch::Tensor rgb_to_y(const torch::Tensor& rgb);

struct QualityOptions {
  bool y_channel = true;
  int64_t crop_border = 0;
};

// Inputs: float [C,H,W] in [0,1] (quantise first to compare saved images). Returns dB; +inf for
// identical images.
double psnr(const torch::Tensor& a, const torch::Tensor& b, const QualityOptions& opt = {});
// Gaussian-window SSIM (sigma 1.5, 11x11, K1 0.01, K2 0.03, population covariance), averaged over
// channels; equal to skimage.metrics.structural_similarity(gaussian_weights=True,
// use_sample_covariance=False, data_range=255).
double ssim(const torch::Tensor& a, const torch::Tensor& b, const QualityOptions& opt = {});

// Full-reference image metrics by name (psnr, ssim), for configs and `tessera eval --metric`.
using ImageMetric = std::function<double(const torch::Tensor& pred, const torch::Tensor& ref, const QualityOptions& opt)>;
using MetricRegistry = Registry<ImageMetric>;
MetricRegistry& metric_registry();
void register_builtin_metrics();
// `where` names the config key or option for the error on an unknown name.
ImageMetric build_metric(const std::string& name, const std::string& where);

}  // namespace tessera::metrics
