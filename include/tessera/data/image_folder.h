// Unlabelled image folders (content images for feed-forward style training): each image is resized
// so its shorter side is `size` (MATLAB bicubic, antialiased), then cropped to crop x crop (random
// positions for training, the centre for validation), with optional horizontal flips. Samples are
// {"image": [3, crop, crop] in [0, 1]}.
#pragma once
#include "tessera/core/options.h"
#include "tessera/data/dataset.h"

namespace tessera::data {

struct ImageFolderOptions {
  std::string dir;
  int64_t size = 256, crop = 256;  // pytorch/examples fast_neural_style: Resize(256), CenterCrop(256)
  bool random_crop = true, hflip = false;
  int64_t repeat = 1;
  bool skip_bad = false;
  template <class V>
  void visit(V& v) {
    v.required("dir", dir, "folder of images");
    v("size", size, "shorter side after resizing", 8, 1 << 14);
    if (!v.given("crop")) crop = size;
    v("crop", crop, "square crop side (default: size)", 8, 1 << 14);
    v("random_crop", random_crop, "random crops (false: centre crops)");
    v("hflip", hflip, "random horizontal flips");
    v("repeat", repeat, "times the folder is seen per epoch", 1, 1 << 20);
    v("skip_bad", skip_bad, "skip unreadable images (logged) instead of failing");
  }
  void check(Cfg& c) const;
};

class ImageFolderDataset : public Dataset {
 public:
  explicit ImageFolderDataset(ImageFolderOptions opt);
  size_t size() const override { return images_.size() * static_cast<size_t>(opt_.repeat); }
  Batch get(size_t index, uint64_t seed) const override;
  std::string describe() const override;
  // Centre crops of the first n images, stacked [n,3,crop,crop] (validation grids).
  torch::Tensor first(size_t n) const;

 private:
  ImageFolderOptions opt_;
  std::vector<std::string> files_;
  std::vector<torch::Tensor> images_;  // resized, uncropped
};

void register_image_folder_dataset(DatasetRegistry& r);

}  // namespace tessera::data
