// Vector math shared by the CPU kernels, compiled into each instruction set's build (include it
// inside the kernel's namespace tessera::ops::cpu::CPU_CAPABILITY, after at::vec).
#pragma once

// tanh as the rational function of Eigen's and onnxruntime's (MLAS) fast tanh: odd degree-13 over
// even degree-6 polynomials of x clamped to +-7.9053, x itself below 4e-4. At most 5e-7 from tanh
// (tests/ops); ATen's vectorised tanh (Sleef, 1 ulp) took longer than a whole stem convolution.
template <class V>
inline V fast_tanh(V x) {
  const V clamp(7.90531110763549805f);
  const V xc = at::vec::minimum(at::vec::maximum(x, V(-7.90531110763549805f)), clamp);
  const V x2 = xc * xc;
  V p = at::vec::fmadd(x2, V(-2.76076847742355e-16f), V(2.00018790482477e-13f));
  p = at::vec::fmadd(x2, p, V(-8.60467152213735e-11f));
  p = at::vec::fmadd(x2, p, V(5.12229709037114e-08f));
  p = at::vec::fmadd(x2, p, V(1.48572235717979e-05f));
  p = at::vec::fmadd(x2, p, V(6.37261928875436e-04f));
  p = at::vec::fmadd(x2, p, V(4.89352455891786e-03f));
  p = p * xc;
  V q = at::vec::fmadd(x2, V(1.19825839466702e-06f), V(1.18534705686654e-04f));
  q = at::vec::fmadd(x2, q, V(2.26843463243900e-03f));
  q = at::vec::fmadd(x2, q, V(4.89352518554385e-03f));
  return V::blendv(p / q, x, x.abs() < V(4e-4f));
}

// The activation the convolution kernels fuse into their stores (conv_epilogue::Activation).
template <conv_epilogue::Activation A, class V>
inline V activate(V v) {
  if constexpr (A == conv_epilogue::Activation::relu) return at::vec::maximum(v, V(0.f));
  if constexpr (A == conv_epilogue::Activation::tanh) return fast_tanh(v);
  return v;
}
