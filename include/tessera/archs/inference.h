// Running an image network on whole images, optionally in overlapping tiles (memory bounded).
#pragma once
#include "tessera/archs/net.h"

namespace tessera::archs {

struct TileOptions {
  int64_t tile = 0;      // LR tile side; 0 = whole image at once
  int64_t overlap = 16;  // LR context added on each side of a tile and cropped from its output
};

// lq: float [C,H,W] or [1,C,H,W] in [0,1]. Returns [C, H*s, W*s] (not clamped), no grad.
torch::Tensor run_image(NetImpl& net, const torch::Tensor& lq, const TileOptions& opt = {},
                        torch::Device device = torch::kCPU);

}  // namespace tessera::archs
