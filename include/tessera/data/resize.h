// MATLAB-compatible imresize with the bicubic kernel (a = -0.5): antialiased when shrinking (the
// kernel is stretched by 1/scale), symmetric border handling. This is the degradation the SR papers
// use to make LR images; OpenCV's and PyTorch's bicubic differ from it.
#pragma once
#include <torch/types.h>

namespace tessera::data {

// Resizes float [C,H,W] or [N,C,H,W] by `scale` (output size ceil(size*scale)), in float64
// internally; the result is float32 and not rounded.
torch::Tensor imresize_bicubic(const torch::Tensor& img, double scale, bool antialias = true);
// Same, to an explicit output size.
torch::Tensor imresize_bicubic(const torch::Tensor& img, int64_t out_h, int64_t out_w, bool antialias = true);

// The [out, in] matrix of one dimension's resampling weights (exposed for tests).
torch::Tensor resize_weights(int64_t in_len, int64_t out_len, double scale, bool antialias);

// Crops H and W down to multiples of `scale` (the "mod crop" of the SR literature).
torch::Tensor mod_crop(const torch::Tensor& img, int64_t scale);

}  // namespace tessera::data
