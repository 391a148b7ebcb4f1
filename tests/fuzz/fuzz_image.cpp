// libFuzzer harness: tessera::io::decode_image (OpenCV's decoders behind tessera's checks) on
// arbitrary bytes. An image decodes to [3,H,W] in [0,1] (alpha [1,H,W]) or is refused with
// tessera::Error; anything else is a finding.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "tessera/core/error.h"
#include "tessera/io/image_io.h"

// Headers may declare up to 2048 x 2048 pixels here (the product's default is 2^28), so that what a
// decoder allocates for an accepted header stays far below the campaign's -rss_limit_mb.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("TESSERA_MAX_IMAGE_PIXELS", "4194304", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tessera::io::Image img;
  try {
    img = tessera::io::decode_image(std::string(reinterpret_cast<const char*>(data), size), "fuzz.img");
  } catch (const tessera::Error&) {
    return 0;
  }
  const auto& x = img.rgb;
  if (x.dim() != 3 || x.size(0) != 3 || x.size(1) < 1 || x.size(2) < 1) std::abort();
  if (x.min().item<float>() < 0.f || x.max().item<float>() > 1.f) std::abort();
  if (img.bit_depth != 8 && img.bit_depth != 16) std::abort();
  if (img.alpha.defined() && (img.alpha.dim() != 3 || img.alpha.size(0) != 1 || img.alpha.size(1) != x.size(1) ||
                              img.alpha.size(2) != x.size(2)))
    std::abort();
  return 0;
}
