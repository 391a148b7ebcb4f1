#include "tessera/archs/inference.h"

#include <spdlog/spdlog.h>

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

torch::Tensor run_image(NetImpl& net, const torch::Tensor& lq_in, const TileOptions& opt, torch::Device device) {
  torch::NoGradGuard ng;
  torch::Tensor lq = lq_in.dim() == 3 ? lq_in.unsqueeze(0) : lq_in;
  const int64_t s = net.scale(), h = lq.size(2), w = lq.size(3);
  if (opt.tile <= 0 || (opt.tile >= h && opt.tile >= w)) return net.forward(lq.to(device)).to(torch::kCPU)[0];
  torch::Tensor out = torch::empty({lq.size(1), h * s, w * s});  // SR nets keep the channel count
  const int64_t total = ((h + opt.tile - 1) / opt.tile) * ((w + opt.tile - 1) / opt.tile);
  int64_t done = 0;
  for (int64_t y0 = 0; y0 < h; y0 += opt.tile) {
    for (int64_t x0 = 0; x0 < w; x0 += opt.tile) {
      const int64_t y1 = std::min(h, y0 + opt.tile), x1 = std::min(w, x0 + opt.tile);
      const int64_t py0 = std::max<int64_t>(0, y0 - opt.overlap), px0 = std::max<int64_t>(0, x0 - opt.overlap);
      const int64_t py1 = std::min(h, y1 + opt.overlap), px1 = std::min(w, x1 + opt.overlap);
      torch::Tensor tile = lq.index({Slice(), Slice(), Slice(py0, py1), Slice(px0, px1)}).to(device);
      torch::Tensor o = net.forward(tile).to(torch::kCPU)[0];
      out.index_put_({Slice(), Slice(y0 * s, y1 * s), Slice(x0 * s, x1 * s)},
                     o.index({Slice(), Slice((y0 - py0) * s, (y1 - py0) * s), Slice((x0 - px0) * s, (x1 - px0) * s)}));
      if (opt.progress) opt.progress(++done, total);
    }
  }
  return out;
}

}  // namespace tessera::archs
