#include <spdlog/spdlog.h>

#include <filesystem>

#include "args.h"
#include "commands.h"
#include "tessera/build_info.h"
#include "tessera/core/config.h"
#include "tessera/core/error.h"
#include "tessera/data/sequence.h"
#include "tessera/io/image_io.h"

namespace tessera::cli {

// `tessera sequences --photos DIR --output DIR`: synthetic frame sequences with exact motion
// vectors and targets for temporal super-resolution (docs/temporal.md).
Run add_sequences(CLI::App& app) {
  struct Args {
    std::string photos, output, size = "128x128";
    int64_t count = 8, first = 0;
    uint64_t seed = 0;
    data::SequenceOptions opt;
  };
  auto a = std::make_shared<Args>();
  app.add_option("--photos", a->photos, "folder of photographs to film (backgrounds and sprites)")->required();
  app.add_option("--output", a->output, "folder to write seq_NNNNN/ into (existing sequences are never replaced)")->required();
  app.add_option("--count", a->count, "how many sequences")->check(integer_in(1, 1000000));
  app.add_option("--first-index", a->first, "index of the first sequence (another range of the same stream)")->check(integer_in(0, 1LL << 40));
  app.add_option("--seed", a->seed, "the stream: the same seed, index, photos and options give the same sequence");
  app.add_option("--frames", a->opt.frames, "frames per sequence")->check(integer_in(2, 10000));
  app.add_option("--size", a->size, "high-resolution frame size, WIDTHxHEIGHT (multiples of --ratio)");
  app.add_option("--ratio", a->opt.ratio, "upscaling ratio: low-res frames are size / ratio")->check(integer_in(1, 8));
  app.add_option("--mode", a->opt.mode, "render: one point sample per low-res pixel (a game's render); camera: the pixel's area")
      ->check(CLI::IsMember({"render", "camera"}));
  app.add_option("--jitter", a->opt.jitter, "sub-pixel jitter: halton (FSR 2's sequence) or none")->check(CLI::IsMember({"halton", "none"}));
  app.add_option("--sprites", a->opt.max_sprites, "at most this many sprites per sequence (0..8; each sequence draws 0..N)")
      ->check(integer_in(0, 8));
  app.add_option("--max-translation", a->opt.max_translation, "camera and sprite motion, high-res pixels per frame")->check(CLI::Range(0.0, 64.0));
  app.add_option("--max-rotation", a->opt.max_rotation, "camera rotation, degrees per frame (sprites turn up to twice that)")
      ->check(CLI::Range(0.0, 10.0));
  app.add_option("--max-zoom", a->opt.max_zoom, "camera zoom, relative change per frame")->check(CLI::Range(0.0, 0.1));
  return [a] {
    namespace fs = std::filesystem;
    const auto x = a->size.find('x');
    try {
      if (x == std::string::npos) throw std::invalid_argument("");
      size_t used = 0;
      a->opt.width = std::stoll(a->size.substr(0, x), &used);
      if (used != x) throw std::invalid_argument("");
      a->opt.height = std::stoll(a->size.substr(x + 1), &used);
      if (used != a->size.size() - x - 1) throw std::invalid_argument("");
    } catch (const std::exception&) {
      throw ConfigError("--size: '" + a->size + "' is not WIDTHxHEIGHT (e.g. 128x128)");
    }
    try {
      a->opt.validate();
    } catch (const ConfigError& e) {
      throw ConfigError(std::string("sequence options: ") + e.what());
    }
    const auto photos = io::list_images(a->photos);
    if (photos.empty()) throw ConfigError("--photos '" + a->photos + "' holds no images (png, jpg, bmp, tif, webp, ppm)");
    char name[32];
    std::vector<std::string> dirs;
    for (int64_t i = 0; i < a->count; ++i) {
      std::snprintf(name, sizeof name, "seq_%05lld", static_cast<long long>(a->first + i));
      dirs.push_back((fs::path(a->output) / name).string());
      if (fs::exists(dirs.back()))
        throw ConfigError("'" + dirs.back() + "' already exists: choose another --output or --first-index (nothing was written)");
    }
    for (int64_t i = 0; i < a->count; ++i) {
      const uint64_t index = static_cast<uint64_t>(a->first + i);
      data::Sequence seq = data::make_sequence(photos, a->opt, a->seed, index);
      YAML::Node g;
      g["tessera"] = TESSERA_VERSION;
      g["seed"] = a->seed;
      g["index"] = index;
      g["photos"] = a->photos;
      g["size"] = std::vector<int64_t>{a->opt.width, a->opt.height};
      g["jitter"] = a->opt.jitter;
      g["max_sprites"] = a->opt.max_sprites;
      g["max_translation"] = detail::value_node(a->opt.max_translation);
      g["max_rotation"] = detail::value_node(a->opt.max_rotation);
      g["max_zoom"] = detail::value_node(a->opt.max_zoom);
      data::write_sequence(dirs[i], seq, yaml_dump(g));
      const double valid = 1.0 - seq.disocclusion.slice(0, 1).mean().item<double>();
      spdlog::info("{}: {} frames {}x{} -> {}x{} ({} mode, {} sprites, {:.1f}% of pixels with valid history)", dirs[i], a->opt.frames,
                   seq.lr.size(3), seq.lr.size(2), a->opt.width, a->opt.height, a->opt.mode, seq.sources.size() - 1, 100 * valid);
    }
    return 0;
  };
}

}  // namespace tessera::cli
