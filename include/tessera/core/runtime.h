// Process-wide runtime facts and settings: device choice, threads, seeding, logging, CPU features.
#pragma once
#include <spdlog/spdlog.h>
#include <torch/types.h>

#include <cstdint>
#include <string>

#include "tessera/core/cuda_info.h"

namespace tessera {

// "auto" picks CUDA when a GPU is visible, else CPU. "cuda" without a GPU is a ConfigError.
torch::Device resolve_device(const std::string& name);

// Seeds LibTorch's CPU (and CUDA) generators.
void seed_everything(uint64_t seed);

// Deterministic 64-bit mixing (splitmix64) for per-sample seeds: hash(seed, a, b) is the same on
// every run and every thread, so data augmentation does not depend on scheduling.
uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b = 0);

struct CpuFeatures {
  std::string model;
  bool avx2 = false, avx512f = false, avx512_bf16 = false, amx_bf16 = false, amx_tile = false;
  // oneDNN's bfloat16 convolutions need AVX-512 BW/VL/DQ or AVX-NE-CONVERT; elsewhere LibTorch
  // refuses them and bf16 convolutions take ATen's reference kernels.
  bool onednn_bf16 = false;
};
CpuFeatures cpu_features();  // read from /proc/cpuinfo once

// An on/off setting from the environment: unset or empty gives `fallback`, "1" true, "0" false;
// anything else is a ConfigError naming the variable.
bool env_flag(const char* name, bool fallback);

// Large tensors (a full-resolution activation is 100+ MB) are served from glibc's heap and their
// memory is kept when freed, instead of one fresh mmap per tensor that the kernel zero-fills page by
// page on first touch: the next layer's output reuses the last one's pages, as onnxruntime's arena
// does. Measured on EDSR x2 inference at 540p: 10.4 s -> 8.8 s (docs/benchmarks.md). The process
// keeps its peak heap until it exits. Called by `tessera apply` (the one command it was measured
// on; training's effect on it, fragmentation over hours included, is not measured);
// TESSERA_KEEP_FREED_MEMORY=0 turns it off (a bad value of it is a ConfigError).
void keep_freed_memory();


// Configures spdlog's default logger (console; plus a file when `file` is non-empty).
void setup_logging(const std::string& file = "", bool verbose = false);

}  // namespace tessera
