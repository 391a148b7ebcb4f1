#include "tessera/io/flow.h"

#include <cstring>
#include <filesystem>

#include "tessera/core/error.h"
#include "tessera/io/files.h"

namespace tessera::io {

static constexpr float kFloTag = 202021.25f;
static constexpr int64_t kMaxSide = 1 << 15;

torch::Tensor parse_flo(const std::string& bytes, const std::string& source) {
  const std::string what = "motion-vector file '" + source + "'";
  if (bytes.size() < 12) throw Error(what + " is " + std::to_string(bytes.size()) + " bytes: too short for a .flo header (12 bytes)");
  float tag;
  int32_t w, h;
  std::memcpy(&tag, bytes.data(), 4);
  std::memcpy(&w, bytes.data() + 4, 4);
  std::memcpy(&h, bytes.data() + 8, 4);
  if (tag != kFloTag) throw Error(what + " is not a .flo file (its first 4 bytes are not the tag 202021.25, \"PIEH\")");
  if (w <= 0 || h <= 0 || w > kMaxSide || h > kMaxSide)
    throw Error(what + " declares " + std::to_string(w) + "x" + std::to_string(h) + " vectors; each side must be 1.." + std::to_string(kMaxSide));
  const uint64_t want = 12 + 8ull * static_cast<uint64_t>(w) * static_cast<uint64_t>(h);
  if (bytes.size() != want)
    throw Error(what + " declares " + std::to_string(w) + "x" + std::to_string(h) + " vectors (" + std::to_string(want) +
                " bytes) but holds " + std::to_string(bytes.size()) + " bytes");
  torch::Tensor hw2 = torch::empty({h, w, 2}, torch::kFloat32);
  std::memcpy(hw2.data_ptr<float>(), bytes.data() + 12, want - 12);
  if (!hw2.isfinite().all().item<bool>()) throw Error(what + " holds non-finite motion vectors (NaN or inf)");
  return hw2.permute({2, 0, 1}).contiguous();
}

torch::Tensor read_flo(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw Error("motion-vector file '" + path + "' does not exist");
  return parse_flo(read_file(path), path);
}

void write_flo(const std::string& path, const torch::Tensor& uv) {
  TORCH_CHECK(uv.dim() == 3 && uv.size(0) == 2, "motion vectors must be [2,H,W], got ", uv.sizes());
  const int32_t h = static_cast<int32_t>(uv.size(1)), w = static_cast<int32_t>(uv.size(2));
  torch::Tensor hw2 = uv.detach().to(torch::kCPU, torch::kFloat32).permute({1, 2, 0}).contiguous();
  std::string out(12 + 8ull * w * h, '\0');
  std::memcpy(out.data(), &kFloTag, 4);
  std::memcpy(out.data() + 4, &w, 4);
  std::memcpy(out.data() + 8, &h, 4);
  std::memcpy(out.data() + 12, hw2.data_ptr<float>(), 8ull * w * h);
  write_file_atomic(path, out);
}

}  // namespace tessera::io
