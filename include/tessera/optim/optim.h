// Optimizers, learning-rate schedules and weight EMA, built from config sections.
#pragma once
#include <torch/optim.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tessera/core/config.h"
#include "tessera/core/registry.h"

namespace tessera::optim {

// {type: adam|adamw|rmsprop|sgd, lr, betas: [b1, b2], eps, weight_decay, momentum, alpha; fused (adam, adamw)}
using OptimizerRegistry = Registry<std::unique_ptr<torch::optim::Optimizer>, std::vector<torch::Tensor>>;
OptimizerRegistry& optimizer_registry();
void register_builtin_optimizers();
std::unique_ptr<torch::optim::Optimizer> build_optimizer(Cfg cfg, std::vector<torch::Tensor> params);
double base_lr(const torch::optim::Optimizer& opt);

// A learning-rate schedule as a pure function of the step, so resuming needs no scheduler state.
// {type: constant|step|multistep|linear|cosine, step_size, milestones, gamma, decay_start, eta_min, warmup_steps}
//   linear: constant until decay_start (default total/2), then down to 1/(total - decay_start + 1)
//           at the last step (CycleGAN's n_epochs constant + n_epochs_decay linear, per step)
class LrSchedule {
 public:
  static LrSchedule from_yaml(Cfg cfg, int64_t total_steps);
  double factor(int64_t step) const;  // multiplies the base lr
  double lr(int64_t step) const { return base_lr * factor(step); }
  void apply(torch::optim::Optimizer& opt, int64_t step) const;  // sets lr(step) in every param group

  double base_lr = 0;  // the optimizer's configured lr (set by whoever builds both)

  std::string type = "constant";
  int64_t step_size = 0, warmup_steps = 0, total_steps = 0, decay_start = 0;
  std::vector<int64_t> milestones;
  double gamma = 0.5, eta_min_factor = 0.0;
};
// Each schedule type reads its own keys into an LrSchedule (the total step count passed in).
using ScheduleRegistry = Registry<LrSchedule, int64_t>;
ScheduleRegistry& schedule_registry();
void register_builtin_schedules();

// Exponential moving average of parameters (buffers are copied), as BasicSR's net_g_ema; one
// _foreach_lerp_ over all floating-point parameters per update.
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
// Multiplies the gradients of `params` by `inv_scale` (a 0-dim float tensor on their device) in
// place and returns a 0-dim tensor that is non-zero when any held inf/NaN: one fused ATen pass per
// gradient dtype. GradScaler unscales with it; with inv_scale 1 it is a pure check (x * 1 == x).
torch::Tensor unscale_and_check_finite(const std::vector<torch::Tensor>& params, const torch::Tensor& inv_scale);
// True when every defined gradient of `params` is finite (unscale_and_check_finite with 1 per device).
bool gradients_finite(const std::vector<torch::Tensor>& params);

// An optimizer whose kernel unscales the gradients itself (PyTorch's `_step_supports_amp_scaling`):
// it divides each gradient by `grad_scale` inside its update and does nothing where `found_inf`
// is non-zero. GradScaler calls it only after it has checked the flag on the host, so the
// optimizer's own step counts never advance on a skipped step.
class AmpScalingStep {
 public:
  virtual ~AmpScalingStep() = default;
  virtual void step_scaled(const torch::Tensor& grad_scale, const torch::Tensor& found_inf) = 0;
};

// Dynamic loss scaling for fp16 training (LibTorch has no C++ GradScaler), PyTorch's algorithm on
// its own kernels: the loss is multiplied by `scale` before backward; each optimizer's gradients
// are unscaled in one foreach pass that also detects inf/NaN; an optimizer whose gradients held
// inf/NaN skips its step; update() (once per iteration, after every optimizer) halves the scale
// after an overflow and doubles it after `growth_interval` clean iterations. One scaler serves all
// of a recipe's optimizers, as in PyTorch's AMP examples. An AmpScalingStep optimizer (fused
// Adam/AdamW) that was not unscaled first gets the scale and the inf flag instead, as PyTorch's
// GradScaler hands them to fused optimizers: the check pass is the unscale kernel with a scale of
// 1, and the division happens inside the optimizer's kernel.
class GradScaler {
 public:
  struct Options {
    double init_scale = 65536.0, growth_factor = 2.0, backoff_factor = 0.5;
    int64_t growth_interval = 2000;
  };
  GradScaler(torch::Device device, Options opt);
  explicit GradScaler(torch::Device device) : GradScaler(device, Options{}) {}

  torch::Tensor scale(const torch::Tensor& loss) const { return loss * scale_.to(loss.device()); }
  // Unscales `opt`'s gradients in place (at most once per iteration; step() does it if the caller
  // has not), recording inf/NaN. Call before clipping gradients.
  void unscale(torch::optim::Optimizer& opt);
  // Steps `opt` unless its gradients held inf/NaN; returns whether it stepped.
  bool step(torch::optim::Optimizer& opt);
  // True when step(opt) will leave the unscaling to `opt`'s kernel (an AmpScalingStep not yet
  // unscaled this iteration): until then its gradients are still multiplied by the scale.
  bool unscales_in_step(torch::optim::Optimizer& opt) const;
  // Grows or backs off the scale from this iteration's overflows; then a new iteration begins.
  void update();
  double scale_value() const { return scale_.item<double>(); }
  int64_t growth_tracker() const { return growth_tracker_.item<int64_t>(); }

  void save(torch::serialize::OutputArchive& ar, const std::string& prefix) const;
  // False (state unchanged) when the archive holds no scaler state under `prefix`.
  bool load(torch::serialize::InputArchive& ar, const std::string& prefix);

 private:
  Options opt_;
  torch::Tensor scale_, growth_tracker_;  // float32 and int32 0-dim tensors on the device
  std::map<const torch::optim::Optimizer*, torch::Tensor> found_inf_;  // this iteration's, per optimizer
};

// Adam / AdamW stepping all parameters of a group in one at::_fused_adam_ / _fused_adamw_ call
// (CPU and CUDA kernels) instead of a dozen ops per parameter. Same options, state and checkpoint
// format as torch::optim::Adam / AdamW (either loads the other's state); `fused: true` selects it.
// With a GradScaler they take its grad_scale/found_inf (AmpScalingStep).
class FusedAdam : public torch::optim::Adam, public AmpScalingStep {
 public:
  using torch::optim::Adam::Adam;
  torch::Tensor step(LossClosure closure = nullptr) override;
  void step_scaled(const torch::Tensor& grad_scale, const torch::Tensor& found_inf) override;
};
class FusedAdamW : public torch::optim::AdamW, public AmpScalingStep {
 public:
  using torch::optim::AdamW::AdamW;
  torch::Tensor step(LossClosure closure = nullptr) override;
  void step_scaled(const torch::Tensor& grad_scale, const torch::Tensor& found_inf) override;
};

// RAII autocast (LibTorch has no Python-style context manager).
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
