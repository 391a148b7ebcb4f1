// Benchmark: one training step of the cyclegan or esrgan recipe, as `tessera train` runs it (the
// recipe built from its config, every key checked; recipes::run_train_step on a fixed batch).
// bench/image_gan_step.py runs this beside junyanz's / BasicSR's step in PyTorch Python.
//   tessera_bench_image_gan CONFIG [--iters 10] [--warmup 2] [--threads 0] [key=value overrides...]
// Prints one JSON line: {"seconds_per_step": ...}.
#include <chrono>
#include <cstdio>
#include <string>

#include "tessera/core/runtime.h"
#include "tessera/recipes/trainer.h"

using namespace tessera;

int run(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: tessera_bench_image_gan CONFIG [--iters N] [--warmup N] [--threads N] [overrides]\n");
    return 2;
  }
  int64_t iters = 10, warmup = 2, threads = 0;
  std::vector<std::string> overrides;
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if ((k == "--iters" || k == "--warmup" || k == "--threads") && i + 1 < argc) {
      const int64_t v = std::stoll(argv[++i]);
      (k == "--iters" ? iters : k == "--warmup" ? warmup : threads) = v;
    } else {
      overrides.push_back(k);
    }
  }
  if (threads > 0) torch::set_num_threads(static_cast<int>(threads));
  YAML::Node root = load_yaml_file(argv[1]);
  apply_overrides(root, overrides);
  recipes::Training t = recipes::build_training(root, argv[1]);
  data::Batch batch = data::collate([&] {
    std::vector<data::Batch> s;
    for (int64_t i = 0; i < t.loader.batch_size; ++i) s.push_back(t.train->get(static_cast<size_t>(i), 1234 + i));
    return s;
  }());
  for (int64_t i = 0; i < warmup; ++i) recipes::run_train_step(*t.recipe, batch, i);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iters; ++i) recipes::run_train_step(*t.recipe, batch, warmup + i);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / static_cast<double>(iters);
  std::printf("{\"seconds_per_step\": %.6f}\n", s);
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
