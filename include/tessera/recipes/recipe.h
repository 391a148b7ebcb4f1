// A recipe is a training procedure: it owns its networks, losses, optimizers, schedules and EMA,
// and the step logic. The generic Trainer feeds it batches and owns everything else.
#pragma once
#include <torch/serialize.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tessera/core/error.h"
#include "tessera/core/registry.h"
#include "tessera/data/dataset.h"
#include "tessera/io/safetensors.h"

namespace tessera::recipes {

using Scalars = std::map<std::string, double>;

// SIGINT/SIGTERM during `tessera train` set a stop request that the Trainer honours after the
// current step. Long loops outside train_step (validation, generative scoring) call check_stop()
// between images or batches: it throws StopRequested, which the Trainer turns into a clean exit with
// the step's checkpoint already saved (a resumed run validates that step first). Outside training
// (no request can be set) it does nothing.
struct StopRequested : Error {
  using Error::Error;
};
void check_stop();
class Precision;

struct ValResult {
  Scalars metrics;                                           // logged as val/<name>
  std::vector<std::pair<std::string, torch::Tensor>> images;  // [3,H,W] in [0,1], for samples/ and TensorBoard
};

class Recipe {
 public:
  virtual ~Recipe() = default;
  virtual Scalars train_step(const data::Batch& batch, int64_t step) = 0;
  // `val` is the data.val dataset, or null when the config has none.
  virtual ValResult validate(const data::Dataset* val, int64_t step) = 0;
  // Metric in ValResult.metrics that picks the best checkpoint ("" = none) and its direction.
  virtual std::string best_metric() const { return ""; }
  virtual bool higher_is_better() const { return true; }
  // Weight files written into each checkpoint (name -> contents), e.g. model.safetensors.
  virtual std::vector<std::pair<std::string, io::TensorFile>> weight_files() = 0;
  virtual void save_state(torch::serialize::OutputArchive& ar) = 0;
  virtual void load_state(torch::serialize::InputArchive& ar) = 0;
  // Cross-checks of the config that need the built datasets (an upscaler's scale against the data's),
  // run when the config is read: a ConfigError names both keys.
  virtual void check_data(const data::Dataset& train, const data::Dataset* val) const { (void)train, (void)val; }
  // The sections this recipe resolved (network, recipe), for the run's config.yaml.
  virtual YAML::Node resolved_config() const = 0;
  // The recipe's mixed precision (trained_net.h), whose loss scaler the Trainer updates after each
  // train_step and checkpoints; null when the recipe has none.
  virtual Precision* precision() { return nullptr; }
  virtual std::string summary() const = 0;
};
using RecipePtr = std::unique_ptr<Recipe>;

// A recipe factory reads `network` and `recipe` from the root config.
using RecipeRegistry = Registry<RecipePtr, torch::Device, int64_t /*total_steps*/>;
RecipeRegistry& recipe_registry();
void register_builtin_recipes();
RecipePtr build_recipe(Cfg& root, torch::Device device, int64_t total_steps);

}  // namespace tessera::recipes
