// How many threads at::parallel_for gives the ops' CPU kernels, compiled like them (once per
// instruction set, with OpenMP): a test checks it against at::get_num_threads(), so a build that
// drops OpenMP (at::parallel_for's `#pragma omp parallel` then runs on one thread) fails a test.
#include <ATen/Parallel.h>

#include <mutex>
#include <set>

#include "cpu_dispatch.h"

namespace tessera::ops::cpu::CPU_CAPABILITY {

int64_t parallel_width() {
  std::mutex mu;
  std::set<int> ids;
  at::parallel_for(0, 1024, 1, [&](int64_t, int64_t) {
    std::lock_guard<std::mutex> lock(mu);
    ids.insert(at::get_thread_num());
  });
  return static_cast<int64_t>(ids.size());
}

}  // namespace tessera::ops::cpu::CPU_CAPABILITY
