#include <spdlog/spdlog.h>

#include <filesystem>

#include "args.h"
#include "commands.h"
#include "tessera/archs/checkpoint.h"
#include "tessera/io/files.h"

namespace tessera::cli {

// `tessera interpolate --alpha 0.8 A B --output C`: ESRGAN's network interpolation between a
// PSNR-oriented model A and a GAN-trained model B of the same architecture.
Run add_interpolate(CLI::App& app) {
  struct Args {
    std::string a, b, output;
    double alpha = 0.8;
  };
  auto args = std::make_shared<Args>();
  app.add_option("a", args->a, "the first weights (ESRGAN: the PSNR-oriented model): file, checkpoint or run directory")->required();
  app.add_option("b", args->b, "the second weights (ESRGAN: the GAN-trained model), same architecture")->required();
  app.add_option("--alpha", args->alpha, "weight of b: the result is (1 - alpha) a + alpha b")->check(CLI::Range(0.0, 1.0));
  app.add_option("--output", args->output, "weights file to write (safetensors)")->required();
  return [args] {
    const std::vector<std::string> names{"model.safetensors", "generator.safetensors"};
    const std::string pa = recipes::resolve_weights(args->a, names), pb = recipes::resolve_weights(args->b, names);
    namespace fs = std::filesystem;
    for (const auto& in : {pa, pb})
      if (fs::exists(args->output) && io::same_file(args->output, in))
        throw ConfigError("--output '" + args->output + "' is one of the inputs: write the blend to a new file");
    io::TensorFile blended = archs::interpolate_weights(io::load_safetensors(pa), io::load_safetensors(pb), args->alpha, pa, pb);
    io::save_safetensors(args->output, blended);
    archs::load_net_checkpoint(args->output);  // the result loads as a network
    spdlog::info("wrote {}: (1 - {:g}) {} + {:g} {} ({} tensors)", args->output, args->alpha, pa, args->alpha, pb, blended.tensors.size());
    return 0;
  };
}

}  // namespace tessera::cli
