#include <torch/cuda.h>

#include <cstdio>

#include "commands.h"
#include "tessera/build_info.h"
#include "tessera/core/runtime.h"

namespace tessera::cli {

Run add_info(CLI::App& app) {
  return [] {
    CpuFeatures cpu = cpu_features();
    CudaInfo cuda = cuda_info();
    std::printf("tessera      %s (%s)\n", TESSERA_VERSION, TESSERA_GIT_SHA);
    std::printf("LibTorch     %s\n", TESSERA_TORCH_VERSION);
    std::printf("OpenCV       %s\n", TESSERA_OPENCV_VERSION);
    std::printf("CUDA kernels %s (runtime %d.%d, driver %d.%d)\n", cuda.compiled ? "built" : "not built",
                cuda.runtime_version / 1000, (cuda.runtime_version % 1000) / 10, cuda.driver_version / 1000,
                (cuda.driver_version % 1000) / 10);
    std::printf("cuDNN        %s\n", torch::cuda::cudnn_is_available() ? "available" : "not available");
    std::printf("GPUs         %d\n", torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0);
    std::printf("CPU          %s\n", cpu.model.c_str());
    std::printf("CPU ISA      avx2 %s, avx512f %s, avx512_bf16 %s, amx_tile %s, amx_bf16 %s\n", cpu.avx2 ? "yes" : "no",
                cpu.avx512f ? "yes" : "no", cpu.avx512_bf16 ? "yes" : "no", cpu.amx_tile ? "yes" : "no",
                cpu.amx_bf16 ? "yes" : "no");
    std::printf("threads      %d intra-op, %d inter-op\n", torch::get_num_threads(), torch::get_num_interop_threads());
    return 0;
  };
}

}  // namespace tessera::cli
