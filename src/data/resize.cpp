#include "tessera/data/resize.h"

#include <cmath>

#include "tessera/ops/ops.h"

namespace tessera::data {

torch::Tensor resize_weights(int64_t in_len, int64_t out_len, double scale, bool antialias) {
  torch::Tensor w = torch::zeros({out_len, in_len}, torch::kFloat64);
  auto acc = w.accessor<double, 2>();
  const auto rows = ops::bicubic_taps(in_len, out_len, scale, antialias);
  for (int64_t o = 0; o < out_len; ++o)
    for (const auto& [i, wt] : rows[o]) acc[o][i] = wt;
  return w;
}

torch::Tensor imresize_bicubic(const torch::Tensor& img, int64_t out_h, int64_t out_w, bool antialias) {
  TORCH_CHECK(img.dim() == 3 || img.dim() == 4, "imresize_bicubic expects [C,H,W] or [N,C,H,W]");
  const double sh = static_cast<double>(out_h) / img.size(-2), sw = static_cast<double>(out_w) / img.size(-1);
  return ops::imresize_bicubic(img, out_h, out_w, sh, sw, antialias);
}

torch::Tensor imresize_bicubic(const torch::Tensor& img, double scale, bool antialias) {
  TORCH_CHECK(img.dim() == 3 || img.dim() == 4, "imresize_bicubic expects [C,H,W] or [N,C,H,W]");
  const int64_t out_h = static_cast<int64_t>(std::ceil(img.size(-2) * scale - 1e-9));
  const int64_t out_w = static_cast<int64_t>(std::ceil(img.size(-1) * scale - 1e-9));
  // MATLAB derives the weights from the scale factor, not from the size ratio.
  return ops::imresize_bicubic(img, out_h, out_w, scale, scale, antialias);
}

torch::Tensor mod_crop(const torch::Tensor& img, int64_t scale) {
  const int64_t h = img.size(-2) - img.size(-2) % scale, w = img.size(-1) - img.size(-1) % scale;
  return img.index({"...", torch::indexing::Slice(0, h), torch::indexing::Slice(0, w)});
}

}  // namespace tessera::data
