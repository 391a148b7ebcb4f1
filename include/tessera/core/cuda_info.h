// CUDA runtime facts, from a translation unit compiled by nvcc (zeros when built without CUDA).
// Plain C++ on purpose: nvcc compiles its definition without the torch headers.
#pragma once

namespace tessera {

struct CudaInfo {
  bool compiled = false;     // built with the CUDA kernels
  int runtime_version = 0;   // e.g. 13000
  int driver_version = 0;    // 0 when no driver is installed
  int device_count = 0;
};
CudaInfo cuda_info();

}  // namespace tessera
