#include "tessera/archs/inference.h"

#include <spdlog/spdlog.h>

#include <cmath>

#include "tessera/core/runtime.h"

namespace tessera::archs {

using torch::indexing::Slice;

TileOptions checked_tiles(const NetImpl& net, int64_t tile, int64_t overlap, const std::string& tile_key, const std::string& overlap_key) {
  TileOptions t;
  if (tile < 0) throw ConfigError(tile_key + " " + std::to_string(tile) + ": must be 0 (whole images) or a tile side >= " + std::to_string(kMinTile));
  if (tile > 0 && tile < kMinTile)
    throw ConfigError(tile_key + " " + std::to_string(tile) + ": tiles under " + std::to_string(kMinTile) +
                      " pixels spend more on overlap than they save; use 0 (whole images) or >= " + std::to_string(kMinTile));
  if (overlap < -1) throw ConfigError(overlap_key + " " + std::to_string(overlap) + ": must be >= 0");
  const int64_t radius = net.receptive_radius();
  if (tile > 0 && radius < 0)
    throw ConfigError(tile_key + ": " + net.type() + " normalises over the whole image, so tiles cannot match whole-image "
                      "inference; run it without tiles");
  t.tile = tile;
  t.overlap = overlap >= 0 ? overlap : std::max<int64_t>(radius, 0);
  if (tile > 0 && t.overlap < radius)
    spdlog::warn("{} {} is less than the receptive radius of {} ({} pixels): tile seams will differ from whole-image inference",
                 overlap_key, t.overlap, net.type(), radius);
  return t;
}

void to_channels_last(NetImpl& net) {
  torch::NoGradGuard ng;
  for (auto& p : net.parameters())
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
}

TileOptions prepare_for_inference(NetImpl& net, TileOptions tiles, bool channels_last, bool bf16) {
  net.eval();
  torch::NoGradGuard ng;
  if (bf16) {
    const auto params = net.parameters();
    if ((params.empty() || params[0].device().is_cpu()) && !cpu_features().onednn_bf16)
      spdlog::warn("bf16 on this CPU ({}) runs on ATen's reference convolutions: it lacks the instructions of oneDNN's bf16 "
                   "kernels (AVX-512 BW/VL/DQ or AVX-NE-CONVERT), so expect it to be slower than fp32",
                   cpu_features().model);
    net.to(torch::kBFloat16);
    tiles.dtype = torch::kBFloat16;
  }
  if (channels_last) {
    to_channels_last(net);
    tiles.channels_last = true;
  }
  return tiles;
}

int64_t auto_tile(const NetImpl& net, int64_t h, int64_t w, const TileOptions& opt, double budget_bytes) {
  if (net.receptive_radius() < 0) return 0;
  // The widest activation per input pixel: the most output channels of any convolution (a
  // pixel-shuffled stage holds the same bytes at the higher resolution), times the three tensors a
  // residual layer keeps alive (its input, its output and the skip).
  int64_t widest = 1;
  for (const auto& p : net.parameters())
    if (p.dim() == 4) widest = std::max<int64_t>(widest, p.size(0));
  const double per_pixel = 3.0 * static_cast<double>(widest) * static_cast<double>(c10::elementSize(opt.dtype));
  if (static_cast<double>(h) * static_cast<double>(w) * per_pixel <= budget_bytes) return 0;
  const int64_t side = static_cast<int64_t>(std::sqrt(budget_bytes / per_pixel)) - 2 * opt.overlap;
  return std::max<int64_t>({side, kMinTile, 2 * opt.overlap});
}

torch::Tensor run_image(NetImpl& net, const torch::Tensor& lq_in, const TileOptions& opt, torch::Device device) {
  c10::InferenceMode inference;
  torch::Tensor lq = lq_in.dim() == 3 ? lq_in.unsqueeze(0) : lq_in;
  const int64_t s = net.scale(), h = lq.size(2), w = lq.size(3);
  const int64_t m = net.size_multiple();
  auto forward = [&](const torch::Tensor& x) {
    torch::Tensor in = x.to(device, opt.dtype);
    // Sides the network cannot take are reflect-padded up to its multiple and cropped back after.
    const int64_t xh = in.size(2), xw = in.size(3), ph = (m - xh % m) % m, pw = (m - xw % m) % m;
    if (ph || pw) {
      namespace F = torch::nn::functional;
      auto pad = F::PadFuncOptions({0, pw, 0, ph});
      if (ph < xh && pw < xw) pad.mode(torch::kReflect);
      else pad.mode(torch::kReplicate);
      in = F::pad(in, pad);
    }
    if (opt.channels_last) in = in.contiguous(torch::MemoryFormat::ChannelsLast);
    torch::Tensor y = net.forward(in);
    if (ph || pw) y = y.index({Slice(), Slice(), Slice(0, xh * s), Slice(0, xw * s)});
    return y.to(torch::kCPU, torch::kFloat32).contiguous();
  };
  if (opt.tile <= 0 || (opt.tile >= h && opt.tile >= w)) return forward(lq)[0];
  torch::Tensor out = torch::empty({lq.size(1), h * s, w * s});  // SR nets keep the channel count
  const int64_t total = ((h + opt.tile - 1) / opt.tile) * ((w + opt.tile - 1) / opt.tile);
  int64_t done = 0;
  for (int64_t y0 = 0; y0 < h; y0 += opt.tile) {
    for (int64_t x0 = 0; x0 < w; x0 += opt.tile) {
      const int64_t y1 = std::min(h, y0 + opt.tile), x1 = std::min(w, x0 + opt.tile);
      const int64_t py0 = std::max<int64_t>(0, y0 - opt.overlap), px0 = std::max<int64_t>(0, x0 - opt.overlap);
      const int64_t py1 = std::min(h, y1 + opt.overlap), px1 = std::min(w, x1 + opt.overlap);
      torch::Tensor o = forward(lq.index({Slice(), Slice(), Slice(py0, py1), Slice(px0, px1)}))[0];
      out.index_put_({Slice(), Slice(y0 * s, y1 * s), Slice(x0 * s, x1 * s)},
                     o.index({Slice(), Slice((y0 - py0) * s, (y1 - py0) * s), Slice((x0 - px0) * s, (x1 - px0) * s)}));
      if (opt.progress) opt.progress(++done, total);
    }
  }
  return out;
}

}  // namespace tessera::archs
