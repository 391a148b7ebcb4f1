#include "tessera/data/resize.h"

#include <cmath>

namespace tessera::data {

static double cubic(double x) {
  double a = std::abs(x), a2 = a * a, a3 = a2 * a;
  if (a <= 1) return 1.5 * a3 - 2.5 * a2 + 1;
  if (a <= 2) return -0.5 * a3 + 2.5 * a2 - 4 * a + 2;
  return 0;
}

torch::Tensor resize_weights(int64_t in_len, int64_t out_len, double scale, bool antialias) {
  const bool shrink_aa = scale < 1 && antialias;
  const double kernel_width = shrink_aa ? 4.0 / scale : 4.0;
  const int64_t taps = static_cast<int64_t>(std::ceil(kernel_width)) + 2;
  torch::Tensor w = torch::zeros({out_len, in_len}, torch::kFloat64);
  auto acc = w.accessor<double, 2>();
  std::vector<double> tap_w(taps);
  for (int64_t o = 0; o < out_len; ++o) {
    // 1-based output coordinate mapped into input space, as MATLAB does.
    const double u = (o + 1) / scale + 0.5 * (1 - 1 / scale);
    const int64_t left = static_cast<int64_t>(std::floor(u - kernel_width / 2));
    double sum = 0;
    for (int64_t t = 0; t < taps; ++t) {
      const double d = u - static_cast<double>(left + t);
      tap_w[t] = shrink_aa ? scale * cubic(d * scale) : cubic(d);
      sum += tap_w[t];
    }
    for (int64_t t = 0; t < taps; ++t) {
      // Symmetric (mirror) border: ..., 2, 1, 1, 2, ..., L, L, L-1, ...
      int64_t idx = left + t - 1;  // 0-based
      const int64_t period = 2 * in_len;
      idx = ((idx % period) + period) % period;
      if (idx >= in_len) idx = period - 1 - idx;
      acc[o][idx] += tap_w[t] / sum;
    }
  }
  return w;
}

torch::Tensor imresize_bicubic(const torch::Tensor& img, int64_t out_h, int64_t out_w, bool antialias) {
  TORCH_CHECK(img.dim() == 3 || img.dim() == 4, "imresize_bicubic expects [C,H,W] or [N,C,H,W]");
  const int64_t h = img.size(-2), w = img.size(-1);
  const double sh = static_cast<double>(out_h) / h, sw = static_cast<double>(out_w) / w;
  torch::Tensor wh = resize_weights(h, out_h, sh, antialias).to(img.device());
  torch::Tensor ww = resize_weights(w, out_w, sw, antialias).to(img.device());
  torch::Tensor x = img.to(torch::kFloat64);
  x = torch::matmul(wh, x);                 // [.., out_h, w]
  x = torch::matmul(x, ww.t());             // [.., out_h, out_w]
  return x.to(torch::kFloat32);
}

torch::Tensor imresize_bicubic(const torch::Tensor& img, double scale, bool antialias) {
  const int64_t out_h = static_cast<int64_t>(std::ceil(img.size(-2) * scale - 1e-9));
  const int64_t out_w = static_cast<int64_t>(std::ceil(img.size(-1) * scale - 1e-9));
  // MATLAB derives the weights from the scale factor, not from the size ratio.
  TORCH_CHECK(img.dim() == 3 || img.dim() == 4, "imresize_bicubic expects [C,H,W] or [N,C,H,W]");
  torch::Tensor wh = resize_weights(img.size(-2), out_h, scale, antialias).to(img.device());
  torch::Tensor ww = resize_weights(img.size(-1), out_w, scale, antialias).to(img.device());
  torch::Tensor x = torch::matmul(wh, img.to(torch::kFloat64));
  return torch::matmul(x, ww.t()).to(torch::kFloat32);
}

torch::Tensor mod_crop(const torch::Tensor& img, int64_t scale) {
  const int64_t h = img.size(-2) - img.size(-2) % scale, w = img.size(-1) - img.size(-1) % scale;
  return img.index({"...", torch::indexing::Slice(0, h), torch::indexing::Slice(0, w)});
}

}  // namespace tessera::data
