// The generic training loop: batches to recipe.train_step, progress and logs, validation cadence,
// atomic checkpoints (keep last N and the best), exact resume, SIGINT/SIGTERM handling.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "tessera/dist/dist.h"
#include "tessera/recipes/recipe.h"

namespace tessera::recipes {

struct TrainerOptions {
  std::string name = "run";
  uint64_t seed = 0;
  std::string device = "auto";
  int threads = 0;           // intra-op threads; 0 = LibTorch's default
  int64_t total_steps = 1000;
  int64_t log_every = 100;
  int64_t val_every = 1000;  // 0 = only at the end
  int64_t save_every = 1000; // 0 = only at the end
  int64_t keep_last = 3;
  static TrainerOptions from_yaml(Cfg& root);
  static std::string run_name(Cfg& root);  // `name`, checked to be usable as a folder name  // reads name, seed, device, threads and the `trainer` section
};

struct TrainArgs {
  std::string config_file;
  std::vector<std::string> overrides;
  std::string resume;   // "", "auto", or a checkpoint/run directory
  std::string run_dir;  // default runs/<name>
  int64_t stop_after = -1;  // testing aid: stop (as if interrupted) once this step is reached
  dist::InitOptions dist;   // --dist-backend, --dist-timeout (used under torchrun; docs/distributed.md)
};

// Everything a config builds, every key checked (unknown keys, ranges, cross-checks): what `train`
// runs, and what the test of every config in configs/ builds.
struct Training {
  TrainerOptions options;
  torch::Device device = torch::kCPU;
  data::DatasetPtr train, val;
  data::LoaderOptions loader;
  RecipePtr recipe;
  YAML::Node resolved;  // the whole config as used, every default filled in (no _meta yet)
  YAML::Node input;     // the config as given (file + overrides)
  // Under a distributed launch (WORLD_SIZE > 1): this rank's membership of the process group,
  // joined before the networks are built (their initial weights are broadcast from rank 0).
  std::shared_ptr<dist::Session> dist;
};
// Seeds LibTorch's generators with the config's seed before building the networks. With WORLD_SIZE
// set (torchrun) it joins the process group with `dist_opt`, on cuda:LOCAL_RANK for CUDA devices.
Training build_training(YAML::Node root, const std::string& file, const dist::InitOptions& dist_opt = {});

// One training step as the Trainer runs it: recipe.train_step, then the mixed-precision bookkeeping
// (the loss scaler's update once per iteration, `loss_scale` logged; the Trainer leaves the
// non-finite losses of a step the scaler skipped out of its averages). `tessera profile` runs its
// steps through this too.
Scalars run_train_step(Recipe& recipe, const data::Batch& batch, int64_t step);

// Runs a whole training from a config file. Returns the process exit code.
int train(const TrainArgs& args);

// Checkpoint directories of a run, newest first (complete ones only: step_NNNNNNNN, no .tmp).
std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& run_dir);

}  // namespace tessera::recipes
