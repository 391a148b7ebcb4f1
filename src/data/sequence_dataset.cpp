#include "tessera/data/sequence_dataset.h"

#include <algorithm>
#include <filesystem>

#include "tessera/core/error.h"

namespace tessera::data {

namespace fs = std::filesystem;
using torch::indexing::Slice;

std::vector<std::string> list_sequences(const std::string& dir) {
  if (!fs::is_directory(dir)) throw Error("sequence folder '" + dir + "' does not exist or is not a folder");
  if (fs::exists(fs::path(dir) / "sequence.yaml")) return {dir};
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_directory() || e.path().extension() == ".tmp") continue;
    if (fs::exists(e.path() / "sequence.yaml")) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  if (out.empty())
    throw Error("'" + dir + "' holds no sequence folders (folders with a sequence.yaml; `tessera sequences` makes them, docs/temporal.md)");
  return out;
}

bool holds_sequences(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return false;
  if (fs::exists(fs::path(dir) / "sequence.yaml")) return true;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory() && fs::exists(e.path() / "sequence.yaml")) return true;
  return false;
}

Batch transform_sequence(const Batch& sample, int code) {
  Batch out;
  for (const auto& [key, x] : sample) {
    torch::Tensor y = x;
    if (key == "jitter") {
      y = y.clone();
      if (code & 1) y.select(-1, 0).neg_();
      if (code & 2) y.select(-1, 1).neg_();
      if (code & 4) y = y.flip({-1}).contiguous();
      out[key] = y;
      continue;
    }
    if (code & 1) y = y.flip({-1});
    if (code & 2) y = y.flip({-2});
    if (code & 4) y = y.transpose(-1, -2);
    if (key == "motion") {
      y = y.clone();
      // [K, 2, h, w] with (dx, dy): a flip of x negates dx, of y negates dy; a transpose swaps them.
      if (code & 1) y.select(1, 0).neg_();
      if (code & 2) y.select(1, 1).neg_();
      if (code & 4) y = y.flip({1});
    }
    out[key] = y.contiguous();
  }
  return out;
}

SequenceFolderDataset::SequenceFolderDataset(SequenceFolderOptions opt) : opt_(std::move(opt)) {
  for (const auto& dir : list_sequences(opt_.dir)) {
    SequenceInfo info = read_sequence_info(dir);
    if (!info.has_hr) throw Error("sequence '" + dir + "' has no hr/ frames: training and validation need the targets");
    if (ratio_ == 0) ratio_ = info.ratio;
    if (info.ratio != ratio_)
      throw Error("sequence '" + dir + "' has ratio " + std::to_string(info.ratio) + " but '" + seqs_.front().dir + "' has " + std::to_string(ratio_) +
                  ": one dataset holds one upscaling ratio");
    if (opt_.frames > info.frames)
      throw ConfigError("sequence '" + dir + "' has " + std::to_string(info.frames) + " frames, fewer than frames: " + std::to_string(opt_.frames));
    if (opt_.patch_size > std::min(info.lr_width, info.lr_height))
      throw ConfigError("sequence '" + dir + "' is " + std::to_string(info.lr_width) + "x" + std::to_string(info.lr_height) +
                        " at low resolution, smaller than patch_size " + std::to_string(opt_.patch_size));
    disocclusion_ = disocclusion_ && info.has_disocclusion;
    const size_t s = seqs_.size();
    if (opt_.frames == 0) windows_.emplace_back(s, 0);
    else
      for (int64_t t = 0; t + opt_.frames <= info.frames; ++t) windows_.emplace_back(s, t);
    seqs_.push_back(std::move(info));
  }
}

Batch SequenceFolderDataset::get(size_t index, uint64_t seed) const {
  auto [s, first] = window(index);
  const SequenceInfo& info = seqs_[s];
  Sequence seq = read_sequence(info, first, opt_.frames == 0 ? -1 : opt_.frames);
  Batch b{{"lr", seq.lr}, {"hr", seq.hr}, {"motion", seq.motion}, {"jitter", seq.jitter.to(torch::kFloat32)}};
  if (disocclusion_) b["disocclusion"] = seq.disocclusion;
  if (opt_.patch_size > 0) {
    const int64_t p = opt_.patch_size, r = ratio_, h = info.lr_height, w = info.lr_width;
    const int64_t y = static_cast<int64_t>(seed % static_cast<uint64_t>(h - p + 1));
    const int64_t x = static_cast<int64_t>((seed >> 20) % static_cast<uint64_t>(w - p + 1));
    for (auto& [key, v] : b) {
      if (key == "jitter") continue;
      const int64_t k = key == "hr" ? r : 1;
      v = v.index({Slice(), Slice(), Slice(y * k, (y + p) * k), Slice(x * k, (x + p) * k)}).contiguous();
    }
  }
  int code = 0;
  const uint64_t bits = seed >> 40;
  if (opt_.hflip && (bits & 1)) code |= 1;
  if (opt_.vflip && (bits & 2)) code |= 2;
  if (opt_.rot90 && (bits & 4)) code |= 4;
  return code ? transform_sequence(b, code) : b;
}

std::string SequenceFolderDataset::describe() const {
  return "sequence_folder '" + opt_.dir + "' (" + std::to_string(seqs_.size()) + " sequences, " + std::to_string(windows_.size()) +
         " windows of " + (opt_.frames ? std::to_string(opt_.frames) : std::string("all")) + " frames, x" + std::to_string(ratio_) + ")";
}

}  // namespace tessera::data
