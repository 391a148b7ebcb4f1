#include "tessera/metrics/image_quality.h"

#include <cmath>
#include <limits>

#include "tessera/core/error.h"

namespace tessera::metrics {

using torch::indexing::Slice;

torch::Tensor rgb_to_y(const torch::Tensor& rgb) {
  torch::Tensor x = rgb.to(torch::kFloat64);
  return 16.0 + 65.481 * x[0] + 128.553 * x[1] + 24.966 * x[2];
}

static torch::Tensor prepare(const torch::Tensor& img, const QualityOptions& opt) {
  TORCH_CHECK(img.dim() == 3, "expected a [C,H,W] image, got ", img.sizes());
  torch::Tensor x = opt.y_channel && img.size(0) == 3 ? rgb_to_y(img).unsqueeze(0) : img.to(torch::kFloat64) * 255.0;
  if (opt.crop_border > 0) {
    const int64_t c = opt.crop_border;
    if (x.size(1) <= 2 * c || x.size(2) <= 2 * c) throw Error("image too small for crop_border " + std::to_string(c));
    x = x.index({Slice(), Slice(c, x.size(1) - c), Slice(c, x.size(2) - c)});
  }
  return x;
}

static void check_same(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.sizes() != b.sizes())
    throw Error("metric inputs differ in size: " + c10::str(a.sizes()) + " vs " + c10::str(b.sizes()));
}

double psnr(const torch::Tensor& a, const torch::Tensor& b, const QualityOptions& opt) {
  check_same(a, b);
  torch::Tensor x = prepare(a, opt), y = prepare(b, opt);
  double mse = (x - y).square().mean().item<double>();
  if (mse == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(255.0 * 255.0 / mse);
}

double ssim(const torch::Tensor& a, const torch::Tensor& b, const QualityOptions& opt) {
  check_same(a, b);
  torch::Tensor x = prepare(a, opt).unsqueeze(1), y = prepare(b, opt).unsqueeze(1);  // [C,1,H,W]
  if (x.size(2) < 11 || x.size(3) < 11) throw Error("SSIM needs images of at least 11x11 after cropping");
  // scipy's gaussian_filter kernel: sigma 1.5, truncate 3.5 -> radius 5.
  torch::Tensor t = torch::arange(-5, 6, torch::kFloat64);
  torch::Tensor g = torch::exp(-0.5 * t.square() / (1.5 * 1.5));
  g = g / g.sum();
  torch::Tensor gh = g.view({1, 1, 11, 1}), gw = g.view({1, 1, 1, 11});
  auto filt = [&](const torch::Tensor& z) { return torch::conv2d(torch::conv2d(z, gh), gw); };  // "valid" = skimage's crop
  const double c1 = std::pow(0.01 * 255, 2), c2 = std::pow(0.03 * 255, 2);
  torch::Tensor ux = filt(x), uy = filt(y);
  torch::Tensor vx = filt(x * x) - ux * ux, vy = filt(y * y) - uy * uy, vxy = filt(x * y) - ux * uy;
  torch::Tensor s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
  return s.mean({1, 2, 3}).mean().item<double>();
}

MetricRegistry& metric_registry() {
  static MetricRegistry r("metric");
  return r;
}

void register_builtin_metrics() {
  auto& r = metric_registry();
  if (r.contains("psnr")) return;
  r.add("psnr", [](Cfg&) -> ImageMetric { return [](const torch::Tensor& a, const torch::Tensor& b, const QualityOptions& q) { return psnr(a, b, q); }; });
  r.add("ssim", [](Cfg&) -> ImageMetric { return [](const torch::Tensor& a, const torch::Tensor& b, const QualityOptions& q) { return ssim(a, b, q); }; });
}

ImageMetric build_metric(const std::string& name, const std::string& where) {
  register_builtin_metrics();
  Cfg none;
  return metric_registry().build(name, none, where);
}

}  // namespace tessera::metrics
