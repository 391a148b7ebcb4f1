// ONNX emitters: the ONNX ops a module's forward corresponds to, kept beside that forward. A module
// kind registers one emitter (keyed by its dynamic type); an arch's emitter calls emit() on its
// children. The builtin torch::nn layers and tessera's own layers are registered here; each arch
// file registers its own in its register_*_archs() function. The export layer (export/) only adds
// the graph's inputs, outputs and metadata around emit(net).
#pragma once
#include <torch/nn.h>

#include <array>
#include <functional>
#include <map>
#include <string>
#include <typeindex>
#include <vector>

#include "tessera/export/onnx_graph.h"

namespace tessera::exporter {

// Emits `module` applied to the value named `x`; returns the output value's name. `prefix` names
// the module's initializers and nodes (its state_dict prefix, so the graph reads like the weights).
using Emitter = std::function<std::string(OnnxGraph& g, torch::nn::Module& module, const std::string& x,
                                          const std::string& prefix)>;

void register_emitter(std::type_index type, Emitter e);
// Registers an emitter taking the module as its concrete type M.
template <class M>
void add_emitter(std::function<std::string(OnnxGraph&, M&, const std::string&, const std::string&)> f) {
  register_emitter(typeid(M), [f = std::move(f)](OnnxGraph& g, torch::nn::Module& m, const std::string& x, const std::string& p) {
    return f(g, dynamic_cast<M&>(m), x, p);
  });
}
// Emits any registered module kind; an unknown kind throws an Error naming the module.
std::string emit(OnnxGraph& g, torch::nn::Module& module, const std::string& x, const std::string& prefix);
// "prefix.name" (or "name" at the root).
std::string child_prefix(const std::string& prefix, const std::string& name);

// Choices an export makes that emitters follow, and what they learn while emitting.
struct EmitOptions {
  // PixelShuffle as DepthToSpace (CRD), or as an equivalent ConvTranspose with a 0/1 kernel.
  bool pixel_shuffle_as_conv_transpose = false;
};
// Holds the options (and the per-export state) while a graph is emitted on this thread.
class EmitScope {
 public:
  explicit EmitScope(EmitOptions opt);
  ~EmitScope();
  EmitScope(const EmitScope&) = delete;
  EmitScope& operator=(const EmitScope&) = delete;
};
const EmitOptions& emit_options();

// ---- helpers for emitters ----
// A float32 initializer holding `t` (any device/dtype).
std::string tensor_init(OnnxGraph& g, const std::string& name, const torch::Tensor& t);
// Conv with explicit stride and symmetric padding per axis; records the output's channel count.
std::string conv_node(OnnxGraph& g, const std::string& x, const torch::Tensor& w, const torch::Tensor& b, const std::string& prefix,
                      std::array<int64_t, 2> stride = {1, 1}, std::array<int64_t, 2> padding = {-1, -1} /* -1: same (k/2) */);
// Channel count of a value produced by a convolution (0 when unknown).
int64_t channels_of(const std::string& value);
// (x - mean) / sqrt(var + eps) over `axes` (biased variance, as LayerNorm/GroupNorm), then
// * weight + bias when given (shaped to broadcast). Plain ops: LayerNormalization needs opset 17.
std::string normalize_over(OnnxGraph& g, const std::string& x, const std::vector<int64_t>& axes, double eps,
                           const torch::Tensor& weight, const torch::Tensor& bias, const std::string& prefix);
std::string concat(OnnxGraph& g, const std::vector<std::string>& xs, int64_t axis, const std::string& name);
std::string reshape(OnnxGraph& g, const std::string& x, const std::vector<int64_t>& shape, const std::string& name);

void register_layer_emitters();

}  // namespace tessera::exporter
