#include <catch2/catch.hpp>

#include "tessera/metrics/image_quality.h"

using namespace tessera;

TEST_CASE("PSNR: known value, identical images, crop border", "[metrics]") {
  auto a = torch::zeros({3, 20, 20});
  auto b = torch::full({3, 20, 20}, 10.0 / 255);
  metrics::QualityOptions rgb{false, 0};
  REQUIRE(metrics::psnr(a, b, rgb) == Approx(10 * std::log10(255.0 * 255 / 100.0)));
  REQUIRE(std::isinf(metrics::psnr(a, a, rgb)));
  // A difference only in the border disappears with crop_border.
  auto c = a.clone();
  c.index_put_({torch::indexing::Slice(), 0}, 1.0);
  REQUIRE(std::isinf(metrics::psnr(a, c, {false, 1})));
  REQUIRE_FALSE(std::isinf(metrics::psnr(a, c, {false, 0})));
}

TEST_CASE("Y channel is BT.601 in [16, 235]", "[metrics]") {
  auto white = torch::ones({3, 2, 2}), black = torch::zeros({3, 2, 2});
  REQUIRE(metrics::rgb_to_y(white).max().item<double>() == Approx(235.0).margin(1e-3));
  REQUIRE(metrics::rgb_to_y(black).min().item<double>() == Approx(16.0));
}

TEST_CASE("SSIM is 1 for identical images and drops with noise", "[metrics]") {
  auto a = torch::rand({3, 32, 32});
  REQUIRE(metrics::ssim(a, a) == Approx(1.0));
  auto smooth = torch::linspace(0, 1, 32).view({1, 1, 32}).expand({3, 32, 32}).contiguous();
  REQUIRE(metrics::ssim(smooth, smooth) == Approx(1.0));
  auto b = (smooth + 0.2 * torch::randn_like(smooth)).clamp(0, 1);
  REQUIRE(metrics::ssim(smooth, b) < 0.5);
}
