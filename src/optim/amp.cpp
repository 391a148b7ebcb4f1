// GradScaler: dynamic loss scaling on ATen's AMP kernels (see optim.h).
#include <ATen/ATen.h>

#include "tessera/optim/optim.h"

namespace tessera::optim {

GradScaler::GradScaler(torch::Device device, Options opt) : opt_(opt) {
  TORCH_CHECK(opt_.init_scale > 0 && opt_.growth_factor > 1 && opt_.backoff_factor > 0 && opt_.backoff_factor < 1 && opt_.growth_interval > 0,
              "GradScaler: needs init_scale > 0, growth_factor > 1, 0 < backoff_factor < 1, growth_interval > 0");
  scale_ = torch::full({}, opt_.init_scale, torch::TensorOptions(torch::kFloat32).device(device));
  growth_tracker_ = torch::zeros({}, torch::TensorOptions(torch::kInt32).device(device));
}

torch::Tensor unscale_and_check_finite(const std::vector<torch::Tensor>& params, const torch::Tensor& inv_scale) {
  torch::NoGradGuard ng;
  torch::Tensor found = torch::zeros({}, inv_scale.options());
  // One foreach call per gradient dtype (the kernel wants one dtype per list).
  std::map<at::ScalarType, std::vector<torch::Tensor>> by_dtype;
  for (const auto& p : params)
    if (p.grad().defined()) {
      TORCH_CHECK(p.grad().device() == inv_scale.device(), "unscale_and_check_finite: a gradient on ", p.grad().device(),
                  " but the scale on ", inv_scale.device());
      by_dtype[p.grad().scalar_type()].push_back(p.grad());
    }
  for (auto& [dtype, grads] : by_dtype) at::_amp_foreach_non_finite_check_and_unscale_(grads, found, inv_scale);
  return found;
}

bool gradients_finite(const std::vector<torch::Tensor>& params) {
  std::map<std::string, std::vector<torch::Tensor>> by_device;  // the check wants one device per call
  for (const auto& p : params)
    if (p.grad().defined()) by_device[p.grad().device().str()].push_back(p);
  for (const auto& [dev, ps] : by_device) {
    const torch::Tensor one = torch::ones({}, torch::TensorOptions(torch::kFloat32).device(ps[0].grad().device()));
    if (unscale_and_check_finite(ps, one).item<float>() != 0.0f) return false;
  }
  return true;
}

namespace {

std::vector<torch::Tensor> all_params(torch::optim::Optimizer& opt) {
  std::vector<torch::Tensor> params;
  for (auto& group : opt.param_groups())
    for (auto& p : group.params()) params.push_back(p);
  return params;
}

}  // namespace

void GradScaler::unscale(torch::optim::Optimizer& opt) {
  if (found_inf_.count(&opt)) return;  // already this iteration
  found_inf_[&opt] = unscale_and_check_finite(all_params(opt), scale_.to(torch::kFloat64).reciprocal().to(torch::kFloat32));
}

bool GradScaler::unscales_in_step(torch::optim::Optimizer& opt) const {
  return dynamic_cast<AmpScalingStep*>(&opt) != nullptr && !found_inf_.count(&opt);
}

bool GradScaler::step(torch::optim::Optimizer& opt) {
  if (unscales_in_step(opt)) {
    // PyTorch's path for fused optimizers: a check pass (times 1), then the kernel unscales.
    torch::Tensor found = unscale_and_check_finite(all_params(opt), torch::ones({}, scale_.options()));
    found_inf_[&opt] = found;
    if (found.item<float>() != 0.0f) return false;
    dynamic_cast<AmpScalingStep&>(opt).step_scaled(scale_, found);
    return true;
  }
  unscale(opt);
  if (found_inf_.at(&opt).item<float>() != 0.0f) return false;
  opt.step();
  return true;
}

void GradScaler::update() {
  if (found_inf_.empty()) return;  // no optimizer this iteration
  torch::Tensor found = torch::zeros({}, scale_.options());
  for (auto& [opt, f] : found_inf_) found.add_(f);
  at::_amp_update_scale_(scale_, growth_tracker_, found, opt_.growth_factor, opt_.backoff_factor, opt_.growth_interval);
  found_inf_.clear();
}

void GradScaler::save(torch::serialize::OutputArchive& ar, const std::string& prefix) const {
  ar.write(prefix + ".scale", scale_.cpu(), true);
  ar.write(prefix + ".growth_tracker", growth_tracker_.cpu(), true);
}

bool GradScaler::load(torch::serialize::InputArchive& ar, const std::string& prefix) {
  torch::Tensor s, g;
  if (!ar.try_read(prefix + ".scale", s, true)) return false;
  ar.read(prefix + ".growth_tracker", g, true);
  TORCH_CHECK(s.numel() == 1 && g.numel() == 1, "GradScaler: the checkpoint's scaler state is malformed");
  scale_.copy_(s.reshape({}));
  growth_tracker_.copy_(g.reshape({}));
  found_inf_.clear();
  return true;
}

}  // namespace tessera::optim
