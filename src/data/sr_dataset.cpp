#include "tessera/data/sr_dataset.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "tessera/data/resize.h"
#include "tessera/io/image_io.h"

namespace tessera::data {

namespace fs = std::filesystem;
using torch::indexing::Slice;

torch::Tensor dihedral(const torch::Tensor& x, int code) {
  torch::Tensor y = x;
  if (code & 1) y = y.flip({-1});
  if (code & 2) y = y.flip({-2});
  if (code & 4) y = y.transpose(-1, -2);
  return y.contiguous();
}

SrFolderDataset::SrFolderDataset(SrFolderOptions opt) : opt_(std::move(opt)) {
  std::vector<std::string> all = io::list_images(opt_.hr_dir);
  if (all.empty()) throw Error("HR folder '" + opt_.hr_dir + "' holds no images");
  for (const auto& f : all) {
    std::string lr;
    if (!opt_.lr_dir.empty()) {
      fs::path p = fs::path(opt_.lr_dir) / fs::path(f).filename();
      if (!fs::exists(p)) {
        // Also accept the DIV2K naming, NAMEx2.png.
        fs::path alt = fs::path(opt_.lr_dir) /
                       (fs::path(f).stem().string() + "x" + std::to_string(opt_.scale) + fs::path(f).extension().string());
        if (!fs::exists(alt)) throw Error("no LR image for '" + f + "' in '" + opt_.lr_dir + "' (looked for " +
                                          p.filename().string() + " and " + alt.filename().string() + ")");
        p = alt;
      }
      lr = p.string();
    }
    files_.push_back(f);
    lr_files_.push_back(lr);
    images_.emplace_back();
    if (opt_.cache || opt_.skip_bad) {
      try {
        auto loaded = load(files_.size() - 1, !degrades_on_device());
        if (opt_.cache) images_.back() = loaded;
      } catch (const Error& e) {
        if (!opt_.skip_bad) throw;
        spdlog::warn("skipping bad image: {}", e.what());
        files_.pop_back();
        lr_files_.pop_back();
        images_.pop_back();
        ++skipped_;
      }
    }
  }
  if (skipped_) spdlog::warn("{}: skipped {} unreadable image(s)", opt_.hr_dir, skipped_);
  if (files_.empty()) throw Error("HR folder '" + opt_.hr_dir + "' holds no readable images");
  if (opt_.patch_size > 0) {
    for (size_t i = 0; i < files_.size(); ++i) {
      const torch::Tensor gt = std::get<1>(hr(i));  // (its LR is gt's size / scale)
      if (gt.size(1) / opt_.scale < opt_.patch_size || gt.size(2) / opt_.scale < opt_.patch_size)
        throw ConfigError("image '" + files_[i] + "' is smaller than patch_size " + std::to_string(opt_.patch_size) +
                          " at scale " + std::to_string(opt_.scale));
    }
  }
}

void SrFolderOptions::check(Cfg& c) const {
  if (degrade == "device" && !lr_dir.empty()) c.fail("degrade", "device makes the LR from the HR, but lr_dir gives LR images: drop one");
  if (degrade == "device" && patch_size == 0)
    c.fail("degrade", "device degrades training patches: set patch_size (whole images are degraded in the loader)");
}

namespace {

// The SR papers' degradation: MATLAB bicubic, then rounding to the file's bit depth.
torch::Tensor degrade(const torch::Tensor& gt, int64_t scale, int bit_depth) {
  return io::quantize(imresize_bicubic(gt, 1.0 / static_cast<double>(scale)), bit_depth).contiguous();
}

}  // namespace

std::tuple<torch::Tensor, torch::Tensor, int> SrFolderDataset::load(size_t i, bool with_lq) const {
  io::Image hr = io::read_image(files_[i]);
  torch::Tensor gt = mod_crop(hr.rgb, opt_.scale).contiguous();
  torch::Tensor lq;
  if (!lr_files_[i].empty()) {
    lq = io::read_image(lr_files_[i]).rgb;
    if (lq.size(1) * opt_.scale != gt.size(1) || lq.size(2) * opt_.scale != gt.size(2))
      throw Error("LR image '" + lr_files_[i] + "' is " + std::to_string(lq.size(2)) + "x" + std::to_string(lq.size(1)) +
                  ", not 1/" + std::to_string(opt_.scale) + " of its HR image '" + files_[i] + "'");
  } else if (with_lq) {
    lq = degrade(gt, opt_.scale, hr.bit_depth);
  }
  return {lq, gt, hr.bit_depth};
}

std::tuple<torch::Tensor, torch::Tensor, int> SrFolderDataset::hr(size_t i) const {
  if (std::get<1>(images_[i]).defined()) return images_[i];
  return load(i, false);
}

std::pair<torch::Tensor, torch::Tensor> SrFolderDataset::pair(size_t i) const {
  auto [lq, gt, depth] = std::get<1>(images_[i]).defined() ? images_[i] : load(i, true);
  if (!lq.defined()) lq = degrade(gt, opt_.scale, depth);  // a degrade: device cache holds the HR only
  return {lq, gt};
}

Batch SrFolderDataset::get(size_t index, uint64_t seed) const {
  const size_t i = index % files_.size();
  torch::Tensor lq, gt;
  int depth = 8;
  if (degrades_on_device()) std::tie(std::ignore, gt, depth) = hr(i);
  else std::tie(lq, gt) = pair(i);
  if (opt_.patch_size > 0) {
    const int64_t p = opt_.patch_size, s = opt_.scale;
    const int64_t h = gt.size(1) / s, w = gt.size(2) / s;  // the LR size
    const int64_t y = static_cast<int64_t>(seed % static_cast<uint64_t>(h - p + 1));
    const int64_t x = static_cast<int64_t>((seed >> 20) % static_cast<uint64_t>(w - p + 1));
    if (lq.defined()) lq = lq.index({Slice(), Slice(y, y + p), Slice(x, x + p)});
    gt = gt.index({Slice(), Slice(y * s, (y + p) * s), Slice(x * s, (x + p) * s)});
  }
  int code = 0;
  const uint64_t r = seed >> 40;
  if (opt_.hflip && (r & 1)) code |= 1;
  if (opt_.vflip && (r & 2)) code |= 2;
  if (opt_.rot90 && (r & 4)) code |= 4;
  if (!lq.defined()) return {{"gt", dihedral(gt, code)}, {"levels", torch::tensor(depth == 16 ? 65535.0f : 255.0f)}};
  return {{"lq", dihedral(lq, code)}, {"gt", dihedral(gt, code)}};
}

torch::Tensor sr_input(const Batch& batch, int64_t scale, torch::Device device) {
  if (auto it = batch.find("lq"); it != batch.end()) return it->second.to(device);
  torch::NoGradGuard ng;
  const torch::Tensor lq = imresize_bicubic(batch.at("gt").to(device), 1.0 / static_cast<double>(scale));
  const torch::Tensor levels = batch.at("levels").cpu();
  std::vector<torch::Tensor> rounded;  // each image on its own file's levels, as the loader rounds
  for (int64_t b = 0; b < lq.size(0); ++b) rounded.push_back(io::quantize(lq[b], levels[b].item<float>() > 255.0f ? 16 : 8));
  return torch::stack(rounded);
}

std::string SrFolderDataset::describe() const {
  return "sr_folder '" + opt_.hr_dir + "' (" + std::to_string(files_.size()) + " images, x" + std::to_string(opt_.scale) +
         (degrades_on_device() ? ", LR made on the training device" : "") + ")";
}

}  // namespace tessera::data
