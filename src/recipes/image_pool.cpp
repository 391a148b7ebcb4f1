#include "tessera/recipes/image_pool.h"

#include "tessera/core/error.h"

namespace tessera::recipes {

torch::Tensor ImagePool::query(const torch::Tensor& images) {
  if (size_ == 0) return images;
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < images.size(0); ++i) {
    torch::Tensor img = images[i].detach().clone();
    if (stored() < size_) {
      images_.push_back(img);
      out.push_back(img);
    } else if (torch::rand({1}).item<double>() > 0.5) {
      const int64_t k = torch::randint(0, size_, {1}).item<int64_t>();
      out.push_back(images_[k].to(images.device()));
      images_[k] = img;
    } else {
      out.push_back(img);
    }
  }
  return torch::stack(out);
}

void ImagePool::save(torch::serialize::OutputArchive& ar, const std::string& name) const {
  ar.write(name + ".count", torch::tensor({stored()}, torch::kInt64), true);
  if (!images_.empty()) ar.write(name + ".images", torch::stack(images_), true);
}

void ImagePool::load(torch::serialize::InputArchive& ar, const std::string& name) {
  torch::Tensor count, stack;
  ar.read(name + ".count", count, true);
  images_.clear();
  const int64_t n = count.item<int64_t>();
  if (n > size_) throw Error("checkpoint: image pool '" + name + "' holds " + std::to_string(n) + " images but the pool size is " + std::to_string(size_));
  if (n == 0) return;
  ar.read(name + ".images", stack, true);
  for (int64_t i = 0; i < n; ++i) images_.push_back(stack[i].clone());
}

}  // namespace tessera::recipes
