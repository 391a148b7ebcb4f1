#include <spdlog/spdlog.h>

#include "commands.h"
#include "tessera/archs/checkpoint.h"
#include "tessera/export/onnx_export.h"

namespace tessera::cli {

Run add_export(CLI::App& app) {
  struct Args {
    std::string checkpoint, output;
    int opset = 17;
  };
  auto a = std::make_shared<Args>();
  app.add_option("--checkpoint", a->checkpoint, "weights file (model.safetensors)")->required();
  app.add_option("--output", a->output, "ONNX file to write")->required();
  app.add_option("--opset", a->opset, "ONNX opset (13..17)");
  return [a] {
    archs::NetPtr net = archs::load_net_checkpoint(a->checkpoint);
    exporter::export_onnx_file(*net, a->output, {a->opset});
    spdlog::info("wrote {} ({} x{}, opset {}; input 'input' float32 NCHW RGB in [0,1], dynamic batch/height/width)",
                 a->output, net->type(), net->scale(), a->opset);
    return 0;
  };
}

}  // namespace tessera::cli
