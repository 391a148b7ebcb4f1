// tessera: train, evaluate, run and export image models. Exit codes: 0 success, 2 usage or config
// error, 1 runtime failure.
#include <spdlog/spdlog.h>

#include <iostream>

#include "commands.h"
#include "tessera/build_info.h"
#include "tessera/core/config.h"
#include "tessera/core/error.h"
#include "tessera/io/image_io.h"
#include "tessera/core/runtime.h"

int main(int argc, char** argv) {
  CLI::App app{"tessera " TESSERA_VERSION ": training framework for super-resolution, generative models and style transfer"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(TESSERA_VERSION " (" TESSERA_GIT_SHA ")"));
  std::vector<std::pair<CLI::App*, tessera::cli::Run>> commands;
  auto add = [&](const char* name, const char* help, tessera::cli::Run (*fn)(CLI::App&)) {
    CLI::App* sub = app.add_subcommand(name, help);
    commands.emplace_back(sub, fn(*sub));
  };
  add("train", "Train a model from a YAML config", tessera::cli::add_train);
  add("eval", "Evaluate a checkpoint (PSNR/SSIM against bicubic)", tessera::cli::add_eval);
  add("apply", "Run an image-to-image network (upscaler, style network) on an image or a folder",
      tessera::cli::add_apply);
  commands.back().first->alias("upscale");
  add("sample", "Write samples, a grid or interpolations from a generator or VAE", tessera::cli::add_sample);
  add("stylize", "Neural style transfer by optimisation (Gatys et al.)", tessera::cli::add_stylize);
  add("export", "Export a checkpoint to ONNX", tessera::cli::add_export);
  add("profile", "Profile a config's training step (operators by self time)", tessera::cli::add_profile);
  add("interpolate", "Blend two checkpoints of one architecture: (1 - alpha) A + alpha B (ESRGAN's network interpolation)",
      tessera::cli::add_interpolate);
  add("sequences", "Make synthetic frame sequences (jittered low-res frames, motion vectors, targets) for temporal SR",
      tessera::cli::add_sequences);
  add("info", "Print library versions, devices and CPU features", tessera::cli::add_info);
  if (argc >= 2 && argv[1][0] != '-') {
    std::vector<std::string> names;
    for (auto& [sub, run] : commands) {
      names.push_back(sub->get_name());
      for (const auto& al : sub->get_aliases()) names.push_back(al);
    }
    if (std::find(names.begin(), names.end(), argv[1]) == names.end()) {
      std::string list, near = tessera::nearest(argv[1], names);
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      std::cerr << "tessera: unknown command '" << argv[1] << "'" << (near.empty() ? "" : "; did you mean '" + near + "'?")
                << "\ncommands: " << list << " (tessera --help for more)\n";
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  tessera::setup_logging();
  try {
    // Environment settings read deep inside (where a loader's skip_bad would take a bad value for a
    // bad image) are checked once here.
    tessera::io::max_image_pixels();
    tessera::env_flag("TESSERA_WINOGRAD", true);
    tessera::env_flag("TESSERA_KEEP_FREED_MEMORY", true);
    for (auto& [sub, run] : commands)
      if (sub->parsed()) return run();
  } catch (const tessera::ConfigError& e) {
    spdlog::error("{}", e.what());
    return 2;
  } catch (const tessera::Error& e) {
    spdlog::error("{}", e.what());
    return 1;
  } catch (const c10::Error& e) {
    // An input tessera does not check yet, or a bug: say so instead of leaving LibTorch's words alone.
    spdlog::error("LibTorch refused an operation (an input tessera does not check yet, or a tessera bug: please report it with "
                  "the command): {}", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    spdlog::error("unexpected error (please report it with the command): {}", e.what());
    return 1;
  }
  return 2;
}
