// libFuzzer harness: tessera::io::parse_flo (motion-vector files of frame sequences) on arbitrary
// bytes. A file parses to finite [2,H,W] vectors whose .flo bytes are the input again, or is
// refused with tessera::Error; anything else is a finding.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tessera/core/error.h"
#include "tessera/io/flow.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  torch::Tensor uv;
  try {
    uv = tessera::io::parse_flo(bytes, "fuzz.flo");
  } catch (const tessera::Error&) {
    return 0;
  }
  if (uv.dim() != 3 || uv.size(0) != 2 || uv.size(1) < 1 || uv.size(2) < 1) std::abort();
  if (!uv.isfinite().all().item<bool>()) std::abort();
  if (12 + 8 * static_cast<size_t>(uv.size(1) * uv.size(2)) != size) std::abort();
  // The vectors are the file's (u, v) pairs in order: row 0, column 0 first.
  float u, v;
  std::memcpy(&u, data + 12, 4);
  std::memcpy(&v, data + 16, 4);
  if (!(u == uv[0][0][0].item<float>() && v == uv[1][0][0].item<float>())) std::abort();
  return 0;
}
