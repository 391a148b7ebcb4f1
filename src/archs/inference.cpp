#include "tessera/archs/inference.h"

namespace tessera::archs {

using torch::indexing::Slice;

torch::Tensor run_image(NetImpl& net, const torch::Tensor& lq_in, const TileOptions& opt, torch::Device device) {
  torch::NoGradGuard ng;
  torch::Tensor lq = lq_in.dim() == 3 ? lq_in.unsqueeze(0) : lq_in;
  const int64_t s = net.scale(), h = lq.size(2), w = lq.size(3);
  if (opt.tile <= 0 || (opt.tile >= h && opt.tile >= w)) return net.forward(lq.to(device)).to(torch::kCPU)[0];
  torch::Tensor out = torch::empty({lq.size(1), h * s, w * s});  // SR nets keep the channel count
  for (int64_t y0 = 0; y0 < h; y0 += opt.tile) {
    for (int64_t x0 = 0; x0 < w; x0 += opt.tile) {
      const int64_t y1 = std::min(h, y0 + opt.tile), x1 = std::min(w, x0 + opt.tile);
      const int64_t py0 = std::max<int64_t>(0, y0 - opt.overlap), px0 = std::max<int64_t>(0, x0 - opt.overlap);
      const int64_t py1 = std::min(h, y1 + opt.overlap), px1 = std::min(w, x1 + opt.overlap);
      torch::Tensor tile = lq.index({Slice(), Slice(), Slice(py0, py1), Slice(px0, px1)}).to(device);
      torch::Tensor o = net.forward(tile).to(torch::kCPU)[0];
      out.index_put_({Slice(), Slice(y0 * s, y1 * s), Slice(x0 * s, x1 * s)},
                     o.index({Slice(), Slice((y0 - py0) * s, (y1 - py0) * s), Slice((x0 - px0) * s, (x1 - px0) * s)}));
    }
  }
  return out;
}

}  // namespace tessera::archs
