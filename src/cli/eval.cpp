#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "args.h"
#include "commands.h"
#include "tessera/core/error.h"
#include "tessera/core/runtime.h"
#include "tessera/data/sequence_dataset.h"
#include "tessera/io/image_io.h"
#include "tessera/io/plot.h"
#include "tessera/recipes/evaluate.h"

namespace tessera::cli {

Run add_eval(CLI::App& app) {
  struct Args {
    std::string checkpoint, data, lr_data, device = "auto", features, plot;
    int64_t scale = 0, crop_border = -1, tile = 0, n = 1000, warmup = 4;
    std::vector<std::string> compare;
    uint64_t seed = 0;
    bool json = false, rgb = false;
    std::vector<std::string> metrics{"psnr", "ssim"};
  };
  auto a = std::make_shared<Args>();
  app.add_option("--checkpoint", a->checkpoint, "weights file (model.safetensors), checkpoint directory or run directory")->required();
  app.add_option("--data", a->data, "SR: folder of HR images (LR made by MATLAB bicubic), or of frame sequences "
                 "(docs/temporal_sr.md); generators: real images (digits .csv, a folder of class folders, or a folder of images)")->required();
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
  app.add_option("--compare", a->compare, "sequences: other upscalers scored alongside (checkpoints; repeatable)");
  app.add_option("--warmup", a->warmup, "sequences: frames of each sequence not scored")->check(integer_in(0, 100000));
  app.add_option("--plot", a->plot, "sequences: also draw each method's mean PSNR-Y per frame index into this image (.png)");
  return [a] {
    if (!a->plot.empty() && !io::is_image_file(a->plot))
      throw ConfigError("--plot '" + a->plot + "': the plot is an image; give a .png (or .jpg, .bmp, ...) file name");
    archs::NetPtr net = load_for_command(a->checkpoint, {"model.safetensors", "generator.safetensors"},
                                         {"image_to_image", "generator", "autoencoder", "temporal_upscaler"}, "eval");
    recipes::EvalRequest req{a->checkpoint, a->data, a->lr_data, a->features, a->scale, a->crop_border, a->tile, a->n,
                             a->seed, a->rgb, a->metrics, resolve_device(a->device), a->warmup, {}};
    for (const auto& c : a->compare)
      req.compare.emplace_back(c, load_for_command(c, {"model.safetensors"}, {"image_to_image", "temporal_upscaler"}, "eval --compare"));
    if (!a->plot.empty() && !data::holds_sequences(a->data))
      throw ConfigError("--plot draws the PSNR-per-frame curves of a sequence evaluation; '" + a->data + "' holds no frame sequences");
    if (!a->plot.empty() && net->task() != "temporal_upscaler" && !(net->task() == "image_to_image" && net->scale() > 1))
      throw ConfigError("--plot draws the PSNR-per-frame curves of upscalers on sequences; '" + a->checkpoint + "' holds a " +
                        net->type() + " (" + net->task() + ")");
    if (!a->plot.empty()) {  // the plot must not land among the frames it scores
      const std::filesystem::path data = std::filesystem::weakly_canonical(a->data), plot = std::filesystem::weakly_canonical(a->plot);
      if (std::mismatch(data.begin(), data.end(), plot.begin(), plot.end()).first == data.end())
        throw ConfigError("--plot '" + a->plot + "' is inside --data '" + a->data + "': it could replace a frame; write it elsewhere");
    }
    recipes::EvalReport report = recipes::evaluator_for(net->task(), *net)(*net, req);
    if (a->json) std::cout << report.json.dump(2) << std::endl;
    else std::cout << report.table << std::flush;
    if (!a->plot.empty()) {
      std::vector<io::PlotSeries> series;
      for (const auto& m : report.json.at("methods")) {
        io::PlotSeries s{m.at("name").get<std::string>(), {}};
        for (const auto& v : m.at("psnr_per_frame")) s.values.push_back(v.is_number() ? v.get<double>() : std::nan(""));
        series.push_back(std::move(s));
      }
      io::PlotOptions po;
      po.title = fmt::format("PSNR-Y per frame, mean over {} sequences x{} ({})", report.json.at("sequences").get<int64_t>(),
                             report.json.at("scale").get<int64_t>(), a->data);
      po.x_label = "frame index (shaded: warm-up, not in the table's means)";
      po.y_label = "PSNR-Y (dB)";
      po.shade_until = static_cast<double>(a->warmup) - 0.5;
      io::write_image(a->plot, io::line_plot(series, po));
      spdlog::info("PSNR-per-frame plot: {}", a->plot);
    }
    return 0;
  };
}

}  // namespace tessera::cli
