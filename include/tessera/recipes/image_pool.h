// The history of generated images a CycleGAN discriminator learns from (Shrivastava et al. 2017;
// junyanz ImagePool): until it holds `size` images every new image is stored and returned; then
// each new image is, with probability 1/2, swapped for a random stored one (the stored one is
// returned, the new one kept), else returned as is. size 0 returns the batch unchanged. Random
// draws come from LibTorch's default CPU generator, which checkpoints save, and the stored images
// are saved too: a resumed run continues with the same pool and the same draws.
#pragma once
#include <torch/serialize.h>

#include <string>
#include <vector>

namespace tessera::recipes {

class ImagePool {
 public:
  explicit ImagePool(int64_t size) : size_(size) {}
  // `images` [N, C, H, W] (detached); returns a batch of the same shape.
  torch::Tensor query(const torch::Tensor& images);
  int64_t stored() const { return static_cast<int64_t>(images_.size()); }
  void save(torch::serialize::OutputArchive& ar, const std::string& name) const;
  void load(torch::serialize::InputArchive& ar, const std::string& name);

 private:
  int64_t size_;
  std::vector<torch::Tensor> images_;  // [C, H, W] each
};

}  // namespace tessera::recipes
