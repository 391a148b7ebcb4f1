#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>

#include "args.h"
#include "commands.h"
#include "tessera/archs/checkpoint.h"
#include "tessera/core/runtime.h"
#include "tessera/io/image_io.h"
#include "tessera/recipes/generative.h"

namespace tessera::cli {

namespace fs = std::filesystem;

Run add_sample(CLI::App& app) {
  struct Args {
    std::string checkpoint, output, mode = "grid", device = "auto";
    int64_t n = 64, class_id = -1, steps = 10, nrow = 0;
    uint64_t seed = 0;
  };
  auto a = std::make_shared<Args>();
  app.add_option("--checkpoint", a->checkpoint, "generator.safetensors (GAN) or model.safetensors (AE/VAE), or their checkpoint or run directory")->required();
  app.add_option("--output", a->output, "PNG file (grid, interpolate), folder (images) or .csv (2D samples)")->required();
  app.add_option("--mode", a->mode, "grid | images | interpolate")->check(CLI::IsMember({"grid", "images", "interpolate"}));
  app.add_option("--n", a->n, "number of samples (interpolate: number of rows)")->check(integer_in(1, 1 << 20));
  app.add_option("--steps", a->steps, "images per interpolation row")->check(integer_in(2, 1000));
  app.add_option("--nrow", a->nrow, "images per grid row (default: square)")->check(integer_in(1, 1 << 20));
  app.add_option("--class", a->class_id, "class of every sample (conditional generators; default: cycle over classes)")->check(integer_in(0, 1 << 20));
  app.add_option("--seed", a->seed, "latent seed");
  app.add_option("--device", a->device, "auto, cpu or cuda");
  return [a] {
    archs::NetPtr holder = load_for_command(a->checkpoint, {"generator.safetensors", "model.safetensors"}, {"generator", "autoencoder"}, "sample");
    archs::GeneratorImpl* gen = archs::as_generator(*holder);
    torch::Device device = resolve_device(a->device);
    holder->to(device);
    if (a->class_id >= 0 && (gen->num_classes() == 0 || a->class_id >= gen->num_classes()))
      throw ConfigError("--class " + std::to_string(a->class_id) + ": the generator has " + std::to_string(gen->num_classes()) + " classes");
    if (gen->sample_shape().size() == 1) {
      torch::Tensor pts = recipes::sample_points(*gen, a->n, a->seed, device).contiguous();
      std::ofstream out(a->output);
      if (!out) throw Error("cannot write '" + a->output + "'");
      for (int64_t i = 0; i < pts.size(0); ++i) {
        for (int64_t j = 0; j < pts.size(1); ++j) out << (j ? "," : "") << pts[i][j].item<float>();
        out << "\n";
      }
      spdlog::info("wrote {} samples to {}", a->n, a->output);
      return 0;
    }
    if (a->mode == "images") {
      torch::Tensor imgs = recipes::sample_images(*gen, a->n, a->seed, device, a->class_id);
      fs::create_directories(a->output);
      for (int64_t i = 0; i < imgs.size(0); ++i) {
        char name[32];
        std::snprintf(name, sizeof(name), "sample_%05lld.png", static_cast<long long>(i));
        torch::Tensor im = imgs[i].size(0) == 1 ? imgs[i].expand({3, -1, -1}) : imgs[i];
        io::write_image((fs::path(a->output) / name).string(), im);
      }
    } else if (a->mode == "grid") {
      const int64_t nrow = a->nrow > 0 ? a->nrow : static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(a->n))));
      io::write_image(a->output, recipes::make_grid(recipes::sample_images(*gen, a->n, a->seed, device, a->class_id), nrow));
    } else {
      io::write_image(a->output, recipes::make_grid(recipes::interpolate_images(*gen, a->n, a->steps, a->seed, device), a->steps));
    }
    spdlog::info("wrote {} ({} {})", a->output, a->mode, gen->type());
    return 0;
  };
}

}  // namespace tessera::cli
