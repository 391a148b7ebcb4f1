// Adam and AdamW on at::_fused_adam_ / at::_fused_adamw_: one kernel call per parameter group.
// The state objects are torch::optim's own, created as torch::optim::Adam creates them, so the
// checkpoint format and the arithmetic (within float rounding) are Adam's. step_scaled hands the
// loss scaler's grad_scale/found_inf to the kernel, which divides each gradient by the scale as it
// reads it (equal to unscaling first; bit for bit when the scale is a power of two, as by default).
#include <ATen/ATen.h>

#include "tessera/optim/optim.h"

namespace tessera::optim {

namespace {

using Groups = std::vector<torch::optim::OptimizerParamGroup>;
using States = ska::flat_hash_map<void*, std::unique_ptr<torch::optim::OptimizerParamState>>;

using Flag = std::optional<torch::Tensor>;

// One kernel call per group: `kernel` is at::_fused_adam_ or at::_fused_adamw_ (one signature).
template <class Options, class State, class Kernel>
void fused_step(Groups& groups, States& states, const Flag& grad_scale, const Flag& found_inf, Kernel&& kernel) {
  torch::NoGradGuard ng;
  for (auto& group : groups) {
    auto& o = static_cast<Options&>(group.options());
    std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, max_sqs;
    std::vector<float> steps;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      TORCH_CHECK(!p.grad().is_sparse(), "fused Adam does not support sparse gradients");
      auto it = states.find(p.unsafeGetTensorImpl());
      if (it == states.end()) {
        auto st = std::make_unique<State>();
        st->step(0);
        st->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        st->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        if (o.amsgrad()) st->max_exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        it = states.emplace(p.unsafeGetTensorImpl(), std::move(st)).first;
      }
      auto& st = static_cast<State&>(*it->second);
      st.step(st.step() + 1);
      params.push_back(p);
      grads.push_back(p.grad());
      exp_avgs.push_back(st.exp_avg());
      exp_avg_sqs.push_back(st.exp_avg_sq());
      if (o.amsgrad()) max_sqs.push_back(st.max_exp_avg_sq());
      steps.push_back(static_cast<float>(st.step()));
    }
    if (params.empty()) continue;
    // The kernel reads each parameter's step count (already incremented) from a float tensor.
    std::vector<torch::Tensor> step_tensors = torch::tensor(steps).to(params[0].device()).unbind(0);
    kernel(params, grads, exp_avgs, exp_avg_sqs, max_sqs, step_tensors, o.lr(), std::get<0>(o.betas()), std::get<1>(o.betas()),
           o.weight_decay(), o.eps(), o.amsgrad(), /*maximize=*/false, grad_scale, found_inf);
  }
}

void adam_step(Groups& groups, States& states, const Flag& grad_scale, const Flag& found_inf) {
  fused_step<torch::optim::AdamOptions, torch::optim::AdamParamState>(groups, states, grad_scale, found_inf,
                                                                      [](auto&&... a) { at::_fused_adam_(a...); });
}

void adamw_step(Groups& groups, States& states, const Flag& grad_scale, const Flag& found_inf) {
  fused_step<torch::optim::AdamWOptions, torch::optim::AdamWParamState>(groups, states, grad_scale, found_inf,
                                                                        [](auto&&... a) { at::_fused_adamw_(a...); });
}

}  // namespace

torch::Tensor FusedAdam::step(LossClosure closure) {
  torch::Tensor loss;
  if (closure) {
    torch::AutoGradMode grad(true);
    loss = closure();
  }
  adam_step(param_groups_, state_, {}, {});
  return loss;
}

void FusedAdam::step_scaled(const torch::Tensor& grad_scale, const torch::Tensor& found_inf) {
  adam_step(param_groups_, state_, grad_scale, found_inf);
}

torch::Tensor FusedAdamW::step(LossClosure closure) {
  torch::Tensor loss;
  if (closure) {
    torch::AutoGradMode grad(true);
    loss = closure();
  }
  adamw_step(param_groups_, state_, {}, {});
  return loss;
}

void FusedAdamW::step_scaled(const torch::Tensor& grad_scale, const torch::Tensor& found_inf) {
  adamw_step(param_groups_, state_, grad_scale, found_inf);
}

}  // namespace tessera::optim
