#include "tessera/core/runtime.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <torch/cuda.h>
#include <torch/utils.h>

#include <malloc.h>

#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tessera/core/error.h"

namespace tessera {

torch::Device resolve_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  if (name.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available())
      throw ConfigError("device '" + name + "' requested but no CUDA GPU is available; use device: cpu or auto");
    return torch::Device(name);
  }
  throw ConfigError("unknown device '" + name + "'; use auto, cpu, cuda or cuda:N");
}

void seed_everything(uint64_t seed) {
  torch::manual_seed(seed);
  if (torch::cuda::is_available()) torch::cuda::manual_seed_all(seed);
}

uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b) {
  auto sm = [](uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  };
  return sm(sm(sm(seed) ^ a) ^ (b * 0x632be59bd9b4e019ULL));
}

static CpuFeatures read_cpu_features() {
  CpuFeatures f;
  std::ifstream in("/proc/cpuinfo");
  std::string line, flags;
  while (std::getline(in, line)) {
    if (f.model.empty() && line.rfind("model name", 0) == 0) f.model = line.substr(line.find(':') + 2);
    if (flags.empty() && line.rfind("flags", 0) == 0) flags = " " + line.substr(line.find(':') + 1) + " ";
  }
  auto has = [&](const char* s) { return flags.find(std::string(" ") + s + " ") != std::string::npos; };
  f.avx2 = has("avx2");
  f.avx512f = has("avx512f");
  f.avx512_bf16 = has("avx512_bf16");
  f.amx_bf16 = has("amx_bf16");
  f.amx_tile = has("amx_tile");
  f.onednn_bf16 = (has("avx512bw") && has("avx512vl") && has("avx512dq")) || has("avx_ne_convert");
  return f;
}

bool env_flag(const char* name, bool fallback) {
  const char* env = std::getenv(name);
  if (env == nullptr || *env == '\0') return fallback;
  const std::string v(env);
  if (v != "0" && v != "1") throw ConfigError(std::string(name) + "='" + v + "': use 1 (on) or 0 (off)");
  return v == "1";
}

void keep_freed_memory() {
  if (!env_flag("TESSERA_KEEP_FREED_MEMORY", true)) return;
#if defined(__GLIBC__)
  mallopt(M_MMAP_MAX, 0);                // no per-allocation mmap: large blocks come from the heap
  mallopt(M_TRIM_THRESHOLD, INT_MAX);  // and freed ones stay there for the next allocation
#endif
}

CpuFeatures cpu_features() {
  static const CpuFeatures f = read_cpu_features();
  return f;
}

void setup_logging(const std::string& file, bool verbose) {
  std::vector<spdlog::sink_ptr> sinks;
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  console->set_pattern("%^[%H:%M:%S %l]%$ %v");
  sinks.push_back(console);
  if (!file.empty()) {
    auto fs = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file, false);
    fs->set_pattern("[%Y-%m-%d %H:%M:%S.%e %l] %v");
    sinks.push_back(fs);
  }
  auto logger = std::make_shared<spdlog::logger>("tessera", sinks.begin(), sinks.end());
  logger->set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace tessera
