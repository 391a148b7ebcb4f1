// ONNX export in C++ (LibTorch has none). Each module kind's emitter (nn/onnx_emit.h, kept beside
// the module's forward) writes its ops; this layer adds the graph's inputs, outputs and metadata.
// Image networks take float32 NCHW RGB in [0, 1] as `input` with dynamic batch, height and width
// (fixed sizes where the network fixes them); generators take `z` (and `label`); conditional
// critics also take `label`. The one output is `output`: what the network's forward returns.
#pragma once
#include <string>

#include "tessera/archs/net.h"
#include "tessera/export/onnx_graph.h"
#include "tessera/nn/onnx_emit.h"

namespace tessera::exporter {

struct ExportOptions {
  int opset = 17;
  // 0 = dynamic (dim_param). Fixed sizes are for runtimes that need static shapes (OpenCV 4.6's
  // importer turns DepthToSpace into reshapes computed at import time).
  int64_t batch = 0, height = 0, width = 0;
  // PixelShuffle as DepthToSpace (CRD), or as an equivalent ConvTranspose with a 0/1 kernel
  // (stride = kernel = r): a little more arithmetic, but runtimes that resolve DepthToSpace at
  // import time (OpenCV 4.6's dnn) then run any input size.
  bool pixel_shuffle_as_conv_transpose = false;
};

// Builds, checks (onnx::checker + shape inference) and returns the serialised model.
std::string export_onnx(archs::NetImpl& net, const ExportOptions& opt = {});
// Writes the model atomically.
void export_onnx_file(archs::NetImpl& net, const std::string& path, const ExportOptions& opt = {});

}  // namespace tessera::exporter
