// The recipe kit's unit: one network in training. It owns the module, its optimizer, a learning-rate
// schedule that owns its base lr, an optional EMA of the weights (with the network inference uses),
// gradient clipping, mixed precision (autocast, loss scaling), and the save/load of all of that in
// checkpoints. A recipe
// composes one (SR, autoencoders) or more (a GAN's generator and critic) and keeps only its step
// logic: losses, which network steps when, what validation measures.
#pragma once
#include <torch/serialize.h>

#include <memory>
#include <string>

#include "tessera/archs/net.h"
#include "tessera/optim/optim.h"

namespace tessera::recipes {

// A recipe's numerics, read from its `recipe` section:
//   amp: none | bf16 | fp16   autocast around forward passes and losses (bf16 on CPU and GPU; fp16
//                             adds one GradScaler shared by all the recipe's networks)
//   tf32: false               TF32 matmuls and convolutions on GPUs (Ampere and later)
//   channels_last: false      4-D weights (so activations) in NHWC
//   nonfinite: stop           a NaN/Inf loss or gradient (outside fp16, whose scaler skips such
//                             steps itself): `stop` ends the run with an error naming the step (the
//                             last checkpoint is untouched); `skip` drops that step's update with a
//                             warning and goes on, stopping after max_skipped_steps in a row
//   max_skipped_steps: 25
// The Trainer updates the scaler after each iteration and keeps its state in checkpoints.
class Precision {
 public:
  Precision(Cfg& recipe_cfg, torch::Device device);
  optim::AutocastScope autocast() const;
  optim::GradScaler* scaler() const { return scaler_.get(); }
  const std::string& amp() const { return amp_; }
  bool channels_last() const { return channels_last_; }
  std::string summary() const;  // ", autocast fp16 (loss scaling)"; "" for fp32

  // A recipe's loss `what` ("loss", "generator loss") at 0-based `step`: a non-finite value throws
  // under nonfinite: stop, or marks the step to be skipped under skip (no-op under fp16).
  void check_loss(double value, int64_t step, const std::string& what);
  // After backward, before the update of network `net`: true when the update must be skipped (its
  // gradients, or a loss of this step, were non-finite under skip); throws under stop.
  bool skip_update(const std::vector<torch::Tensor>& params, int64_t step, const std::string& net);
  int64_t skipped_steps() const { return skipped_total_; }

 private:
  // Counts step `step` as skipped (once per step), throwing after max_skipped_steps in a row.
  void note_skipped(int64_t step, const std::string& why);

  torch::Device device_;
  std::string amp_ = "none", nonfinite_ = "stop", where_;
  bool channels_last_ = false, tf32_ = false;
  std::shared_ptr<optim::GradScaler> scaler_;
  int64_t max_skipped_ = 25, skip_step_ = -1, last_skipped_ = -2, skipped_in_a_row_ = 0, skipped_total_ = 0;
};
using PrecisionPtr = std::shared_ptr<Precision>;

struct TrainedNetOptions {
  // Sections under `recipe` holding this network's optimizer and schedule.
  std::string optimizer_key = "optimizer", scheduler_key = "scheduler";
  // A family's default optimizer (YAML mapping) with the user's keys laid over it; a user `type`
  // other than the default's replaces the defaults. Empty: the optimizer registry's defaults.
  std::string default_optimizer;
  // A family's default schedule (YAML mapping), used when the section is absent. Empty: constant.
  std::string default_scheduler;
  double ema = 0;        // EMA decay (0: none)
  double grad_clip = 0;  // max global gradient norm (0: none)
  PrecisionPtr precision;  // the recipe's amp/channels_last/nonfinite (null: fp32, NCHW, stop)
  // Names in checkpoints' state.pt (kept stable so older checkpoints resume).
  std::string state_net = "net", state_optimizer = "optimizer", state_ema = "ema";
};

// `base` with the `ema` and `grad_clip` keys of a recipe section read and `precision` set: what a
// recipe of one trained network (sr, style, temporal_sr) passes to TrainedNet.
TrainedNetOptions read_net_options(Cfg& recipe_cfg, PrecisionPtr precision, TrainedNetOptions base = {});
// The section's `ema` decay in [0, 1): 1 is refused, naming the key (the average would stay the
// initial weights, and they would be what validation scores and the checkpoint saves).
double read_ema(Cfg& recipe_cfg, double default_decay = 0.0);

class TrainedNet {
 public:
  // `cfg_path` names the network in errors ("network", "networks.generator").
  TrainedNet(archs::NetPtr net, Cfg& recipe_cfg, const TrainedNetOptions& opt, int64_t total_steps, torch::Device device,
             const std::string& cfg_path);

  archs::NetImpl& net() { return *net_; }
  const archs::NetImpl& net() const { return *net_; }
  template <class T>
  T& as() { return dynamic_cast<T&>(*net_); }

  // One optimisation step of `loss`: zero grads, backward (of the scaled loss under fp16), the mean
  // over ranks when distributed (dist::average_gradients), unscale,
  // clip, the schedule's lr for `step`, optimizer step (skipped on inf/NaN gradients under fp16, and
  // under recipe.nonfinite: skip), EMA update. Returns the gradient norm before clipping (measured only when
  // clipping or `measure_norm`; else NaN).
  double step(const torch::Tensor& loss, int64_t step, bool measure_norm = false);
  // One step of several networks on one loss (CycleGAN's two generators, or its two
  // discriminators, as one optimizer over both would): one backward, then each network's unscale,
  // clip, lr, optimizer step and EMA. The networks share one Precision.
  static void step_together(const torch::Tensor& loss, const std::vector<TrainedNet*>& nets, int64_t step);
  // Sets this step's lr without stepping (for recipes that step the optimizer themselves).
  void set_lr(int64_t step) { schedule_.apply(*optimizer_, step); }
  double lr(int64_t step) const { return schedule_.lr(step); }
  // The recipe's autocast on the network's device, else a no-op scope.
  optim::AutocastScope autocast() const;
  // The weights inference uses: the EMA average copied into its own network, or the network.
  archs::NetImpl& inference();
  bool has_ema() const { return ema_ != nullptr; }
  // Parameters that train (requires_grad).
  std::vector<torch::Tensor> trainable() const;

  void save(torch::serialize::OutputArchive& ar) const;
  void load(torch::serialize::InputArchive& ar);
  std::string summary() const;  // "adam lr 0.0001, EMA 0.999, autocast bf16"

 private:
  // After backward: unscale, clip, lr, optimizer step, EMA; returns the norm as step() does.
  double apply_gradients(int64_t step, bool measure_norm);

  archs::NetPtr net_, ema_net_;
  torch::Device device_;
  TrainedNetOptions opt_;
  std::string name_;  // cfg_path
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::string optimizer_type_;
  optim::LrSchedule schedule_;
  std::unique_ptr<optim::Ema> ema_;
};

// The parameters of some networks frozen (requires_grad false) for the scope: a discriminator during
// its generator's step, whose parameter gradients would be computed and thrown away.
class FrozenParameters {
 public:
  explicit FrozenParameters(std::initializer_list<torch::nn::Module*> nets) {
    for (auto* net : nets)
      for (auto& p : net->parameters())
        if (p.requires_grad()) p.requires_grad_(false), params_.push_back(p);
  }
  ~FrozenParameters() {
    for (auto& p : params_) p.requires_grad_(true);
  }
  FrozenParameters(const FrozenParameters&) = delete;
  FrozenParameters& operator=(const FrozenParameters&) = delete;

 private:
  std::vector<torch::Tensor> params_;
};

// Initialises `net` from another run's weights (SRGAN from a trained SRResNet, ESRGAN from the PSNR
// RRDBNet): `arg` is a weights file, checkpoint directory or run directory (recipes::resolve_weights
// over `file_names`). The file's arch (its tessera.arch metadata) must be the network's, option for
// option, else a ConfigError names `where`, both values and the first option that differs.
void load_pretrained(archs::NetImpl& net, const std::string& arg, const std::vector<std::string>& file_names, const std::string& where);

}  // namespace tessera::recipes
