// Optimizers, learning-rate schedules and weight EMA, built from config sections.
#pragma once
#include <torch/optim.h>

#include <memory>
#include <vector>

#include "tessera/core/config.h"
#include "tessera/core/registry.h"

namespace tessera::optim {

// {type: adam|adamw|rmsprop|sgd, lr, betas: [b1, b2], eps, weight_decay, momentum, alpha}
using OptimizerRegistry = Registry<std::unique_ptr<torch::optim::Optimizer>, std::vector<torch::Tensor>>;
OptimizerRegistry& optimizer_registry();
void register_builtin_optimizers();
std::unique_ptr<torch::optim::Optimizer> build_optimizer(Cfg cfg, std::vector<torch::Tensor> params);
double base_lr(const torch::optim::Optimizer& opt);

// A learning-rate schedule as a pure function of the step, so resuming needs no scheduler state.
// {type: constant|step|multistep|cosine, step_size, milestones, gamma, eta_min, warmup_steps}
class LrSchedule {
 public:
  static LrSchedule from_yaml(Cfg cfg, int64_t total_steps);
  double factor(int64_t step) const;  // multiplies the base lr
  double lr(int64_t step) const { return base_lr * factor(step); }
  void apply(torch::optim::Optimizer& opt, int64_t step) const;  // sets lr(step) in every param group

  double base_lr = 0;  // the optimizer's configured lr (set by whoever builds both)

  std::string type = "constant";
  int64_t step_size = 0, warmup_steps = 0, total_steps = 0;
  std::vector<int64_t> milestones;
  double gamma = 0.5, eta_min_factor = 0.0;
};
// Each schedule type reads its own keys into an LrSchedule (the total step count passed in).
using ScheduleRegistry = Registry<LrSchedule, int64_t>;
ScheduleRegistry& schedule_registry();
void register_builtin_schedules();

// Exponential moving average of parameters (buffers are copied), as BasicSR's net_g_ema.
class Ema {
 public:
  Ema(torch::nn::Module& model, double decay);
  void update(torch::nn::Module& model);
  // The EMA weights as a module-shaped copy: `target` receives them (same architecture).
  void copy_to(torch::nn::Module& target) const;
  std::vector<torch::Tensor>& shadow() { return shadow_; }
  double decay() const { return decay_; }

 private:
  double decay_;
  std::vector<torch::Tensor> shadow_;  // parameters then buffers, in named order
};

// Clips the global gradient norm; returns the norm before clipping. max_norm <= 0: only measures.
double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);

// RAII bf16 autocast (LibTorch has no Python-style context manager).
class AutocastScope {
 public:
  AutocastScope(torch::DeviceType device, bool enabled, at::ScalarType dtype = at::kBFloat16);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  torch::DeviceType device_;
  bool enabled_, prev_enabled_;
  at::ScalarType prev_dtype_;
};

}  // namespace tessera::optim
