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

// Two folders of unpaired images (CycleGAN's unaligned dataset): each image resized to
// load_size x load_size (MATLAB bicubic; junyanz's resize_and_crop), then a crop x crop crop
// (random for training, the centre otherwise) and independent random horizontal flips. Sample i
// pairs A image i with a B image drawn from the sample's seed (junyanz: a random B, not B[i]), so
// the two domains are never aligned. Epoch: max(|A|, |B|) x repeat samples {"a", "b"}, each
// [3, crop, crop] in [0, 1].
struct UnpairedFolderOptions {
  std::string a_dir, b_dir;
  int64_t load_size = 286, crop = 256;  // junyanz defaults
  bool random_crop = true, hflip = true;
  int64_t repeat = 1;
  bool skip_bad = false;
  template <class V>
  void visit(V& v) {
    v.required("a_dir", a_dir, "folder of domain A images");
    v.required("b_dir", b_dir, "folder of domain B images");
    v("load_size", load_size, "side of the square the images are resized to", 8, 1 << 14);
    if (!v.given("crop")) crop = std::min<int64_t>(crop, load_size);
    v("crop", crop, "square crop side", 8, 1 << 14);
    v("random_crop", random_crop, "random crops (false: centre crops)");
    v("hflip", hflip, "random horizontal flips (junyanz --no_flip turns them off)");
    v("repeat", repeat, "times the folders are seen per epoch", 1, 1 << 20);
    v("skip_bad", skip_bad, "skip unreadable images (logged) instead of failing");
  }
  void check(Cfg& c) const;
};

class UnpairedFolderDataset : public Dataset {
 public:
  explicit UnpairedFolderDataset(UnpairedFolderOptions opt);
  size_t size() const override { return std::max(a_.size(), b_.size()) * static_cast<size_t>(opt_.repeat); }
  Batch get(size_t index, uint64_t seed) const override;
  std::string describe() const override;
  // Centre crops of the first n images of each domain, stacked [n, 3, crop, crop] (validation).
  std::pair<torch::Tensor, torch::Tensor> first(size_t n) const;
  int64_t crop() const { return opt_.crop; }
  size_t count_a() const { return a_.size(); }
  size_t count_b() const { return b_.size(); }

 private:
  UnpairedFolderOptions opt_;
  std::vector<torch::Tensor> a_, b_;  // resized, uncropped
};

void register_image_folder_dataset(DatasetRegistry& r);

}  // namespace tessera::data
