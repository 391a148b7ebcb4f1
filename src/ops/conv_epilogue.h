// What tessera's two inference convolution kernels (src/ops/stem_conv, src/ops/winograd) share:
// the activation fused into their stores, its parsing, and the width of their blocks of output
// channels. Private to src/ops.
#pragma once
#include <c10/util/Exception.h>

#include <cstdint>
#include <string>
#include <type_traits>

namespace tessera::ops::conv_epilogue {

enum class Activation { none, relu, tanh };

// "none", "relu" or "tanh"; anything else is an error naming `op`.
inline Activation parse_activation(const std::string& name, const char* op) {
  TORCH_CHECK(name == "none" || name == "relu" || name == "tanh", op, ": activation must be none, relu or tanh, got '", name, "'");
  return name == "none" ? Activation::none : name == "relu" ? Activation::relu : Activation::tanh;
}

// Calls f(std::integral_constant<Activation, a>{}): the kernels are templates on the activation.
template <class F>
void with_activation(Activation a, F&& f) {
  switch (a) {
    case Activation::none: f(std::integral_constant<Activation, Activation::none>{}); break;
    case Activation::relu: f(std::integral_constant<Activation, Activation::relu>{}); break;
    case Activation::tanh: f(std::integral_constant<Activation, Activation::tanh>{}); break;
  }
}

// Output channels are computed in blocks of this many vectors (weights zero-padded to whole
// blocks): a register tile is PX pixels x kBlockVectors vectors of accumulators.
constexpr int64_t kBlockVectors = 2;

}  // namespace tessera::ops::conv_epilogue
