// Super-resolution image folders: HR-only (LR made on the fly by MATLAB bicubic) or paired LR/HR.
#pragma once
#include "tessera/core/options.h"
#include "tessera/data/dataset.h"

namespace tessera::data {

struct SrFolderOptions {
  std::string hr_dir, lr_dir;
  int64_t scale = 2, patch_size = 0, repeat = 1;
  bool hflip = false, vflip = false, rot90 = false, skip_bad = false, cache = true;
  template <class V>
  void visit(V& v) {
    v.required("hr_dir", hr_dir, "folder of HR images");
    v("lr_dir", lr_dir, "folder of matching LR images (empty: MATLAB bicubic of the HR, rounded to its bit depth)");
    v("scale", scale, "upscale factor", 1, 8);
    v("patch_size", patch_size, "LR patch side (0: whole images, for evaluation)", 0, 4096);
    v("hflip", hflip, "random horizontal flips");
    v("vflip", vflip, "random vertical flips");
    v("rot90", rot90, "random transposes (with both flips: the whole dihedral group)");
    v("repeat", repeat, "times the folder is seen per epoch (small sets, many patches)", 1, 1000000);
    v("skip_bad", skip_bad, "skip unreadable images (counted and logged) instead of failing");
    v("cache", cache, "keep decoded images (and their LR) in memory");
  }
};

class SrFolderDataset : public Dataset {
 public:
  explicit SrFolderDataset(SrFolderOptions opt);
  size_t size() const override { return images_.size() * static_cast<size_t>(opt_.repeat); }
  Batch get(size_t index, uint64_t seed) const override;
  std::string describe() const override;
  size_t skipped() const { return skipped_; }
  const std::vector<std::string>& files() const { return files_; }
  int64_t scale() const { return opt_.scale; }
  int64_t patch_size() const { return opt_.patch_size; }  // LR side; 0: whole images
  // The (lq, gt) pair of image i, whole, without augmentation.
  std::pair<torch::Tensor, torch::Tensor> pair(size_t i) const;

 private:
  std::pair<torch::Tensor, torch::Tensor> load(size_t i) const;
  SrFolderOptions opt_;
  std::vector<std::string> files_, lr_files_;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> images_;  // cached (lq, gt) or empty tensors
  size_t skipped_ = 0;
};

// Applies the dihedral augmentation chosen by `code` (bit 0 hflip, bit 1 vflip, bit 2 transpose).
torch::Tensor dihedral(const torch::Tensor& x, int code);

}  // namespace tessera::data
