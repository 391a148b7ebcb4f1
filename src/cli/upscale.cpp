#include <spdlog/spdlog.h>

#include <filesystem>

#include "commands.h"
#include "tessera/archs/checkpoint.h"
#include "tessera/archs/inference.h"
#include "tessera/core/runtime.h"
#include "tessera/io/image_io.h"

namespace tessera::cli {

namespace fs = std::filesystem;

Run add_upscale(CLI::App& app) {
  struct Args {
    std::string checkpoint, input, output, device = "auto";
    int64_t tile = 0, overlap = 16;
  };
  auto a = std::make_shared<Args>();
  app.add_option("--checkpoint", a->checkpoint, "weights file (model.safetensors)")->required();
  app.add_option("input", a->input, "image file or folder of images")->required();
  app.add_option("output", a->output, "output image file, or folder when the input is a folder")->required();
  app.add_option("--tile", a->tile, "LR tile size (0 = whole image); bounds memory on large images");
  app.add_option("--overlap", a->overlap, "LR context around each tile");
  app.add_option("--device", a->device, "auto, cpu or cuda");
  return [a] {
    archs::NetPtr net = archs::load_net_checkpoint(a->checkpoint);
    torch::Device device = resolve_device(a->device);
    net->to(device);
    std::vector<std::pair<std::string, std::string>> jobs;
    // Never write over the images being upscaled.
    auto same = [](const std::string& x, const std::string& y) {
      std::error_code ec;
      return fs::exists(x) && fs::exists(y) && fs::equivalent(x, y, ec);
    };
    if (fs::is_directory(a->input)) {
      if (fs::exists(a->output) && !fs::is_directory(a->output))
        throw ConfigError("input '" + a->input + "' is a folder, so output '" + a->output + "' must be a folder too");
      if (same(a->input, a->output))
        throw ConfigError("output folder '" + a->output + "' is the input folder: the upscaled images would replace the originals");
      fs::create_directories(a->output);
      for (const auto& f : io::list_images(a->input)) jobs.emplace_back(f, (fs::path(a->output) / fs::path(f).filename()).string());
      if (jobs.empty()) throw Error("no images in '" + a->input + "'");
    } else {
      if (!fs::exists(a->input)) throw Error("input '" + a->input + "' does not exist");
      if (!io::is_image_file(a->output)) throw ConfigError("output '" + a->output + "' needs an image extension (.png, .jpg, ...)");
      if (same(a->input, a->output)) throw ConfigError("output '" + a->output + "' is the input image: it would be replaced");
      jobs.emplace_back(a->input, a->output);
    }
    for (const auto& [in, out] : jobs) {
      io::Image img = io::read_image(in);
      torch::Tensor sr = archs::run_image(*net, img.rgb, {a->tile, a->overlap}, device);
      io::write_image(out, sr, img.bit_depth);
      spdlog::info("{} ({}x{}) -> {} ({}x{})", in, img.rgb.size(2), img.rgb.size(1), out, sr.size(2), sr.size(1));
    }
    return 0;
  };
}

}  // namespace tessera::cli
