// ProcessGroupNCCL from the wheel's libtorch_cuda.so. nccl.h must be the NCCL version the wheel was
// built with (its version macros shape ProcessGroupNCCL::Options): the CUDA 13.0 toolkit's 2.28.9
// is the wheel's nvidia-nccl-cu13 2.28.9.
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include "dist_backends.h"

namespace tessera::dist {

c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                                    std::chrono::milliseconds timeout, torch::Device device) {
  c10::cuda::set_device(device.index() < 0 ? 0 : device.index());
  auto o = c10d::ProcessGroupNCCL::Options::create();
  o->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, o);
}

}  // namespace tessera::dist
