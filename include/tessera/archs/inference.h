// Running an image network on whole images, optionally in overlapping tiles (memory bounded).
#pragma once
#include <functional>
#include <string>

#include "tessera/archs/net.h"

namespace tessera::archs {

struct TileOptions {
  int64_t tile = 0;      // LR tile side; 0 = whole image at once
  int64_t overlap = 16;  // LR context added on each side of a tile and cropped from its output
  std::function<void(int64_t done, int64_t total)> progress = {};  // called after each tile
  // Inputs in channels-last layout (set with prepare_for_inference, which converts the weights).
  bool channels_last = false;
  // Inputs cast to the weights' dtype (bf16 after prepare_for_inference with bf16); outputs float.
  torch::ScalarType dtype = torch::kFloat32;
};

// Puts every 4-D parameter (convolution weights) in channels-last layout, in place; activations
// follow (ATen's convolutions pick channels-last when the weight is). Training works as before.
void to_channels_last(NetImpl& net);

// Readies a network for deployment-style inference: eval mode, weights of 4-D parameters in
// channels-last layout (oneDNN's fast convolution path on CPU, tensor cores on GPU), optionally
// cast to bf16. Returns the options run_image needs to feed it. The network is no longer fit for
// training afterwards.
TileOptions prepare_for_inference(NetImpl& net, TileOptions tiles, bool channels_last, bool bf16);

// Tiles no smaller than this: below it the overlap costs more than the tile saves.
constexpr int64_t kMinTile = 16;
// Tile options checked against the network: tile 0 or >= kMinTile, overlap >= 0 (-1: the network's
// receptive radius, so tiles match whole-image inference), no tiling for networks whose outputs
// depend on the whole image. `tile_key`/`overlap_key` name the option in errors; a smaller overlap
// than the receptive radius is allowed with a warning.
TileOptions checked_tiles(const NetImpl& net, int64_t tile, int64_t overlap, const std::string& tile_key = "--tile",
                          const std::string& overlap_key = "--overlap");

// The tile side `--tile auto` picks for an h x w input: 0 (whole image) unless the widest
// activations of the whole image would pass the memory budget, else the largest tile within it.
// Networks that cannot be tiled (receptive radius -1) always get 0.
int64_t auto_tile(const NetImpl& net, int64_t h, int64_t w, const TileOptions& opt, double budget_bytes = 4.0 * (1 << 30));

// lq: float [C,H,W] or [1,C,H,W] in [0,1]. Returns [C, H*s, W*s] (not clamped), no grad.
torch::Tensor run_image(NetImpl& net, const torch::Tensor& lq, const TileOptions& opt = {},
                        torch::Device device = torch::kCPU);

}  // namespace tessera::archs
