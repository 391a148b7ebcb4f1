// Super-resolution image folders: HR-only (LR made on the fly by MATLAB bicubic) or paired LR/HR.
#pragma once
#include <tuple>

#include "tessera/core/options.h"
#include "tessera/data/dataset.h"

namespace tessera::data {

struct SrFolderOptions {
  std::string hr_dir, lr_dir, degrade = "loader";
  int64_t scale = 2, patch_size = 0, repeat = 1;
  bool hflip = false, vflip = false, rot90 = false, skip_bad = false, cache = true;
  template <class V>
  void visit(V& v) {
    v.required("hr_dir", hr_dir, "folder of HR images");
    v("lr_dir", lr_dir, "folder of matching LR images (empty: MATLAB bicubic of the HR, rounded to its bit depth)");
    v.choice("degrade", degrade,
             "where HR-only data gets its LR: loader (each whole image once, patches cropped from it) or device (each HR "
             "patch, batched on the training device by the recipe; needs patch_size and no lr_dir)",
             {"loader", "device"});
    v("scale", scale, "upscale factor", 1, 8);
    v("patch_size", patch_size, "LR patch side (0: whole images, for evaluation)", 0, 4096);
    v("hflip", hflip, "random horizontal flips");
    v("vflip", vflip, "random vertical flips");
    v("rot90", rot90, "random transposes (with both flips: the whole dihedral group)");
    v("repeat", repeat, "times the folder is seen per epoch (small sets, many patches)", 1, 1000000);
    v("skip_bad", skip_bad, "skip unreadable images (counted and logged) instead of failing");
    v("cache", cache, "keep decoded images (and their LR) in memory");
  }
  void check(Cfg& c) const;
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
  bool degrades_on_device() const { return opt_.degrade == "device"; }
  // The (lq, gt) pair of image i, whole, without augmentation (the LR made here whatever `degrade` says).
  std::pair<torch::Tensor, torch::Tensor> pair(size_t i) const;

 private:
  // (lq, gt, bit depth); lq is left undefined when `with_lq` is false.
  std::tuple<torch::Tensor, torch::Tensor, int> load(size_t i, bool with_lq) const;
  std::tuple<torch::Tensor, torch::Tensor, int> hr(size_t i) const;  // cached or loaded without making its LR
  SrFolderOptions opt_;
  std::vector<std::string> files_, lr_files_;
  std::vector<std::tuple<torch::Tensor, torch::Tensor, int>> images_;  // cached (lq, gt, bit depth), or empty tensors
  size_t skipped_ = 0;
};

// Applies the dihedral augmentation chosen by `code` (bit 0 hflip, bit 1 vflip, bit 2 transpose).
torch::Tensor dihedral(const torch::Tensor& x, int code);

// The LR input of an SR batch on `device`: its "lq", or, for `degrade: device` data (HR patches
// "gt" with their "levels", 255 or 65535), the MATLAB bicubic of the HR patches by 1/scale computed
// on `device` (tessera::imresize_bicubic) and rounded to each image's levels, as the loader rounds.
torch::Tensor sr_input(const Batch& batch, int64_t scale, torch::Device device);

}  // namespace tessera::data
