// tessera's custom ops: `torch.ops.tessera.*`, each with a CPU kernel (the reference), a CUDA kernel,
// autograd at the Autograd key (backwards built from differentiable ops, so double backward holds),
// an autocast rule and a Meta kernel (shapes only, for torch.library.opcheck and fake tensors).
//
// The ops live in one shared library, libtessera_ops.so, whose static initialisers register them
// with the dispatcher when it is loaded: by the tessera binaries (they call the wrappers below, so
// the linker keeps the library) and by Python (`torch.ops.load_library`). See docs/ops.md.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include <string>
#include <utility>
#include <vector>

namespace tessera::ops {

// Gram matrices of features [N, C, H, W] or [N, C, L]: G[n] = F F^T / (C * L), shape [N, C, C]
// (Gatys et al.'s normalisation, as pytorch/examples). Computes only the upper triangle (about
// half the multiply-adds of bmm) and mirrors it; the backward is one bmm with (dG + dG^T).
// Autocast: runs in the autocast dtype, as bmm does.
at::Tensor gram(const at::Tensor& features);

// x + beta * f(y) with f = identity ("none"), "relu" or "leaky_relu" (negative_slope), in one pass:
// the residual glue of EDSR/WDSR/RRDB blocks. x and y have one shape; the result takes x's memory
// format (NCHW or channels_last). Autocast: runs in the wider of x's and y's dtypes.
at::Tensor scale_add(const at::Tensor& x, const at::Tensor& y, double beta, const std::string& activation = "none",
                     double negative_slope = 0.01);

// Instance normalisation (per sample and channel over the positions of [N, C, ...], biased
// variance, no running statistics; Ulyanov et al.) with an optional affine weight and bias [C],
// then f = none, relu or leaky_relu (negative_slope), in one kernel: NCHW or channels_last
// without the layout copies ATen's instance norm makes. The hot path of the Johnson and CycleGAN
// networks. Autocast: runs in x's dtype with float statistics, as ATen's norms.
at::Tensor instance_norm_act(const at::Tensor& x, const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias,
                             double eps = 1e-5, const std::string& activation = "none", double negative_slope = 0.01);

// MATLAB's imresize with the bicubic kernel (a = -0.5): antialiased when shrinking (the kernel
// stretched by 1/scale), symmetric borders, the weights derived from `scale` (MATLAB's rule), in
// float64 with a float32 result. [C, H, W] or [N, C, H, W] of any floating dtype. Only each output
// pixel's taps are read (4 when enlarging, 4/scale + 2 when shrinking), on CPU or CUDA.
at::Tensor imresize_bicubic(const at::Tensor& x, int64_t out_h, int64_t out_w, double scale_h, double scale_w, bool antialias = true);

// One dimension's taps: for each output index, the (input index, weight) pairs in index order,
// mirrored taps merged. The one definition of MATLAB's bicubic weights in tessera.
std::vector<std::vector<std::pair<int64_t, double>>> bicubic_taps(int64_t in_len, int64_t out_len, double scale, bool antialias);

// Backward warp with Catmull-Rom (bicubic, a = -0.5) interpolation and replicated borders:
// out[n, :, i, j] = image[n] at (j + flow[n, 0, i, j], i + flow[n, 1, i, j]), pixel-index
// coordinates, for image [N, C, H, W] and flow [N, 2, H, W] of one floating dtype. Temporal SR's
// history reprojection (bilinear would blur the history a little more every frame).
// Differentiable in both; a NaN in the flow gives NaN at that pixel. Autocast: float32.
at::Tensor warp_catmull_rom(const at::Tensor& image, const at::Tensor& flow);

// TAA / FSR 2 history rectification: each pixel of the RGB history [N, 3, H, W] clamped, in YCoCg,
// into the box of the current frame's (2 radius + 1)^2 neighbourhood (replicated borders), back
// to RGB. Differentiable in both (the composite's gradient). Autocast: float32.
at::Tensor history_clamp(const at::Tensor& history, const at::Tensor& current, int64_t radius = 1);

// Inference only (no autograd, CPU, float32): a stride-1 convolution with zero padding `padding`
// (at most k / 2; odd square kernel k) of an input of 1 to kStemConvMaxChannels channels, then the bias and "none",
// "relu" or "tanh", applied in registers; the result is channels-last [N, Cout, H, W], the input
// may be either layout. The first layer of the SR networks, which oneDNN runs at a fraction of its
// speed on wider layers (too little reduction per output for its GEMM-shaped kernels); a direct
// kernel per instruction set (src/ops/stem_conv). Not a dispatcher op: tessera's layers call it
// (nn::conv_act), with at::conv2d as the reference.
constexpr int64_t kStemConvMaxChannels = 4;
at::Tensor stem_conv(const at::Tensor& x, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                     const std::string& activation = "none", int64_t padding = -1);  // -1: k / 2

// Inference only (no autograd, CPU, float32): a 3x3 convolution, stride 1, zero padding 1 or 0
// (`padding`; 0 after an explicit reflection pad), by Winograd's F(4x4, 3x3) (2.25 multiply-adds per output and input channel instead of 9), then the
// bias, an optional residual [N, Cout, H, W] and "none", "relu" or "tanh" (of the sum), in one pass;
// channels-last result, or written over the residual (into_residual: a channels-last residual that
// does not share the input's memory). Results differ from a direct convolution by float rounding
// only: about 1e-6 of the outputs' scale (tests/ops). The body of tessera's SR networks
// (nn::conv_act, nn::conv_add_); src/ops/winograd.
at::Tensor winograd_conv3x3(const at::Tensor& x, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                            const std::string& activation = "none", const c10::optional<at::Tensor>& residual = c10::nullopt,
                            bool into_residual = false, int64_t padding = 1);

// Hooks for tests.
namespace testing {
// tessera::gram on CPU with the float32 panel kernel's width forced to `panel` rows (8 or 16;
// every vector build runs 16), so that a test covers the width another machine picks. Other
// dtypes, and widths or builds without the kernel, take the block recursion.
at::Tensor gram_cpu_panel(const at::Tensor& features, int64_t panel);
// How many threads at::parallel_for gives the CPU kernels (of the instruction set this machine
// picks) right now: at::get_num_threads() when the kernels were built with OpenMP, 1 otherwise.
int64_t kernel_threads();
// ops::stem_conv on the kernel built for `capability` ("DEFAULT", "AVX2", "AVX512"), whatever this
// machine would pick; the caller makes sure the CPU has the instructions.
at::Tensor stem_conv_build(const std::string& capability, const at::Tensor& x, const at::Tensor& weight,
                           const c10::optional<at::Tensor>& bias, const std::string& activation, int64_t padding = -1);
// The same for ops::winograd_conv3x3.
at::Tensor winograd_conv3x3_build(const std::string& capability, const at::Tensor& x, const at::Tensor& weight,
                                  const c10::optional<at::Tensor>& bias, const std::string& activation,
                                  const c10::optional<at::Tensor>& residual, int64_t padding = 1);
}  // namespace testing

// The plain-ATen composites each op is tested against.
namespace reference {
// Dense [out, in] weight matrices and two float64 matmuls (tessera's implementation before the op).
at::Tensor imresize_bicubic(const at::Tensor& x, int64_t out_h, int64_t out_w, double scale_h, double scale_w, bool antialias);
at::Tensor instance_norm_act(const at::Tensor& x, const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias,
                             double eps, const std::string& activation, double negative_slope);
at::Tensor gram(const at::Tensor& features);
at::Tensor scale_add(const at::Tensor& x, const at::Tensor& y, double beta, const std::string& activation, double negative_slope);
// 16 gathers of the clamped taps weighted by the Catmull-Rom polynomials.
at::Tensor warp_catmull_rom(const at::Tensor& image, const at::Tensor& flow);
// YCoCg, replication padding, max_pool2d boxes, clamp.
at::Tensor history_clamp(const at::Tensor& history, const at::Tensor& current, int64_t radius);
}  // namespace reference

// True when the library was built with its CUDA kernels.
bool cuda_kernels_compiled();

}  // namespace tessera::ops
