#include "tessera/data/generative_datasets.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tessera/core/runtime.h"
#include "tessera/io/image_io.h"

namespace tessera::data {

namespace fs = std::filesystem;

LabelledImages::LabelledImages(torch::Tensor images, torch::Tensor labels, std::vector<std::string> classes, std::string what,
                               bool hflip)
    : images_(std::move(images)), labels_(std::move(labels)), classes_(std::move(classes)), what_(std::move(what)), hflip_(hflip) {}

Batch LabelledImages::get(size_t index, uint64_t seed) const {
  torch::Tensor img = images_[static_cast<int64_t>(index)];
  if (hflip_ && (seed & 1)) img = img.flip({-1});
  return {{"image", img.contiguous()}, {"label", labels_[static_cast<int64_t>(index)]}};
}

static torch::Tensor resize_square(const torch::Tensor& imgs, int64_t size) {
  if (imgs.size(-1) == size && imgs.size(-2) == size) return imgs;
  return torch::upsample_bilinear2d(imgs, {size, size}, false).clamp(0, 1);
}

std::shared_ptr<LabelledImages> load_digits(const std::string& csv, int64_t image_size, const std::string& split) {
  std::ifstream in(csv);
  if (!in) throw Error("cannot open digits file '" + csv + "' (run scripts/fetch_datasets.sh)");
  std::vector<float> pix;
  std::vector<int64_t> lab;
  std::string line;
  int64_t row = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::stringstream ss(line);
    std::string cell;
    std::vector<float> vals;
    while (std::getline(ss, cell, ',')) {
      try {
        vals.push_back(std::stof(cell));
      } catch (const std::exception&) {
        throw Error(csv + ":" + std::to_string(row + 1) + ": '" + cell + "' is not a number");
      }
    }
    if (vals.size() != 65) throw Error(csv + ":" + std::to_string(row + 1) + ": expected 65 values, got " + std::to_string(vals.size()));
    const bool test = row % 5 == 4;
    ++row;
    if ((split == "train" && test) || (split == "test" && !test)) continue;
    for (int i = 0; i < 64; ++i) pix.push_back(vals[i] / 16.0f);
    lab.push_back(static_cast<int64_t>(vals[64]));
  }
  const int64_t n = static_cast<int64_t>(lab.size());
  if (n == 0) throw Error("digits file '" + csv + "' holds no images");
  torch::Tensor images = resize_square(torch::from_blob(pix.data(), {n, 1, 8, 8}, torch::kFloat32).clone(), image_size);
  torch::Tensor labels = torch::from_blob(lab.data(), {n}, torch::kInt64).clone();
  std::vector<std::string> classes;
  for (int i = 0; i < 10; ++i) classes.push_back(std::to_string(i));
  return std::make_shared<LabelledImages>(images, labels, classes,
                                          "digits '" + csv + "' (" + split + ", " + std::to_string(n) + " images, " +
                                              std::to_string(image_size) + "x" + std::to_string(image_size) + ")",
                                          false);
}

std::shared_ptr<LabelledImages> load_class_folders(const std::string& root, int64_t image_size, int64_t channels, bool hflip,
                                                   bool skip_bad) {
  if (!fs::is_directory(root)) throw Error("class folder root '" + root + "' does not exist");
  std::vector<std::string> classes;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory()) classes.push_back(e.path().filename().string());
  std::sort(classes.begin(), classes.end());
  if (classes.empty()) throw Error("'" + root + "' has no class sub-folders");
  std::vector<torch::Tensor> imgs;
  std::vector<int64_t> labels;
  size_t skipped = 0;
  for (size_t k = 0; k < classes.size(); ++k) {
    for (const auto& f : io::list_images((fs::path(root) / classes[k]).string())) {
      try {
        torch::Tensor t = io::read_image(f).rgb;
        if (channels == 1) t = io::rgb_to_gray(t);
        imgs.push_back(resize_square(t.unsqueeze(0), image_size)[0]);
        labels.push_back(static_cast<int64_t>(k));
      } catch (const Error& e) {
        if (!skip_bad) throw;
        spdlog::warn("skipping bad image: {}", e.what());
        ++skipped;
      }
    }
  }
  if (imgs.empty()) throw Error("'" + root + "' holds no readable images");
  return std::make_shared<LabelledImages>(torch::stack(imgs), torch::tensor(labels, torch::kInt64), classes,
                                          "class_folder '" + root + "' (" + std::to_string(imgs.size()) + " images, " +
                                              std::to_string(classes.size()) + " classes" +
                                              (skipped ? ", " + std::to_string(skipped) + " skipped" : "") + ")",
                                          hflip);
}

Toy2dDataset::Toy2dDataset(Toy2dOptions o) : opt_(std::move(o)) {
  std::vector<float> m;
  if (opt_.kind == "ring8") {
    for (int k = 0; k < 8; ++k) m.insert(m.end(), {static_cast<float>(opt_.radius * std::cos(k * M_PI / 4)),
                                                   static_cast<float>(opt_.radius * std::sin(k * M_PI / 4))});
  } else {
    for (int i = -2; i <= 2; ++i)
      for (int j = -2; j <= 2; ++j) m.insert(m.end(), {static_cast<float>(i * opt_.spacing), static_cast<float>(j * opt_.spacing)});
  }
  modes_ = torch::tensor(m).view({-1, 2});
}

Batch Toy2dDataset::get(size_t index, uint64_t seed) const {
  // Box-Muller from the sample's own seed: the data is a pure function of (seed, index).
  const uint64_t a = mix_seed(seed, index, 1), b = mix_seed(seed, index, 2);
  const double u1 = (static_cast<double>(a >> 11) + 0.5) / 9007199254740992.0, u2 = static_cast<double>(b >> 11) / 9007199254740992.0;
  const double r = std::sqrt(-2 * std::log(u1));
  const int64_t k = static_cast<int64_t>(mix_seed(seed, index, 3) % static_cast<uint64_t>(modes_.size(0)));
  torch::Tensor p = modes_[k].clone();
  p[0] += static_cast<float>(opt_.std * r * std::cos(2 * M_PI * u2));
  p[1] += static_cast<float>(opt_.std * r * std::sin(2 * M_PI * u2));
  return {{"point", p}, {"label", torch::tensor(k, torch::kInt64)}};
}

std::string Toy2dDataset::describe() const {
  return "toy2d " + opt_.kind + " (" + std::to_string(modes_.size(0)) + " modes, std " + std::to_string(opt_.std) + ")";
}

void register_generative_datasets(DatasetRegistry& r) {
  r.add("digits", [](Cfg& c) -> DatasetPtr {
    std::string path = c.get<std::string>("path", "datasets/digits/digits.csv");
    int64_t size = c.get<int64_t>("image_size", 8, 4, 1024);
    std::string split = c.get_choice("split", "all", {"all", "train", "test"});
    c.finish();
    return load_digits(path, size, split);
  });
  r.add("class_folder", [](Cfg& c) -> DatasetPtr {
    std::string root = c.req<std::string>("root");
    int64_t size = c.get<int64_t>("image_size", 32, 4, 4096);
    int64_t channels = c.get<int64_t>("channels", 3, 1, 3);
    if (channels == 2) c.fail("channels", "must be 1 or 3");
    bool hflip = c.get<bool>("hflip", false), skip_bad = c.get<bool>("skip_bad", false);
    c.finish();
    return load_class_folders(root, size, channels, hflip, skip_bad);
  });
  r.add("toy2d", [](Cfg& c) -> DatasetPtr { return std::make_shared<Toy2dDataset>(read_options<Toy2dOptions>(c)); },
        [] { return document_options<Toy2dOptions>(); });
}

}  // namespace tessera::data
