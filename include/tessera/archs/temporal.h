// Temporal upscalers in the manner of DLSS 2 / FSR 2 (docs/temporal_sr.md): each high-resolution
// frame is made from the current jittered low-resolution frame, its motion vectors and jitter, and
// the previous output warped into the present. Conventions (docs/temporal.md): LR sample p lies at
// p + 0.5 - jitter; motion vectors point from each LR pixel centre to its position in the previous
// frame, in LR pixels, jitter excluded.
//
// The network (`temporal_sr`) runs at the low resolution: the current frame, the jitter (two
// constant planes), the motion, a history-valid mask and the warped history before and after the
// YCoCg clamp (space-to-depth into the LR grid) go through a plain stack of 3x3 convolutions
// (LeakyReLU 0.2 between them), whose
// output (depth-to-space) is a residual and a blend weight:
//   out = a * clamp(warp(history)) + (1 - a) * up(current) + residual,   a = sigmoid(.) * valid,
// with up() the jitter-compensated bicubic upsampling. `history: false` gives the single-frame
// network of the same body (inputs: the frame and its jitter; out = up(current) + residual), the
// equal-cost baseline when widened.
#pragma once
#include "tessera/archs/net.h"
#include "tessera/core/options.h"

namespace tessera::exporter {
class OnnxGraph;
}

namespace tessera::archs {

struct TemporalSrOptions {
  int64_t scale = 2, num_feat = 32, num_conv = 5, clamp_radius = 1;
  bool history = true;
  template <class V>
  void visit(V& v) {
    v("scale", scale, "upscale factor", 2, 8);
    v("num_feat", num_feat, "features of the hidden convolutions", 1, 1024);
    v("num_conv", num_conv, "3x3 convolutions at low resolution, the first and last included", 2, 64);
    v("history", history, "use the warped previous output (false: the single-frame network of the same body)");
    v("clamp_radius", clamp_radius, "history clamp neighbourhood, (2 r + 1)^2 target pixels", 0, 16);
  }
};

// One frame of a batch of sequences: lr [N,3,h,w] (jittered samples in [0,1]), motion [N,2,h,w],
// jitter [N,2] (float).
struct TemporalFrame {
  torch::Tensor lr, motion, jitter;
};

// What a temporal upscaler carries between frames: the previous output [N,3,H,W] (undefined before
// the first frame of a sequence, or after a cut).
struct TemporalState {
  torch::Tensor output;
};

// The current frame upsampled with its jitter compensated: resampled at p + jitter (Catmull-Rom),
// which puts sample p at p + 0.5, then MATLAB bicubic x scale. [N,3,h s,w s].
torch::Tensor unjittered_upsample(const torch::Tensor& lr, const torch::Tensor& jitter, int64_t scale);

// The previous output warped by the motion vectors (each LR pixel's vector applies to its s x s
// target pixels, scaled to target pixels; Catmull-Rom), and where that history exists: the
// pixel's previous position lies inside the frame. valid is [N,1,H,W] (and valid_lr [N,1,h,w]) of 0/1;
// with no history, warped is undefined and both masks are 0.
struct Reprojection {
  torch::Tensor warped, valid, valid_lr;
};
Reprojection reproject(const torch::Tensor& history, const torch::Tensor& motion, int64_t scale, int64_t lr_h, int64_t lr_w);

class TemporalSrImpl : public NetImpl {
 public:
  explicit TemporalSrImpl(TemporalSrOptions o);
  // The convolution body on the packed LR input [N, in_channels(), h, w] -> [N, s^2 (3 or 4), h, w].
  torch::Tensor forward(torch::Tensor x) override;
  // One frame: packs the inputs, runs the body and blends; updates `state` with the output.
  torch::Tensor step(const TemporalFrame& frame, TemporalState& state);
  std::string type() const override { return "temporal_sr"; }
  std::string task() const override { return "temporal_upscaler"; }
  YAML::Node options_yaml() const override { return write_options(opt, type()); }
  int64_t scale() const override { return opt.scale; }
  int64_t in_channels() const override;
  // Multiply-adds per output pixel of the convolutions (the warp, clamp and upsampling add ~100).
  double macs_per_output_pixel() const;

  TemporalSrOptions opt;
  torch::nn::Sequential body{nullptr};
};
TORCH_MODULE(TemporalSr);

// The non-learned TAA upsampler (the baseline): out = a clamp(warp(history)) + (1 - a) up(current)
// where the history is valid (a = alpha), up(current) elsewhere.
struct TaaOptions {
  double alpha = 0.9;
  int64_t clamp_radius = 1;
};
torch::Tensor taa_step(const TemporalFrame& frame, TemporalState& state, int64_t scale, const TaaOptions& opt = {});

// One frame through any upscaler: a temporal_sr network steps with its state; a single-image
// upscaler (ESPCN, EDSR, ...) runs on the frame alone. Updates `state`.
torch::Tensor upscale_frame(NetImpl& net, const TemporalFrame& frame, TemporalState& state);

// The ONNX graph of one step (temporal_onnx.cpp): frame [N,3,h,w], motion [N,2,h,w], jitter [N,2],
// history [N,3,H,W] (the previous output; anything when has_history is 0) and has_history [N]
// (0 at a sequence's first frame, else 1) -> the output. Returns the output value's name.
std::string emit_temporal_step(exporter::OnnxGraph& g, TemporalSrImpl& net, const std::string& frame, const std::string& motion,
                               const std::string& jitter, const std::string& history, const std::string& has_history);

// Multiply-adds per output pixel where the arch states them (temporal_sr, espcn); -1 otherwise.
double macs_per_output_pixel(const NetImpl& net);

void register_temporal_archs(ArchRegistry& r);

}  // namespace tessera::archs
