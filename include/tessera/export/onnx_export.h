// ONNX export in C++ (LibTorch has none): one emitter per module kind writes that module's ops
// into an OnnxGraph. Graphs take and return float32 NCHW RGB in [0, 1] with dynamic batch, height
// and width, like the CLI's images.
#pragma once
#include <functional>
#include <string>
#include <typeindex>

#include "tessera/archs/net.h"
#include "tessera/export/onnx_graph.h"

namespace tessera::exporter {

// Emits `module` applied to the value named `x`; returns the output value's name.
using Emitter = std::function<std::string(OnnxGraph& g, torch::nn::Module& module, const std::string& x,
                                          const std::string& prefix)>;

// Registers the emitter for a module type (keyed by its dynamic type).
void register_emitter(std::type_index type, Emitter e);
// Emits any registered module kind; unknown kinds throw an Error naming the module.
std::string emit(OnnxGraph& g, torch::nn::Module& module, const std::string& x, const std::string& prefix);
void register_builtin_emitters();

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
