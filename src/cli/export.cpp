#include <spdlog/spdlog.h>

#include "args.h"
#include "commands.h"
#include "tessera/archs/checkpoint.h"
#include "tessera/archs/generative.h"
#include "tessera/export/onnx_export.h"

namespace tessera::cli {

Run add_export(CLI::App& app) {
  struct Args {
    std::string checkpoint, output;
    int opset = 17;
    int64_t batch = 0;
    std::string size;
    bool shuffle_as_conv = false;
  };
  auto a = std::make_shared<Args>();
  app.add_option("--checkpoint", a->checkpoint, "weights file (model.safetensors), checkpoint directory or run directory")->required();
  app.add_option("--output", a->output, "ONNX file to write")->required();
  app.add_option("--opset", a->opset, "ONNX opset (13..17)")->check(integer_in(13, 17));
  app.add_option("--batch", a->batch, "fixed batch size (default 0: dynamic)")->check(integer_in(0, 1 << 20));
  app.add_option("--input-size", a->size, "fixed LR input size HxW, for runtimes that need static shapes (default: dynamic)");
  app.add_flag("--pixel-shuffle-as-conv", a->shuffle_as_conv,
               "write PixelShuffle as ConvTranspose instead of DepthToSpace (OpenCV dnn with dynamic sizes)");
  return [a] {
    exporter::ExportOptions opt;
    opt.opset = a->opset;
    opt.batch = a->batch;
    opt.pixel_shuffle_as_conv_transpose = a->shuffle_as_conv;
    if (!a->size.empty()) {
      long long h = 0, w = 0;
      char x = 0;
      if (std::sscanf(a->size.c_str(), "%lld%c%lld", &h, &x, &w) != 3 || (x != 'x' && x != 'X') || h <= 0 || w <= 0)
        throw ConfigError("--input-size '" + a->size + "' must look like 256x320 (height x width)");
      opt.height = h;
      opt.width = w;
    }
    archs::NetPtr net = load_for_command(a->checkpoint, {"model.safetensors", "generator.safetensors", "generator_ab.safetensors"},
                                         {"image_to_image", "generator", "autoencoder", "critic", "classifier", "feature_extractor", "temporal_upscaler"}, "export");
    exporter::export_onnx_file(*net, a->output, opt);
    std::string inputs = archs::as_generator(*net)                  ? "input 'z' (latent code)"
                         : net->task() == "temporal_upscaler" ? "inputs 'frame', 'motion', 'jitter', 'history', 'has_history' (one frame step)"
                                                              : "input 'input' float32 NCHW in [0,1]";
    if (net->task() == "image_to_image") inputs += opt.height > 0 ? ", fixed size " + a->size : ", dynamic batch/height/width";
    spdlog::info("wrote {} ({} {}, opset {}; {}; output 'output')", a->output, net->type(), net->task(), a->opset, inputs);
    return 0;
  };
}

}  // namespace tessera::cli
