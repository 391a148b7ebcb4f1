// Builds without CUDA: NCCL is not there to join.
#include "dist_backends.h"
#include "tessera/core/error.h"

namespace tessera::dist {

c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>&, int, int, std::chrono::milliseconds,
                                                    torch::Device) {
  throw ConfigError("--dist-backend nccl: this tessera was built without CUDA (TESSERA_CUDA=OFF)");
}

}  // namespace tessera::dist
