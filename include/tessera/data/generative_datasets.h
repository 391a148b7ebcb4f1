// Datasets for the generative families: class-labelled image folders, the 8x8 handwritten digits
// that Debian's python3-sklearn ships, and in-memory 2D toy distributions. Samples hold
// "image" (float [C,H,W] in [0,1]) and "label" (int64), or "point" (float [2]).
#pragma once
#include "tessera/core/options.h"
#include "tessera/data/dataset.h"

namespace tessera::data {

// Images in memory with labels; `get` applies an optional horizontal flip.
class LabelledImages : public Dataset {
 public:
  LabelledImages(torch::Tensor images, torch::Tensor labels, std::vector<std::string> classes, std::string what, bool hflip);
  size_t size() const override { return static_cast<size_t>(images_.size(0)); }
  Batch get(size_t index, uint64_t seed) const override;
  std::string describe() const override { return what_; }
  const torch::Tensor& images() const { return images_; }
  const torch::Tensor& labels() const { return labels_; }
  const std::vector<std::string>& classes() const { return classes_; }

 private:
  torch::Tensor images_, labels_;
  std::vector<std::string> classes_;
  std::string what_;
  bool hflip_;
};

// digits.csv (sklearn's format: 64 pixel values 0..16 then the label, per line), resized to
// `image_size` (bilinear) when it is not 8. `split`: all | train | test (every 5th image is test).
std::shared_ptr<LabelledImages> load_digits(const std::string& csv, int64_t image_size, const std::string& split);

// A folder per class (sorted names -> labels 0..K-1), images resized to image_size x image_size.
std::shared_ptr<LabelledImages> load_class_folders(const std::string& root, int64_t image_size, int64_t channels,
                                                   bool hflip, bool skip_bad);

// 2D mixtures used in the mode-collapse literature.
struct Toy2dOptions {
  std::string kind = "ring8";
  double radius = 2.0, std = 0.02, spacing = 2.0;
  int64_t size = 100000;
  template <class V>
  void visit(V& v) {
    v.choice("kind", kind, "ring8: 8 Gaussians on a circle; grid25: a 5x5 grid of Gaussians", {"ring8", "grid25"});
    v("radius", radius, "ring8: circle radius", 0.0, 1e6);
    if (!v.given("std")) std = kind == "ring8" ? 0.02 : 0.05;
    v("std", std, "standard deviation of each Gaussian (default 0.02 for ring8, 0.05 for grid25)", 1e-6, 1e6);
    v("spacing", spacing, "grid25: distance between neighbours", 0.0, 1e6);
    v("size", size, "samples per epoch", 1, 1'000'000'000);
  }
};
class Toy2dDataset : public Dataset {
 public:
  explicit Toy2dDataset(Toy2dOptions o);
  size_t size() const override { return static_cast<size_t>(opt_.size); }
  Batch get(size_t index, uint64_t seed) const override;
  std::string describe() const override;
  const torch::Tensor& modes() const { return modes_; }  // [K, 2]
  double mode_std() const { return opt_.std; }

 private:
  Toy2dOptions opt_;
  torch::Tensor modes_;
};

void register_generative_datasets(DatasetRegistry& r);

}  // namespace tessera::data
