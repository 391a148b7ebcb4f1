// Motion-vector files in the Middlebury .flo format (Baker et al. 2011), which optical-flow tools
// and renderers' exporters already write: the float32 tag 202021.25 ("PIEH"), int32 width and
// height, then width*height (u, v) float32 pairs row by row, little-endian.
#pragma once
#include <torch/types.h>

#include <string>

namespace tessera::io {

// float32 [2,H,W] (u = dx, v = dy) from the bytes of a .flo file; `source` names it in errors.
// Refuses a wrong tag, sizes that disagree with the file's length, and non-finite values.
torch::Tensor parse_flo(const std::string& bytes, const std::string& source);
torch::Tensor read_flo(const std::string& path);
// Writes float [2,H,W] atomically.
void write_flo(const std::string& path, const torch::Tensor& uv);

}  // namespace tessera::io
