#include "tessera/archs/temporal.h"

#include "tessera/archs/sr.h"
#include "tessera/core/error.h"
#include "tessera/nn/layers.h"
#include "tessera/ops/ops.h"

namespace tessera::archs {

namespace {

torch::Tensor planes(const torch::Tensor& jitter, int64_t h, int64_t w) {
  return jitter.to(torch::kFloat32).view({-1, 2, 1, 1}).expand({-1, 2, h, w});
}

void check_frame(const TemporalFrame& f, int64_t scale) {
  if (!f.lr.defined() || f.lr.dim() != 4 || f.lr.size(1) != 3) throw Error("temporal frame: lr must be [N, 3, h, w], got " + c10::str(f.lr.sizes()));
  const int64_t n = f.lr.size(0), h = f.lr.size(2), w = f.lr.size(3);
  if (!f.motion.defined() || f.motion.sizes() != torch::IntArrayRef({n, 2, h, w}))
    throw Error("temporal frame: motion must be [N, 2, h, w] like lr " + c10::str(f.lr.sizes()) + ", got " +
                (f.motion.defined() ? c10::str(f.motion.sizes()) : std::string("none")));
  if (!f.jitter.defined() || f.jitter.sizes() != torch::IntArrayRef({n, 2}))
    throw Error("temporal frame: jitter must be [N, 2], got " + (f.jitter.defined() ? c10::str(f.jitter.sizes()) : std::string("none")));
  (void)scale;
}

// Inputs follow the weights' dtype (bf16 after prepare_for_inference), outputs are float.
torch::Tensor run_body(NetImpl& net, const torch::Tensor& x) {
  auto params = net.parameters();
  const auto dtype = params.empty() ? torch::kFloat32 : params.front().scalar_type();
  return net.forward(x.to(dtype)).to(torch::kFloat32);
}

// 0/1 where pixel centre + flow (pixel units) lies inside an h x w frame: [N,1,h,w].
torch::Tensor inside(const torch::Tensor& flow) {
  const int64_t h = flow.size(2), w = flow.size(3);
  auto o = flow.options();
  torch::Tensor x = torch::arange(w, o).view({1, 1, w}) + 0.5 + flow.select(1, 0);
  torch::Tensor y = torch::arange(h, o).view({1, h, 1}) + 0.5 + flow.select(1, 1);
  return ((x >= 0) & (x < w) & (y >= 0) & (y < h)).unsqueeze(1).to(torch::kFloat32);
}

}  // namespace

torch::Tensor unjittered_upsample(const torch::Tensor& lr, const torch::Tensor& jitter, int64_t scale) {
  const int64_t h = lr.size(2), w = lr.size(3);
  torch::Tensor x = lr.to(torch::kFloat32);
  // Sample p shows the scene at p + 0.5 - jitter: resampling the grid at q + jitter gives the scene at q + 0.5.
  x = ops::warp_catmull_rom(x, planes(jitter, h, w).contiguous());
  const double s = static_cast<double>(scale);
  return ops::imresize_bicubic(x, h * scale, w * scale, s, s, false);
}

Reprojection reproject(const torch::Tensor& history, const torch::Tensor& motion, int64_t scale, int64_t lr_h, int64_t lr_w) {
  Reprojection r;
  const int64_t n = motion.size(0);
  if (!history.defined()) {
    r.valid = torch::zeros({n, 1, lr_h * scale, lr_w * scale}, motion.options().dtype(torch::kFloat32));
    r.valid_lr = torch::zeros({n, 1, lr_h, lr_w}, motion.options().dtype(torch::kFloat32));
    return r;
  }
  if (history.dim() != 4 || history.size(0) != n || history.size(2) != lr_h * scale || history.size(3) != lr_w * scale)
    throw Error("temporal history " + c10::str(history.sizes()) + " does not match the frame (" + std::to_string(n) + " x " +
                std::to_string(lr_h) + "x" + std::to_string(lr_w) + " at x" + std::to_string(scale) + ")");
  torch::Tensor m = motion.to(torch::kFloat32);
  torch::Tensor flow = m.repeat_interleave(scale, 2).repeat_interleave(scale, 3) * static_cast<double>(scale);
  r.warped = ops::warp_catmull_rom(history.to(torch::kFloat32), flow.contiguous());
  r.valid = inside(flow);
  r.valid_lr = inside(m);
  return r;
}

TemporalSrImpl::TemporalSrImpl(TemporalSrOptions o) : opt(o) {
  const int64_t s2 = opt.scale * opt.scale, out = s2 * (opt.history ? 4 : 3);
  body = torch::nn::Sequential();
  for (int64_t i = 0; i < opt.num_conv; ++i) {
    const int64_t cin = i == 0 ? in_channels() : opt.num_feat, cout = i + 1 == opt.num_conv ? out : opt.num_feat;
    body->push_back(nn::conv(cin, cout, 3));
    // LeakyReLU: with ReLU the last hidden layer of these narrow stacks died in training (all
    // units negative, the residual stuck at its bias; seen in the single-frame x2 run).
    if (i + 1 < opt.num_conv) body->push_back(torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2)));
  }
  register_module("body", body);
  // A small last layer: training starts near "blend half the history, no residual".
  torch::NoGradGuard ng;
  auto last = body->ptr<torch::nn::Conv2dImpl>(body->size() - 1);
  last->weight.mul_(0.1);
  last->bias.zero_();
}

int64_t TemporalSrImpl::in_channels() const { return opt.history ? 8 + 6 * opt.scale * opt.scale : 5; }

torch::Tensor TemporalSrImpl::forward(torch::Tensor x) { return body->forward(x); }

double TemporalSrImpl::macs_per_output_pixel() const {
  const double f = static_cast<double>(opt.num_feat), s2 = static_cast<double>(opt.scale * opt.scale);
  const double cin = static_cast<double>(in_channels()), cout = s2 * (opt.history ? 4 : 3);
  return 9.0 * (cin * f + static_cast<double>(opt.num_conv - 2) * f * f + f * cout) / s2;
}

torch::Tensor TemporalSrImpl::step(const TemporalFrame& frame, TemporalState& state) {
  check_frame(frame, opt.scale);
  const int64_t h = frame.lr.size(2), w = frame.lr.size(3), s = opt.scale;
  torch::Tensor lr = frame.lr.to(torch::kFloat32), jit = planes(frame.jitter, h, w);
  torch::Tensor up = unjittered_upsample(lr, frame.jitter, s);
  torch::Tensor out;
  if (!opt.history) {
    torch::Tensor y = torch::pixel_shuffle(run_body(*this, torch::cat({lr, jit}, 1)), s);
    out = up + y;
  } else {
    Reprojection rp = reproject(state.output, frame.motion, s, h, w);
    torch::Tensor warped = rp.warped.defined() ? rp.warped : up;
    torch::Tensor clamped = ops::history_clamp(warped, up, opt.clamp_radius);
    torch::Tensor x = torch::cat({lr, jit, frame.motion.to(torch::kFloat32), rp.valid_lr, torch::pixel_unshuffle(clamped, s),
                                  torch::pixel_unshuffle(warped, s)}, 1);
    torch::Tensor y = torch::pixel_shuffle(run_body(*this, x), s);
    torch::Tensor a = torch::sigmoid(y.narrow(1, 3, 1)) * rp.valid;
    out = a * clamped + (1 - a) * up + y.narrow(1, 0, 3);
  }
  state.output = out;
  return out;
}

torch::Tensor taa_step(const TemporalFrame& frame, TemporalState& state, int64_t scale, const TaaOptions& opt) {
  check_frame(frame, scale);
  torch::Tensor up = unjittered_upsample(frame.lr, frame.jitter, scale);
  Reprojection rp = reproject(state.output, frame.motion, scale, frame.lr.size(2), frame.lr.size(3));
  torch::Tensor out = up;
  if (rp.warped.defined()) {
    torch::Tensor a = rp.valid * opt.alpha;
    out = a * ops::history_clamp(rp.warped, up, opt.clamp_radius) + (1 - a) * up;
  }
  state.output = out;
  return out;
}

torch::Tensor upscale_frame(NetImpl& net, const TemporalFrame& frame, TemporalState& state) {
  if (auto* t = dynamic_cast<TemporalSrImpl*>(&net)) return t->step(frame, state);
  if (net.task() != "image_to_image" || net.scale() < 2)
    throw ConfigError("a " + net.type() + " network (task " + net.task() + ", x" + std::to_string(net.scale()) +
                      ") cannot upscale frames: use a temporal_sr network or an upscaler");
  check_frame(frame, net.scale());
  torch::Tensor out = run_body(net, frame.lr);
  state.output = out;
  return out;
}

double macs_per_output_pixel(const NetImpl& net) {
  if (auto* t = dynamic_cast<const TemporalSrImpl*>(&net)) return t->macs_per_output_pixel();
  if (auto* e = dynamic_cast<const EspcnImpl*>(&net)) {
    const auto& o = e->opt;
    const double s2 = static_cast<double>(o.scale * o.scale);
    return (25.0 * o.channels * o.feat1 + 9.0 * o.feat1 * o.feat2 + 9.0 * o.feat2 * o.channels * s2) / s2;
  }
  return -1;
}

void register_temporal_archs(ArchRegistry& r) {
  r.add("temporal_sr", [](Cfg& c) -> NetPtr { return std::make_shared<TemporalSrImpl>(read_options<TemporalSrOptions>(c)); },
        [] { return document_options<TemporalSrOptions>(); });
}

}  // namespace tessera::archs
