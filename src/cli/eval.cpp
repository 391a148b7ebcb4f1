#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "args.h"
#include "commands.h"
#include "tessera/archs/inference.h"
#include "tessera/archs/checkpoint.h"
#include "tessera/core/runtime.h"
#include "tessera/data/generative_datasets.h"
#include "tessera/io/image_io.h"
#include "tessera/recipes/generative.h"
#include "tessera/recipes/sr.h"

namespace tessera::cli {

namespace {

// Real images for FID: digits.csv, a folder of class folders, or a flat folder of images.
torch::Tensor load_reference_images(const std::string& path, int64_t size, int64_t channels) {
  namespace fs = std::filesystem;
  if (fs::path(path).extension() == ".csv") return data::load_digits(path, size, "all")->images();
  bool has_dirs = false;
  if (fs::is_directory(path))
    for (const auto& e : fs::directory_iterator(path)) has_dirs |= e.is_directory();
  if (has_dirs) return data::load_class_folders(path, size, channels, false, false)->images();
  std::vector<torch::Tensor> imgs;
  for (const auto& f : io::list_images(path)) {
    torch::Tensor t = io::read_image(f).rgb.unsqueeze(0);
    if (channels == 1) t = io::rgb_to_gray(t);
    imgs.push_back(torch::upsample_bilinear2d(t, {size, size}, false).clamp(0, 1));
  }
  if (imgs.empty()) throw Error("no images in '" + path + "'");
  return torch::cat(imgs);
}

template <class Args>
int eval_generator(const Args& a, archs::NetPtr net) {
  if (a.features.empty()) throw ConfigError("evaluating a generator needs --features (a classifier checkpoint, see configs/eval/digits_classifier.yaml)");
  archs::GeneratorImpl* gen = archs::as_generator(*net);
  auto shape = gen->sample_shape();
  if (shape.size() != 3) throw ConfigError("FID/IS need an image generator; '" + a.checkpoint + "' makes " + std::to_string(shape.size()) + "-D samples");
  torch::Device device = resolve_device(a.device);
  net->to(device);
  recipes::FeatureNet feat(a.features, device);
  torch::Tensor real = load_reference_images(a.data, shape[1], shape[0]);
  recipes::GenerativeScores s = recipes::score_generator(*gen, feat, real, a.n, a.seed, device);
  if (a.json) {
    nlohmann::json j = {{"checkpoint", a.checkpoint}, {"data", a.data}, {"features", a.features}, {"samples", a.n},
                        {"real_images", real.size(0)}, {"fid", s.fid}, {"inception_score", s.is_mean}, {"inception_score_std", s.is_std}};
    if (gen->num_classes() > 0) j["class_accuracy"] = s.class_accuracy;
    std::cout << j.dump(2) << std::endl;
  } else {
    std::printf("%s: %lld samples vs %lld real images from %s\n", gen->type().c_str(), static_cast<long long>(a.n),
                static_cast<long long>(real.size(0)), a.data.c_str());
    std::printf("FID              %.4f\nInception score  %.4f +- %.4f\n", s.fid, s.is_mean, s.is_std);
    if (gen->num_classes() > 0) std::printf("class accuracy   %.4f\n", s.class_accuracy);
  }
  return 0;
}

}  // namespace

Run add_eval(CLI::App& app) {
  struct Args {
    std::string checkpoint, data, lr_data, device = "auto", features;
    int64_t scale = 0, crop_border = -1, tile = 0, n = 1000;
    uint64_t seed = 0;
    bool json = false, rgb = false;
    std::vector<std::string> metrics{"psnr", "ssim"};
  };
  auto a = std::make_shared<Args>();
  app.add_option("--checkpoint", a->checkpoint, "weights file (model.safetensors), checkpoint directory or run directory")->required();
  app.add_option("--data", a->data, "SR: folder of HR images (LR made by MATLAB bicubic); generators: real images "
                 "(digits .csv, a folder of class folders, or a folder of images)")->required();
  app.add_option("--lr-data", a->lr_data, "folder of matching LR images (instead of bicubic degradation)");
  app.add_option("--scale", a->scale, "upscale factor; must match the checkpoint (default: the checkpoint's)")->check(integer_in(1, 16));
  app.add_option("--crop-border", a->crop_border, "pixels removed from each side before scoring (default: scale)")->check(integer_in(0, 1 << 20));
  app.add_flag("--rgb", a->rgb, "score on RGB instead of the Y channel");
  app.add_option("--metric", a->metrics, "SR metrics by name (default: psnr ssim)");
  app.add_option("--tile", a->tile, "LR tile size for inference (0 = whole images, else >= 16)")->check(integer_in(0, 1 << 20));
  app.add_option("--device", a->device, "auto, cpu or cuda");
  app.add_flag("--json", a->json, "print one JSON object instead of a table");
  app.add_option("--features", a->features, "generators: feature network (classifier checkpoint) for FID/IS");
  app.add_option("--n", a->n, "generators: number of samples")->check(integer_in(2, 1 << 24));
  app.add_option("--seed", a->seed, "generators: latent seed");
  return [a] {
    archs::NetPtr net = load_for_command(a->checkpoint, {"model.safetensors", "generator.safetensors"},
                                         {"image_to_image", "generator", "autoencoder"}, "eval");
    if (archs::as_generator(*net)) return eval_generator(*a, net);
    const archs::TileOptions tiles = archs::checked_tiles(*net, a->tile, -1);
    if (a->scale != 0 && a->scale != net->scale())
      throw ConfigError("--scale " + std::to_string(a->scale) + " does not match the checkpoint's x" + std::to_string(net->scale()));
    torch::Device device = resolve_device(a->device);
    net->to(device);
    data::SrFolderOptions o;
    o.hr_dir = a->data;
    o.lr_dir = a->lr_data;
    o.scale = net->scale();
    data::SrFolderDataset ds(o);
    metrics::QualityOptions q;
    q.y_channel = !a->rgb;
    q.crop_border = a->crop_border >= 0 ? a->crop_border : net->scale();
    recipes::SrEvaluation ev = recipes::evaluate_sr(*net, ds, q, a->metrics, tiles, device);
    const std::string ch = q.y_channel ? "y" : "rgb";
    if (a->json) {
      nlohmann::json j;
      j["checkpoint"] = a->checkpoint;
      j["data"] = a->data;
      j["scale"] = net->scale();
      j["channel"] = ch;
      j["crop_border"] = q.crop_border;
      j["model"] = ev.model;
      j["bicubic"] = ev.bicubic;
      for (const auto& s : ev.images) {
        nlohmann::json row = {{"name", s.name}};
        for (const auto& m : ev.metrics) row[m] = s.model.at(m), row["bicubic_" + m] = s.bicubic.at(m);
        j["images"].push_back(row);
      }
      std::cout << j.dump(2) << std::endl;
    } else {
      std::printf("%s x%lld on %s (%zu images, %s channel, crop %lld)\n", net->type().c_str(),
                  static_cast<long long>(net->scale()), a->data.c_str(), ev.images.size(), ch.c_str(),
                  static_cast<long long>(q.crop_border));
      std::printf("%-28s", "image");
      for (const auto& m : ev.metrics) std::printf(" %10s", m.c_str());
      for (const auto& m : ev.metrics) std::printf(" %10s", ("bicubic " + m).c_str());
      std::printf("\n");
      auto row = [&](const std::string& name, const std::map<std::string, double>& model, const std::map<std::string, double>& bic) {
        std::printf("%-28s", name.c_str());
        for (const auto& m : ev.metrics) std::printf(" %10.4f", model.at(m));
        for (const auto& m : ev.metrics) std::printf(" %10.4f", bic.at(m));
        std::printf("\n");
      };
      for (const auto& s : ev.images) row(s.name, s.model, s.bicubic);
      row("mean", ev.model, ev.bicubic);
    }
    return 0;
  };
}

}  // namespace tessera::cli
