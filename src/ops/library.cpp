// The `tessera` op namespace and what the library says about itself.
#include <torch/library.h>

#include "cpu_dispatch.h"
#include "tessera/ops/ops.h"

namespace tessera::ops {

bool cuda_kernels_compiled() {
#ifdef TESSERA_OPS_CUDA
  return true;
#else
  return false;
#endif
}

int64_t testing::kernel_threads() { return TESSERA_CPU_KERNEL(parallel_width)(); }

}  // namespace tessera::ops
