// Building blocks shared by the archs. Parameter names follow the PyTorch modules they mirror, so a
// module's state_dict() names equal LibTorch's named_parameters()/named_buffers() names.
#pragma once
#include <torch/nn.h>

namespace tessera::nn {

// Conv2d with weight normalisation (Salimans & Kingma 2016), as torch.nn.utils.weight_norm(conv):
// weight = weight_g * weight_v / ||weight_v|| (norm over all dims but the output channel).
class WnConv2dImpl : public torch::nn::Module {
 public:
  WnConv2dImpl(int64_t in, int64_t out, int64_t kernel, bool bias = true);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight() const;  // the effective (normalised) weight
  int64_t kernel() const { return kernel_; }

  torch::Tensor weight_g, weight_v, bias;

 private:
  int64_t kernel_;
};
TORCH_MODULE(WnConv2d);

// Conv2d with spectral normalisation (Miyato et al. 2018), as torch.nn.utils.spectral_norm(conv)
// (its state_dict names: weight_orig, weight_u, weight_v, bias): weight = weight_orig / sigma with
// sigma = u^T W v, W = weight_orig as [out, in*k*k]. Each forward in training mode first runs
// `power_iterations` steps of the power method on the u, v buffers (no gradient through them);
// eval mode reuses the stored u, v, so exported and evaluated networks use the last estimate.
class SnConv2dImpl : public torch::nn::Module {
 public:
  explicit SnConv2dImpl(torch::nn::Conv2dOptions options, int64_t power_iterations = 1, double eps = 1e-12);
  torch::Tensor forward(const torch::Tensor& x);
  // The normalised weight (in training mode, after the power iteration that updates u and v).
  torch::Tensor weight();
  // The normalised weight from the stored u, v without touching them (for export).
  torch::Tensor normalized_weight() const;

  torch::nn::Conv2dOptions options;
  torch::Tensor weight_orig, bias, weight_u, weight_v;

 private:
  int64_t power_iterations_;
  double eps_;
};
TORCH_MODULE(SnConv2d);

// Runs a Sequential's children in order, with each InstanceNorm2d and a ReLU / LeakyReLU right after
// it as one ops::instance_norm_act (one pass, no layout copies in channels-last), and each Conv2d
// through conv_act (the stem and Winograd kernels in inference, where they fit). Results equal the
// Sequential's own forward up to float rounding.
torch::Tensor forward_fused(torch::nn::SequentialImpl& seq, torch::Tensor x);

// 3x3 (or k x k) convolution with "same" padding.
torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel = 3, bool bias = true);

// The sub-pixel upsampler of EDSR/BasicSR: per x2 stage a conv to 4F channels and PixelShuffle(2);
// x3: one conv to 9F and PixelShuffle(3). Children are named 0, 1, 2, ... like nn.Sequential.
// With `prelu`, each stage ends in a PReLU (SRResNet).
torch::nn::Sequential pixel_shuffle_upsampler(int64_t scale, int64_t features, bool prelu = false);

// conv(x) then an activation ("none", "relu" or "tanh"), and conv(x) + residual: fused by oneDNN (one pass
// over the output instead of two or three) on CPU when no gradient is being recorded, else the
// plain composite. Results are equal up to float rounding (the same convolution; the activation or
// add is applied to its output in registers). A first layer over 1-4 channels takes
// ops::stem_conv instead (stem_conv_fits).
torch::Tensor conv_act(torch::nn::Conv2dImpl& conv, const torch::Tensor& x, const std::string& activation);
torch::Tensor conv_add(torch::nn::Conv2dImpl& conv, const torch::Tensor& x, const torch::Tensor& residual);
// conv(x) + residual written over `residual` (returned): for inference, where the residual is dead
// after the add. oneDNN then accumulates into it instead of copying it into a fresh output first
// (EDSR's residual block: 278 -> 192 ms at 960x540, bench/apply_parts.py). `residual` must not
// alias `x`, and nothing else may still need its old values.
torch::Tensor conv_add_(torch::nn::Conv2dImpl& conv, const torch::Tensor& x, torch::Tensor residual);
// Whether the fused path would be taken for this input and convolution (for tests and benchmarks).
bool conv_fusable(const torch::nn::Conv2dImpl& conv, const torch::Tensor& x);
// Whether conv_act takes ops::stem_conv (a first layer over 1-4 input channels, at least 8 output
// channels, stride 1, 'same' zero padding, float32 inference on CPU) instead.
bool stem_conv_fits(const torch::nn::Conv2dImpl& conv, const torch::Tensor& x);
// Whether conv_act, conv_add and conv_add_ take ops::winograd_conv3x3 (3x3, stride 1, padding 1,
// at least 8 input channels, float32 inference on CPU), unless TESSERA_WINOGRAD=0.
bool winograd_fits(const torch::nn::Conv2dImpl& conv, const torch::Tensor& x);

// pixel_shuffle(x, r).contiguous(): the NCHW result in one copy from a channels-last x, where
// PixelShuffle keeps channels-last and the conversion copies again (a network's last op).
torch::Tensor pixel_shuffle_contiguous(const torch::Tensor& x, int64_t r);

// True for 2^n and 3.
bool valid_upscale(int64_t scale);

}  // namespace tessera::nn
