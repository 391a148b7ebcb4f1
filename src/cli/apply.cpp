#include <spdlog/spdlog.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <filesystem>
#include <future>

#include "args.h"
#include "commands.h"
#include "tessera/archs/inference.h"
#include "tessera/core/runtime.h"
#include "tessera/data/resize.h"
#include "tessera/io/files.h"
#include "tessera/io/image_io.h"

namespace tessera::cli {

namespace fs = std::filesystem;

namespace {

bool parse_int(const std::string& text, int64_t& value) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end && !text.empty();
}

}  // namespace

// tessera apply (alias: upscale): runs any image-to-image checkpoint (upscalers, style networks) on
// an image or a folder, tiled where the network allows it.
Run add_apply(CLI::App& app) {
  struct Args {
    std::string checkpoint, input, output, device = "auto", tile = "auto", precision = "fp32";
    int64_t overlap = -1;
    bool nchw = false;
  };
  auto a = std::make_shared<Args>();
  app.add_option("--checkpoint", a->checkpoint, "weights file (model.safetensors; a CycleGAN's generator_ab or generator_ba.safetensors), checkpoint directory or run directory (a CycleGAN run: A->B)")->required();
  app.add_option("input", a->input, "image file or folder of images")->required();
  app.add_option("output", a->output, "output image file, or folder when the input is a folder")->required();
  app.add_option("--tile", a->tile,
                 "input tile side: auto (whole images unless their activations would pass a 4 GiB budget: exact tiles "
                 "recompute their overlap), 0 (whole image) or >= 16; outputs equal whole-image outputs at the default overlap");
  app.add_option("--overlap", a->overlap, "input context around each tile (default: the network's receptive radius)")
      ->check(integer_in(0, 1 << 20));
  app.add_option("--device", a->device, "auto, cpu or cuda");
  app.add_option("--precision", a->precision, "fp32, or bf16 (weights and activations in bfloat16: faster on CPUs with "
                 "AVX512_BF16 or AMX and on GPUs, at a small PSNR cost; docs/benchmarks.md)")->check(CLI::IsMember({"fp32", "bf16"}));
  app.add_flag("--nchw", a->nchw, "keep NCHW layout instead of channels-last (for comparison)");
  return [a] {
    archs::NetPtr net = load_for_command(a->checkpoint, {"model.safetensors", "generator_ab.safetensors"}, {"image_to_image"}, "apply");
    if (net->in_channels() != 3)
      throw ConfigError("'" + a->checkpoint + "' takes " + std::to_string(net->in_channels()) + "-channel input; apply feeds RGB images");
    const bool auto_tile = a->tile == "auto";
    int64_t tile = 0;
    if (!auto_tile && !parse_int(a->tile, tile)) throw ConfigError("--tile '" + a->tile + "': use auto, 0 or a tile side >= 16");
    archs::TileOptions tiles = archs::checked_tiles(*net, tile, a->overlap);
    torch::Device device = resolve_device(a->device);
    net->to(device);
    tiles = archs::prepare_for_inference(*net, tiles, !a->nchw, a->precision == "bf16");
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
    // Decoding the next image and encoding the last one overlap with the network.
    using Clock = std::chrono::steady_clock;
    auto ms = [](Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); };
    auto read = [&ms](const std::string& f) {
      const auto t0 = Clock::now();
      io::Image img = io::read_image(f);
      return std::make_pair(std::move(img), ms(t0));
    };
    std::future<std::pair<io::Image, double>> next = std::async(std::launch::async, read, jobs[0].first);
    std::future<void> writing;
    for (; job_index < jobs.size(); ++job_index) {
      const auto& [in, out] = jobs[job_index];
      auto [img, read_ms] = next.get();
      if (job_index + 1 < jobs.size()) next = std::async(std::launch::async, read, jobs[job_index + 1].first);
      archs::TileOptions run = tiles;
      if (auto_tile) run.tile = archs::auto_tile(*net, img.rgb.size(1), img.rgb.size(2), run);
      const auto t0 = Clock::now();
      torch::Tensor sr = archs::run_image(*net, img.rgb, run, device);
      const double net_ms = ms(t0);
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
      if (writing.valid()) writing.get();  // one encode in flight; its error stops the run here
      writing = std::async(std::launch::async, [&ms, in = in, out = out, sr, alpha, depth = img.bit_depth, w = img.rgb.size(2),
                                                h = img.rgb.size(1), read_ms, net_ms, tile = run.tile] {
        const auto t0 = Clock::now();
        io::write_image(out, sr, depth, alpha);
        spdlog::info("{} ({}x{}) -> {} ({}x{}{}); read {:.0f} ms, network {:.0f} ms{}, write {:.0f} ms", in, w, h, out, sr.size(2),
                     sr.size(1), alpha.defined() ? ", alpha kept" : "", read_ms, net_ms,
                     tile > 0 ? fmt::format(" in {}px tiles", tile) : std::string(), ms(t0));
      });
    }
    writing.get();
    return 0;
  };
}

}  // namespace tessera::cli
