// CPU kernels compiled once per instruction set (src/CMakeLists.txt: DEFAULT, AVX2, AVX512), as
// ATen compiles its own: each build defines CPU_CAPABILITY and CPU_CAPABILITY_<cap>, which make
// at::vec use that instruction set, and puts the kernel in namespace tessera::ops::cpu::<cap>.
// TESSERA_CPU_KERNEL(name) picks the build for this machine from ATen's own detection, so the
// ATEN_CPU_CAPABILITY environment variable lowers it for tessera's kernels as for ATen's.
#pragma once
#include <ATen/Version.h>
#include <c10/util/Exception.h>

#include <cstdint>
#include <string>

// Declares `decl` (a function declaration) in each capability's namespace.
#define TESSERA_CPU_KERNEL_DECL(decl)          \
  namespace tessera::ops::cpu::DEFAULT { decl; } \
  namespace tessera::ops::cpu::AVX2 { decl; }    \
  namespace tessera::ops::cpu::AVX512 { decl; }

namespace tessera::ops::cpu {

// ATen's choice ("DEFAULT", "AVX2", "AVX512"), read once.
inline const std::string& capability() {
  static const std::string cap = at::get_cpu_capability();
  return cap;
}

// The build for capability `cap` ("DEFAULT", "AVX2", "AVX512"; tests run each build the CPU can).
template <class F>
F pick_for(const std::string& cap, F fallback, F avx2, F avx512) {
  TORCH_CHECK(cap == "DEFAULT" || cap == "AVX2" || cap == "AVX512", "no CPU kernel build '", cap, "'");
  return cap == "AVX512" ? avx512 : cap == "AVX2" ? avx2 : fallback;
}

template <class F>
F pick(F fallback, F avx2, F avx512) {
  return pick_for(capability(), fallback, avx2, avx512);
}

}  // namespace tessera::ops::cpu

#define TESSERA_CPU_KERNEL(name) \
  ::tessera::ops::cpu::pick(&::tessera::ops::cpu::DEFAULT::name, &::tessera::ops::cpu::AVX2::name, &::tessera::ops::cpu::AVX512::name)
#define TESSERA_CPU_KERNEL_FOR(cap, name)                                                                    \
  ::tessera::ops::cpu::pick_for(cap, &::tessera::ops::cpu::DEFAULT::name, &::tessera::ops::cpu::AVX2::name, \
                                &::tessera::ops::cpu::AVX512::name)

// The number of threads at::parallel_for runs the kernels on (cpu_threads.cpp; for a test).
TESSERA_CPU_KERNEL_DECL(int64_t parallel_width())
