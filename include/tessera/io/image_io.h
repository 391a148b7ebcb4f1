// The one place images are read and written. Tensors are float32 CHW RGB in [0, 1]; OpenCV's BGR
// order never leaks out. 8- and 16-bit files are supported; gray images are expanded to RGB; an
// alpha channel is kept apart (Image::alpha) for the commands that carry it through.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::io {

struct Image {
  torch::Tensor rgb;  // float32 [3, H, W] in [0, 1]
  int bit_depth = 8;  // 8 or 16: what the file held
  torch::Tensor alpha;  // float32 [1, H, W] in [0, 1] when the file has an alpha channel, else undefined
};

// Throws tessera::Error naming the file when it is missing, unreadable or corrupt.
Image read_image(const std::string& path);
// The same for the bytes of an image file; `source` names it in errors. The size the header
// declares is checked against max_image_pixels() before a decoder allocates for it.
Image decode_image(std::string bytes, const std::string& source);
// The most pixels (width x height, and a TIFF's tile or strip) an image file may declare:
// $TESSERA_MAX_IMAGE_PIXELS, or 2^27 (16384 x 8192; decoding holds about 30 bytes a pixel at once). A value that is not a positive whole number is a ConfigError naming it.
uint64_t max_image_pixels();
// Writes float [3,H,W] (values clamped to [0,1], rounded) to 8 bits, or 16 bits where the format
// allows (png, tiff) and bit_depth == 16. Atomic.
// With `alpha` ([1,H,W]), formats with an alpha channel (png, tiff, webp) get RGBA; others cannot
// hold it, and the caller is told by supports_alpha() first.
void write_image(const std::string& path, const torch::Tensor& rgb, int bit_depth = 8, const torch::Tensor& alpha = {});
bool supports_alpha(const std::string& path);
// PNG bytes of a float [3,H,W] image (for TensorBoard).
std::string encode_png(const torch::Tensor& rgb);

// Image files in `dir` (png, jpg, jpeg, bmp, tif, tiff, webp, ppm), sorted by name.
std::vector<std::string> list_images(const std::string& dir);
bool is_image_file(const std::string& path);

// RGB -> one luma channel (ITU-R BT.601 weights, as OpenCV's RGB2GRAY), on dim -3 of [3,H,W] or [N,3,H,W].
torch::Tensor rgb_to_gray(const torch::Tensor& rgb);

// Full-range BT.601 YCbCr (JPEG's), all three in [0, 1] (Cb, Cr centred on 0.5), on dim -3.
torch::Tensor rgb_to_ycbcr(const torch::Tensor& rgb);
torch::Tensor ycbcr_to_rgb(const torch::Tensor& ycc);

// float [0,1] -> values on the 2^bits-1 grid (what saving and reloading would give).
torch::Tensor quantize(const torch::Tensor& x, int bit_depth = 8);

}  // namespace tessera::io
