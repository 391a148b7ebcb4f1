#include "tessera/data/image_folder.h"

#include <spdlog/spdlog.h>

#include "tessera/data/resize.h"
#include "tessera/io/image_io.h"

namespace tessera::data {

using torch::indexing::Slice;

void ImageFolderOptions::check(Cfg& c) const {
  if (crop > size) c.fail("crop", "must be at most size (" + std::to_string(size) + ")");
}

ImageFolderDataset::ImageFolderDataset(ImageFolderOptions opt) : opt_(std::move(opt)) {
  for (const auto& f : io::list_images(opt_.dir)) {
    try {
      torch::Tensor img = io::read_image(f).rgb;
      const int64_t h = img.size(1), w = img.size(2);
      const double s = static_cast<double>(opt_.size) / static_cast<double>(std::min(h, w));
      const int64_t oh = std::max(opt_.size, static_cast<int64_t>(std::llround(h * s))), ow = std::max(opt_.size, static_cast<int64_t>(std::llround(w * s)));
      images_.push_back(imresize_bicubic(img, oh, ow).clamp(0, 1).contiguous());
      files_.push_back(f);
    } catch (const Error& e) {
      if (!opt_.skip_bad) throw;
      spdlog::warn("skipping bad image: {}", e.what());
    }
  }
  if (images_.empty()) throw Error("image folder '" + opt_.dir + "' holds no readable images");
}

Batch ImageFolderDataset::get(size_t index, uint64_t seed) const {
  const torch::Tensor& img = images_[index % images_.size()];
  const int64_t c = opt_.crop, h = img.size(1), w = img.size(2);
  int64_t y = (h - c) / 2, x = (w - c) / 2;
  if (opt_.random_crop) {
    y = static_cast<int64_t>(seed % static_cast<uint64_t>(h - c + 1));
    x = static_cast<int64_t>((seed >> 20) % static_cast<uint64_t>(w - c + 1));
  }
  torch::Tensor out = img.index({Slice(), Slice(y, y + c), Slice(x, x + c)});
  if (opt_.hflip && ((seed >> 40) & 1)) out = out.flip({-1});
  return {{"image", out.contiguous()}};
}

torch::Tensor ImageFolderDataset::first(size_t n) const {
  std::vector<torch::Tensor> v;
  for (size_t i = 0; i < std::min(n, images_.size()); ++i) {
    const torch::Tensor& img = images_[i];
    const int64_t c = opt_.crop, y = (img.size(1) - c) / 2, x = (img.size(2) - c) / 2;
    v.push_back(img.index({Slice(), Slice(y, y + c), Slice(x, x + c)}));
  }
  return torch::stack(v);
}

std::string ImageFolderDataset::describe() const {
  return "image_folder '" + opt_.dir + "' (" + std::to_string(images_.size()) + " images, " + std::to_string(opt_.crop) + " px " +
         (opt_.random_crop ? "random" : "centre") + " crops)";
}

void register_image_folder_dataset(DatasetRegistry& r) {
  r.add("image_folder", [](Cfg& c) -> DatasetPtr { return std::make_shared<ImageFolderDataset>(read_options<ImageFolderOptions>(c)); },
        [] { return document_options<ImageFolderOptions>(); });
}

}  // namespace tessera::data
