// Super-resolution image folders: HR-only (LR made on the fly by MATLAB bicubic) or paired LR/HR.
#pragma once
#include "tessera/data/dataset.h"

namespace tessera::data {

struct SrFolderOptions {
  std::string hr_dir;
  std::string lr_dir;        // empty: LR = MATLAB bicubic of the HR image, rounded to its bit depth
  int64_t scale = 2;
  int64_t patch_size = 0;    // LR patch side; 0 = whole images (evaluation)
  bool hflip = false, vflip = false, rot90 = false;  // augmentations (dihedral group with all three)
  int64_t repeat = 1;        // the folder is seen `repeat` times per epoch (small sets, many patches)
  bool skip_bad = false;     // skip unreadable images (counted and logged) instead of failing
  bool cache = true;         // keep decoded images (and their LR) in memory

  static SrFolderOptions from_yaml(Cfg& cfg);
  YAML::Node to_yaml() const;
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
