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

void UnpairedFolderOptions::check(Cfg& c) const {
  if (crop > load_size) c.fail("crop", "must be at most load_size (" + std::to_string(load_size) + ")");
}

namespace {

std::vector<torch::Tensor> load_square(const std::string& dir, int64_t side, bool skip_bad) {
  std::vector<torch::Tensor> out;
  for (const auto& f : io::list_images(dir)) {
    try {
      out.push_back(imresize_bicubic(io::read_image(f).rgb, side, side).clamp(0, 1).contiguous());
    } catch (const Error& e) {
      if (!skip_bad) throw;
      spdlog::warn("skipping bad image: {}", e.what());
    }
  }
  if (out.empty()) throw Error("image folder '" + dir + "' holds no readable images");
  return out;
}

torch::Tensor crop_flip(const torch::Tensor& img, int64_t c, bool random_crop, bool hflip, uint64_t bits) {
  const int64_t h = img.size(1), w = img.size(2);
  int64_t y = (h - c) / 2, x = (w - c) / 2;
  if (random_crop) {
    y = static_cast<int64_t>(bits % static_cast<uint64_t>(h - c + 1));
    x = static_cast<int64_t>((bits >> 16) % static_cast<uint64_t>(w - c + 1));
  }
  torch::Tensor out = img.index({Slice(), Slice(y, y + c), Slice(x, x + c)});
  if (hflip && ((bits >> 32) & 1)) out = out.flip({-1});
  return out.contiguous();
}

// splitmix64: independent bits for A's crop, B's choice and B's crop from one sample seed.
uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

UnpairedFolderDataset::UnpairedFolderDataset(UnpairedFolderOptions opt) : opt_(std::move(opt)) {
  a_ = load_square(opt_.a_dir, opt_.load_size, opt_.skip_bad);
  b_ = load_square(opt_.b_dir, opt_.load_size, opt_.skip_bad);
}

Batch UnpairedFolderDataset::get(size_t index, uint64_t seed) const {
  const uint64_t s1 = mix(seed), s2 = mix(s1), s3 = mix(s2);
  const torch::Tensor& a = a_[index % a_.size()];
  const torch::Tensor& b = b_[s2 % b_.size()];
  return {{"a", crop_flip(a, opt_.crop, opt_.random_crop, opt_.hflip, s1)}, {"b", crop_flip(b, opt_.crop, opt_.random_crop, opt_.hflip, s3)}};
}

std::pair<torch::Tensor, torch::Tensor> UnpairedFolderDataset::first(size_t n) const {
  auto centre = [&](const std::vector<torch::Tensor>& v) {
    std::vector<torch::Tensor> out;
    for (size_t i = 0; i < std::min(n, v.size()); ++i) out.push_back(crop_flip(v[i], opt_.crop, false, false, 0));
    return torch::stack(out);
  };
  return {centre(a_), centre(b_)};
}

std::string UnpairedFolderDataset::describe() const {
  return "unpaired_folder A '" + opt_.a_dir + "' (" + std::to_string(a_.size()) + " images), B '" + opt_.b_dir + "' (" +
         std::to_string(b_.size()) + "), " + std::to_string(opt_.crop) + " px " + (opt_.random_crop ? "random" : "centre") + " crops of " +
         std::to_string(opt_.load_size) + " px";
}

void register_image_folder_dataset(DatasetRegistry& r) {
  r.add("unpaired_folder", [](Cfg& c) -> DatasetPtr { return std::make_shared<UnpairedFolderDataset>(read_options<UnpairedFolderOptions>(c)); },
        [] { return document_options<UnpairedFolderOptions>(); });
  r.add("image_folder", [](Cfg& c) -> DatasetPtr { return std::make_shared<ImageFolderDataset>(read_options<ImageFolderOptions>(c)); },
        [] { return document_options<ImageFolderOptions>(); });
}

}  // namespace tessera::data
