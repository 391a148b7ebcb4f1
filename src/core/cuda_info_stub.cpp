// Built instead of cuda/cuda_info.cu when tessera is configured without CUDA.
#include "tessera/core/cuda_info.h"

namespace tessera {
CudaInfo cuda_info() { return {}; }
}  // namespace tessera
