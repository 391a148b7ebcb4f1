#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "args.h"
#include "commands.h"
#include "tessera/archs/inference.h"
#include "tessera/core/runtime.h"
#include "tessera/data/resize.h"
#include "tessera/io/files.h"
#include "tessera/io/image_io.h"

namespace tessera::cli {

namespace fs = std::filesystem;

// tessera apply (alias: upscale): runs any image-to-image checkpoint (upscalers, style networks) on
// an image or a folder, tiled where the network allows it.
Run add_apply(CLI::App& app) {
  struct Args {
    std::string checkpoint, input, output, device = "auto";
    int64_t tile = 0, overlap = -1;
  };
  auto a = std::make_shared<Args>();
  app.add_option("--checkpoint", a->checkpoint, "weights file (model.safetensors), checkpoint directory or run directory")->required();
  app.add_option("input", a->input, "image file or folder of images")->required();
  app.add_option("output", a->output, "output image file, or folder when the input is a folder")->required();
  app.add_option("--tile", a->tile, "input tile size (0 = whole image, else >= 16); bounds memory on large images")
      ->check(integer_in(0, 1 << 20));
  app.add_option("--overlap", a->overlap, "input context around each tile (default: the network's receptive radius)")
      ->check(integer_in(0, 1 << 20));
  app.add_option("--device", a->device, "auto, cpu or cuda");
  return [a] {
    archs::NetPtr net = load_for_command(a->checkpoint, {"model.safetensors"}, {"image_to_image"}, "apply");
    if (net->in_channels() != 3)
      throw ConfigError("'" + a->checkpoint + "' takes " + std::to_string(net->in_channels()) + "-channel input; apply feeds RGB images");
    archs::TileOptions tiles = archs::checked_tiles(*net, a->tile, a->overlap);
    torch::Device device = resolve_device(a->device);
    net->to(device);
    std::vector<std::pair<std::string, std::string>> jobs;
    // Never write over the images being upscaled.
    if (fs::is_directory(a->input)) {
      if (fs::exists(a->output) && !fs::is_directory(a->output))
        throw ConfigError("input '" + a->input + "' is a folder, so output '" + a->output + "' must be a folder too");
      if (io::same_file(a->input, a->output))
        throw ConfigError("output folder '" + a->output + "' is the input folder: the outputs would replace the originals");
      for (const auto& f : io::list_images(a->input)) jobs.emplace_back(f, (fs::path(a->output) / fs::path(f).filename()).string());
      if (jobs.empty()) throw Error("no images in '" + a->input + "'");
      fs::create_directories(a->output);
    } else {
      if (!fs::exists(a->input)) throw Error("input '" + a->input + "' does not exist");
      if (!io::is_image_file(a->output)) throw ConfigError("output '" + a->output + "' needs an image extension (.png, .jpg, ...)");
      if (io::same_file(a->input, a->output)) throw ConfigError("output '" + a->output + "' is the input image: it would be replaced");
      jobs.emplace_back(a->input, a->output);
    }
    // Long inference reports progress: on a terminal a live line, in logs a line every few seconds.
    const bool tty = ::isatty(STDERR_FILENO);
    auto last_report = std::chrono::steady_clock::now();
    size_t job_index = 0;
    tiles.progress = [&](int64_t done, int64_t total) {
      const auto now = std::chrono::steady_clock::now();
      if (done < total && now - last_report < std::chrono::seconds(tty ? 0 : 5)) return;
      last_report = now;
      const std::string msg = fmt::format("[{}/{}] {}: tile {}/{}", job_index + 1, jobs.size(), jobs[job_index].first, done, total);
      if (tty) std::fprintf(stderr, "\r\033[K%s%s", msg.c_str(), done == total ? "\n" : "");
      else spdlog::info("{}", msg);
    };
    for (; job_index < jobs.size(); ++job_index) {
      const auto& [in, out] = jobs[job_index];
      io::Image img = io::read_image(in);
      torch::Tensor sr = archs::run_image(*net, img.rgb, tiles, device);
      const long long bad = (~torch::isfinite(sr)).sum().item<int64_t>();
      if (bad > 0) throw Error("the network produced " + std::to_string(bad) + " non-finite values on '" + in + "'; nothing written");
      // Alpha is not the network's business: it is resized with MATLAB bicubic and carried through.
      torch::Tensor alpha;
      if (img.alpha.defined()) {
        if (io::supports_alpha(out))
          alpha = (sr.size(1) == img.alpha.size(1) ? img.alpha : data::imresize_bicubic(img.alpha, sr.size(1), sr.size(2))).clamp(0, 1);
        else
          spdlog::warn("'{}' has an alpha channel, which {} cannot hold: written without it (use .png to keep it)", in,
                       fs::path(out).extension().string());
      }
      io::write_image(out, sr, img.bit_depth, alpha);
      spdlog::info("{} ({}x{}) -> {} ({}x{}{})", in, img.rgb.size(2), img.rgb.size(1), out, sr.size(2), sr.size(1),
                   alpha.defined() ? ", alpha kept" : "");
    }
    return 0;
  };
}

}  // namespace tessera::cli
