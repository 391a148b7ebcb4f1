#include <spdlog/spdlog.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <chrono>
#include <filesystem>
#include <future>

#include "args.h"
#include "commands.h"
#include "tessera/archs/inference.h"
#include "tessera/archs/temporal.h"
#include "tessera/data/sequence_dataset.h"
#include "tessera/data/video.h"
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

// A sequence folder (or a folder of them) streamed frame by frame through a temporal upscaler (or a
// single-image upscaler, frame by frame): OUTPUT/00000.png ... for one sequence, OUTPUT/<name>/...
// for several. The state is carried from frame to frame; reading the next frame and writing the last
// overlap with the network.
int apply_sequences(archs::NetImpl& net, const std::string& input, const std::string& output, torch::Device device, bool channels_last, bool bf16) {
  const std::vector<std::string> dirs = data::list_sequences(input);
  if (fs::exists(output) && !fs::is_directory(output)) throw ConfigError("output '" + output + "' must be a folder for sequence input");
  if (io::same_file(input, output)) throw ConfigError("output folder '" + output + "' is the input folder");
  torch::NoGradGuard ng;
  net.to(device);
  archs::prepare_for_inference(net, {}, channels_last, bf16);
  using Clock = std::chrono::steady_clock;
  for (const auto& dir : dirs) {
    const data::SequenceInfo info = data::read_sequence_info(dir);
    if (info.ratio != net.scale())
      throw ConfigError("sequence '" + dir + "' is x" + std::to_string(info.ratio) + " but the network upscales x" + std::to_string(net.scale()));
    const fs::path out_dir = dirs.size() == 1 && dir == input ? fs::path(output) : fs::path(output) / fs::path(dir).filename();
    fs::create_directories(out_dir);
    auto read = [&info](int64_t t) { return data::read_sequence(info, t, 1, false); };
    std::future<data::Sequence> next = std::async(std::launch::async, read, 0);
    std::future<void> writing;
    archs::TemporalState state;
    double net_ms = 0;
    for (int64_t t = 0; t < info.frames; ++t) {
      data::Sequence f = next.get();
      if (t + 1 < info.frames) next = std::async(std::launch::async, read, t + 1);
      const auto t0 = Clock::now();
      torch::Tensor out = archs::upscale_frame(net, {f.lr.to(device), f.motion.to(device), f.jitter.to(torch::kFloat32).to(device)}, state)[0]
                              .to(torch::kCPU);
      net_ms += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (!torch::isfinite(out).all().item<bool>())
        throw Error("the network produced non-finite values on frame " + std::to_string(t) + " of '" + dir + "'");
      char name[32];
      std::snprintf(name, sizeof name, "%05lld.png", static_cast<long long>(t));
      if (writing.valid()) writing.get();
      writing = std::async(std::launch::async, [p = (out_dir / name).string(), out] { io::write_image(p, out.clamp(0, 1)); });
    }
    writing.get();
    spdlog::info("{}: {} frames {}x{} -> {}x{} in {}; network {:.1f} ms per frame ({:.1f} fps)", dir, info.frames, info.lr_width, info.lr_height,
                 info.lr_width * info.ratio, info.lr_height * info.ratio, out_dir.string(), net_ms / info.frames, 1000.0 * info.frames / net_ms);
  }
  return 0;
}

// A video file streamed through a temporal (or single-image) upscaler, its motion vectors estimated
// by OpenCV's optical flow and no jitter: out to a video file or a folder of PNG frames.
int apply_video(archs::NetImpl& net, const std::string& input, const std::string& output, const std::string& flow, torch::Device device,
                bool channels_last, bool bf16) {
  if (io::same_file(input, output)) throw ConfigError("output '" + output + "' is the input video: it would be replaced");
  data::VideoFrames video(input, flow);
  const bool to_video = data::is_video_file(output);
  if (io::is_image_file(output)) throw ConfigError("output '" + output + "': a video becomes a video file (.avi, .mp4, ...) or a folder of frames");
  if (!to_video) {
    if (fs::exists(output) && !fs::is_directory(output))
      throw ConfigError("output '" + output + "' must be a video file (.avi, .mp4, ...) or a folder for the frames");
    fs::create_directories(output);
  }
  spdlog::info("{}: motion vectors {} ({}), no jitter", input, data::VideoFrames::kProvenance, flow);
  torch::NoGradGuard ng;
  net.to(device);
  archs::prepare_for_inference(net, {}, channels_last, bf16);
  std::unique_ptr<data::VideoWriter> writer;
  archs::TemporalState state;
  torch::Tensor rgb, motion;
  int64_t t = 0;
  double net_ms = 0;
  using Clock = std::chrono::steady_clock;
  while (video.next(rgb, motion)) {
    // A frame of another size (a stream that changes resolution) starts a new history.
    if (state.output.defined() && (state.output.size(2) != rgb.size(1) * net.scale() || state.output.size(3) != rgb.size(2) * net.scale()))
      state = {};
    const auto t0 = Clock::now();
    torch::Tensor out = archs::upscale_frame(net, {rgb.unsqueeze(0).to(device), motion.unsqueeze(0).to(device), torch::zeros({1, 2}, torch::TensorOptions(device))}, state)[0]
                            .to(torch::kCPU);
    net_ms += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!torch::isfinite(out).all().item<bool>())
      throw Error("the network produced non-finite values on frame " + std::to_string(t) + " of '" + input + "'");
    out = out.clamp(0, 1);
    if (to_video) {
      if (!writer) writer = std::make_unique<data::VideoWriter>(output, video.fps(), out.size(2), out.size(1));
      writer->write(out);
    } else {
      char name[32];
      std::snprintf(name, sizeof name, "%05lld.png", static_cast<long long>(t));
      io::write_image((fs::path(output) / name).string(), out);
    }
    ++t;
  }
  if (writer) writer->close();
  spdlog::info("{}: {} frames {}x{} -> {} at x{}; network {:.1f} ms per frame ({:.1f} fps)", input, t, video.width(), video.height(), output,
               net.scale(), net_ms / t, 1000.0 * t / net_ms);
  return 0;
}

}  // namespace

// tessera apply (alias: upscale): runs any image-to-image checkpoint (upscalers, style networks) on
// an image or a folder, tiled where the network allows it; temporal upscalers (and upscalers frame by
// frame) on sequence folders and video files.
Run add_apply(CLI::App& app) {
  struct Args {
    std::string checkpoint, input, output, device = "auto", tile = "auto", precision = "fp32", flow = "dis";
    int64_t overlap = -1;
    bool nchw = false;
  };
  auto a = std::make_shared<Args>();
  app.add_option("--checkpoint", a->checkpoint, "weights file (model.safetensors; a CycleGAN's generator_ab or generator_ba.safetensors), checkpoint directory or run directory (a CycleGAN run: A->B)")->required();
  app.add_option("input", a->input, "image file, folder of images, sequence folder(s) or a video file (docs/temporal_sr.md)")->required();
  app.add_option("--flow", a->flow, "video input: optical flow that estimates its motion vectors, dis or farneback")
      ->check(CLI::IsMember({"dis", "farneback"}));
  app.add_option("output", a->output, "output image file, or folder when the input is a folder (or sequences); a video file or a folder for a video")->required();
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
    keep_freed_memory();  // each layer's output reuses the last one's pages (docs/user_guide.md)
    archs::NetPtr net = load_for_command(a->checkpoint, {"model.safetensors", "generator_ab.safetensors"}, {"image_to_image", "temporal_upscaler"}, "apply");
    const bool bf16 = a->precision == "bf16";
    if (data::holds_sequences(a->input)) return apply_sequences(*net, a->input, a->output, resolve_device(a->device), !a->nchw, bf16);
    if (data::is_video_file(a->input)) return apply_video(*net, a->input, a->output, a->flow, resolve_device(a->device), !a->nchw, bf16);
    if (net->task() == "temporal_upscaler")
      throw ConfigError("'" + a->checkpoint + "' is a temporal upscaler: its input is a sequence folder (frames, motion vectors, jitter; docs/temporal.md), not '" +
                        a->input + "'");
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
