// CUDA runtime facts for `tessera info`, compiled by nvcc whenever it is found.
#include <cuda_runtime.h>

#include "tessera/core/cuda_info.h"

namespace tessera {

CudaInfo cuda_info() {
  CudaInfo info;
  info.compiled = true;
  cudaRuntimeGetVersion(&info.runtime_version);
  if (cudaDriverGetVersion(&info.driver_version) != cudaSuccess) info.driver_version = 0;
  if (cudaGetDeviceCount(&info.device_count) != cudaSuccess) {
    info.device_count = 0;
    cudaGetLastError();  // clear the sticky "no device" error
  }
  return info;
}

}  // namespace tessera
