#include "tessera/recipes/evaluate.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "tessera/archs/inference.h"
#include "tessera/data/generative_datasets.h"
#include "tessera/io/image_io.h"
#include "tessera/recipes/generative.h"
#include "tessera/recipes/sr.h"
#include "tessera/recipes/temporal_sr.h"

namespace tessera::recipes {

namespace {

namespace fs = std::filesystem;

// Real images for FID: digits.csv, a folder of class folders, or a flat folder of images.
torch::Tensor load_reference_images(const std::string& path, int64_t size, int64_t channels) {
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

EvalReport evaluate_generator(archs::NetImpl& net, const EvalRequest& a) {
  if (!a.compare.empty()) throw ConfigError("--compare scores upscalers on sequence folders, not generators");
  if (a.features.empty())
    throw ConfigError("evaluating a generator needs --features (a classifier checkpoint, see configs/eval/digits_classifier.yaml)");
  archs::GeneratorImpl* gen = archs::as_generator(net);
  auto shape = gen->sample_shape();
  if (shape.size() != 3) throw ConfigError("FID/IS need an image generator; '" + a.checkpoint + "' makes " + std::to_string(shape.size()) + "-D samples");
  net.to(a.device);
  FeatureNet feat(a.features, a.device);
  torch::Tensor real = load_reference_images(a.data, shape[1], shape[0]);
  GenerativeScores s = score_generator(*gen, feat, real, a.n, a.seed, a.device);
  EvalReport r;
  r.json = {{"checkpoint", a.checkpoint}, {"data", a.data}, {"features", a.features}, {"samples", a.n},
            {"real_images", real.size(0)}, {"fid", s.fid}, {"inception_score", s.is_mean}, {"inception_score_std", s.is_std}};
  if (gen->num_classes() > 0) r.json["class_accuracy"] = s.class_accuracy;
  r.table = fmt::format("{}: {} samples vs {} real images from {}\nFID              {:.4f}\nInception score  {:.4f} +- {:.4f}\n",
                        gen->type(), a.n, real.size(0), a.data, s.fid, s.is_mean, s.is_std);
  if (gen->num_classes() > 0) r.table += fmt::format("class accuracy   {:.4f}\n", s.class_accuracy);
  return r;
}

EvalReport evaluate_on_sequences(archs::NetImpl& net, const EvalRequest& a) {
  if (!a.lr_data.empty() || a.tile != 0 || a.rgb || a.metrics != EvalRequest{}.metrics)
    spdlog::warn("--lr-data, --tile, --rgb and --metric do not apply to sequences (whole frames, every metric, Y and RGB)");
  if (a.scale != 0 && a.scale != net.scale())
    throw ConfigError("--scale " + std::to_string(a.scale) + " does not match the checkpoint's x" + std::to_string(net.scale()));
  data::SequenceFolderOptions o;
  o.dir = a.data;
  o.frames = 0;
  data::SequenceFolderDataset ds(o);
  SequenceEvalOptions eo;
  eo.warmup = a.warmup;
  eo.crop_border = a.crop_border;
  struct Row {
    std::string name;
    archs::NetImpl* net;
    FrameMethod method;
  };
  std::vector<Row> rows{{net.type() + " (" + a.checkpoint + ")", &net, net_method(net)}};
  for (const auto& [name, other] : a.compare) rows.push_back({other->type() + " (" + name + ")", other.get(), net_method(*other)});
  for (const Row& row : rows) {
    if (row.net->scale() != ds.ratio())
      throw ConfigError(row.name + " upscales x" + std::to_string(row.net->scale()) + " but the sequences in '" + a.data + "' are x" +
                        std::to_string(ds.ratio()));
    row.net->to(a.device);
    row.net->eval();
  }
  rows.push_back({"taa (alpha 0.9, YCoCg clamp)", nullptr, taa_method(ds.ratio())});
  rows.push_back({"bicubic (jitter-compensated)", nullptr, bicubic_method(ds.ratio())});
  const std::vector<std::string> keys{"psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb", "psnr_disoccluded", "warp_error", "tpsnr", "tof"};
  EvalReport r;
  r.json = {{"data", a.data}, {"sequences", ds.sequences().size()}, {"scale", ds.ratio()}, {"warmup", a.warmup},
            {"crop_border", a.crop_border >= 0 ? a.crop_border : ds.ratio()}};
  r.table = fmt::format("{} sequences x{} from {}, first {} frames of each not scored\n{:<44}", ds.sequences().size(), ds.ratio(), a.data,
                        a.warmup, "method");
  for (const auto& k : keys) r.table += fmt::format(" {:>10}", k == "psnr_disoccluded" ? "psnr_disoc" : k);
  r.table += fmt::format(" {:>9} {:>9}\n", "MACs/px", "params");
  for (const Row& row : rows) {
    SequenceScores s = evaluate_sequences(row.method, ds, eo, a.device);
    nlohmann::json m = {{"name", row.name}, {"frames_scored", s.frames_scored}, {"psnr_per_frame", s.psnr_per_frame}};
    for (const auto& [k, v] : s.metrics) m[k] = std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
    const double macs = row.net ? archs::macs_per_output_pixel(*row.net) : -1;
    if (row.net) {
      m["parameters"] = archs::count_parameters(*row.net);
      if (macs > 0) m["macs_per_output_pixel"] = macs;
    }
    r.json["methods"].push_back(m);
    // Long names keep their end (a run directory's name tells the rows apart).
    r.table += fmt::format("{:<44}", row.name.size() > 44 ? "..." + row.name.substr(row.name.size() - 41) : row.name);
    for (const auto& k : keys) r.table += k == "warp_error" ? fmt::format(" {:>10.2e}", s.metrics.at(k)) : fmt::format(" {:>10.4f}", s.metrics.at(k));
    r.table += fmt::format(" {:>9} {:>9}\n", macs > 0 ? std::to_string(std::lround(macs)) : "-",
                           row.net ? std::to_string(archs::count_parameters(*row.net)) : "-");
  }
  return r;
}

EvalReport evaluate_upscaler(archs::NetImpl& net, const EvalRequest& a) {
  if (net.scale() > 1 && data::holds_sequences(a.data)) return evaluate_on_sequences(net, a);
  if (!a.compare.empty()) throw ConfigError("--compare scores other networks on sequence folders; '" + a.data + "' holds none");
  if (net.scale() == 1)
    throw ConfigError("'" + a.checkpoint + "' holds a " + net.type() + " (scale 1): tessera eval scores upscalers against "
                      "bicubic; run style networks with `tessera apply`");
  if (a.scale != 0 && a.scale != net.scale())
    throw ConfigError("--scale " + std::to_string(a.scale) + " does not match the checkpoint's x" + std::to_string(net.scale()));
  const archs::TileOptions tiles = archs::checked_tiles(net, a.tile, -1);
  net.to(a.device);
  data::SrFolderOptions o;
  o.hr_dir = a.data;
  o.lr_dir = a.lr_data;
  o.scale = net.scale();
  data::SrFolderDataset ds(o);
  metrics::QualityOptions q;
  q.y_channel = !a.rgb;
  q.crop_border = a.crop_border >= 0 ? a.crop_border : net.scale();
  SrEvaluation ev = evaluate_sr(net, ds, q, a.metrics, tiles, a.device);
  const std::string ch = q.y_channel ? "y" : "rgb";
  EvalReport r;
  r.json = {{"checkpoint", a.checkpoint}, {"data", a.data}, {"scale", net.scale()}, {"channel", ch}, {"crop_border", q.crop_border},
            {"model", ev.model}, {"bicubic", ev.bicubic}};
  for (const auto& s : ev.images) {
    nlohmann::json row = {{"name", s.name}};
    for (const auto& m : ev.metrics) row[m] = s.model.at(m), row["bicubic_" + m] = s.bicubic.at(m);
    r.json["images"].push_back(row);
  }
  r.table = fmt::format("{} x{} on {} ({} images, {} channel, crop {})\n{:<28}", net.type(), net.scale(), a.data, ev.images.size(), ch,
                        q.crop_border, "image");
  for (const auto& m : ev.metrics) r.table += fmt::format(" {:>10}", m);
  for (const auto& m : ev.metrics) r.table += fmt::format(" {:>10}", "bicubic " + m);
  r.table += "\n";
  auto row = [&](const std::string& name, const std::map<std::string, double>& model, const std::map<std::string, double>& bic) {
    r.table += fmt::format("{:<28}", name);
    for (const auto& m : ev.metrics) r.table += fmt::format(" {:>10.4f}", model.at(m));
    for (const auto& m : ev.metrics) r.table += fmt::format(" {:>10.4f}", bic.at(m));
    r.table += "\n";
  };
  for (const auto& s : ev.images) row(s.name, s.model, s.bicubic);
  row("mean", ev.model, ev.bicubic);
  return r;
}

}  // namespace

const Evaluator& evaluator_for(const std::string& task, const archs::NetImpl& net) {
  static const std::map<std::string, Evaluator> evaluators = {
      {"image_to_image", evaluate_upscaler},
      {"generator", evaluate_generator},
      {"autoencoder", evaluate_generator},
      {"temporal_upscaler", evaluate_on_sequences}};
  auto it = evaluators.find(task);
  if (it == evaluators.end()) {
    std::string known;
    for (const auto& [k, v] : evaluators) known += (known.empty() ? "" : ", ") + k;
    throw ConfigError("no evaluator for " + net.type() + " networks (task " + task + "); tessera eval evaluates: " + known);
  }
  return it->second;
}

}  // namespace tessera::recipes
