#include "tessera/optim/optim.h"

#include <ATen/autocast_mode.h>

#include <cmath>

namespace tessera::optim {

OptimizerRegistry& optimizer_registry() {
  static OptimizerRegistry r("optimizer");
  return r;
}

void register_builtin_optimizers() {
  auto& r = optimizer_registry();
  if (r.contains("adam")) return;
  using OptPtr = std::unique_ptr<torch::optim::Optimizer>;
  auto adam_like = [](Cfg& c, std::vector<torch::Tensor> params, bool decoupled) -> OptPtr {
    double lr = c.get<double>("lr", 1e-4, 0.0, 10.0);
    double wd = c.get<double>("weight_decay", decoupled ? 1e-2 : 0.0, 0.0, 10.0);
    auto betas = c.get<std::vector<double>>("betas", {0.9, 0.999});
    if (betas.size() != 2 || betas[0] < 0 || betas[0] >= 1 || betas[1] < 0 || betas[1] >= 1)
      c.fail("betas", "expected two numbers in [0, 1)");
    double eps = c.get<double>("eps", 1e-8, 0.0, 1.0);
    bool amsgrad = c.get<bool>("amsgrad", false);
    bool fused = c.get<bool>("fused", false);  // one at::_fused_adam(w)_ call per group
    c.finish();
    if (!decoupled) {
      auto o = torch::optim::AdamOptions(lr).betas({betas[0], betas[1]}).eps(eps).weight_decay(wd).amsgrad(amsgrad);
      if (fused) return std::make_unique<FusedAdam>(params, o);
      return std::make_unique<torch::optim::Adam>(params, o);
    }
    auto o = torch::optim::AdamWOptions(lr).betas({betas[0], betas[1]}).eps(eps).weight_decay(wd).amsgrad(amsgrad);
    if (fused) return std::make_unique<FusedAdamW>(params, o);
    return std::make_unique<torch::optim::AdamW>(params, o);
  };
  r.add("adam", [adam_like](Cfg& c, std::vector<torch::Tensor> p) { return adam_like(c, std::move(p), false); });
  r.add("adamw", [adam_like](Cfg& c, std::vector<torch::Tensor> p) { return adam_like(c, std::move(p), true); });
  r.add("rmsprop", [](Cfg& c, std::vector<torch::Tensor> p) -> OptPtr {
    double lr = c.get<double>("lr", 1e-4, 0.0, 10.0), wd = c.get<double>("weight_decay", 0.0, 0.0, 10.0);
    double alpha = c.get<double>("alpha", 0.99, 0.0, 1.0), eps = c.get<double>("eps", 1e-8, 0.0, 1.0);
    double momentum = c.get<double>("momentum", 0.0, 0.0, 1.0);
    c.finish();
    return std::make_unique<torch::optim::RMSprop>(p, torch::optim::RMSpropOptions(lr).alpha(alpha).eps(eps).weight_decay(wd).momentum(momentum));
  });
  r.add("sgd", [](Cfg& c, std::vector<torch::Tensor> p) -> OptPtr {
    double lr = c.get<double>("lr", 1e-4, 0.0, 10.0), wd = c.get<double>("weight_decay", 0.0, 0.0, 10.0);
    double momentum = c.get<double>("momentum", 0.0, 0.0, 1.0);
    bool nesterov = c.get<bool>("nesterov", false);
    c.finish();
    return std::make_unique<torch::optim::SGD>(p, torch::optim::SGDOptions(lr).momentum(momentum).weight_decay(wd).nesterov(nesterov));
  });
}

std::unique_ptr<torch::optim::Optimizer> build_optimizer(Cfg c, std::vector<torch::Tensor> params) {
  register_builtin_optimizers();
  std::string type = c.get<std::string>("type", "adam");
  return optimizer_registry().build(type, c, c.where("type"), std::move(params));
}

double base_lr(const torch::optim::Optimizer& opt) { return opt.param_groups().at(0).options().get_lr(); }

ScheduleRegistry& schedule_registry() {
  static ScheduleRegistry r("scheduler");
  return r;
}

void register_builtin_schedules() {
  auto& r = schedule_registry();
  if (r.contains("constant")) return;
  // Keys every schedule takes; each type then reads its own.
  auto common = [](Cfg& c, const std::string& type, int64_t total) {
    LrSchedule s;
    s.type = type;
    s.total_steps = total;
    s.warmup_steps = c.get<int64_t>("warmup_steps", 0, 0, 1'000'000'000);
    return s;
  };
  r.add("constant", [common](Cfg& c, int64_t total) {
    LrSchedule s = common(c, "constant", total);
    c.finish();
    return s;
  });
  r.add("step", [common](Cfg& c, int64_t total) {
    LrSchedule s = common(c, "step", total);
    s.gamma = c.get<double>("gamma", 0.5, 0.0, 1.0);
    s.step_size = c.req<int64_t>("step_size");
    if (s.step_size <= 0) c.fail("step_size", "must be positive");
    c.finish();
    return s;
  });
  r.add("multistep", [common](Cfg& c, int64_t total) {
    LrSchedule s = common(c, "multistep", total);
    s.gamma = c.get<double>("gamma", 0.5, 0.0, 1.0);
    s.milestones = c.req<std::vector<int64_t>>("milestones");
    if (!std::is_sorted(s.milestones.begin(), s.milestones.end())) c.fail("milestones", "must be increasing");
    c.finish();
    return s;
  });
  r.add("linear", [common](Cfg& c, int64_t total) {
    LrSchedule s = common(c, "linear", total);
    s.decay_start = c.get<int64_t>("decay_start", total / 2, 0, std::max<int64_t>(0, total - 1));
    c.finish();
    return s;
  });
  r.add("cosine", [common](Cfg& c, int64_t total) {
    LrSchedule s = common(c, "cosine", total);
    s.eta_min_factor = c.get<double>("eta_min_factor", 0.0, 0.0, 1.0);
    c.finish();
    return s;
  });
}

LrSchedule LrSchedule::from_yaml(Cfg c, int64_t total) {
  register_builtin_schedules();
  std::string type = c.get<std::string>("type", "constant");
  return schedule_registry().build(type, c, c.where("type"), total);
}

double LrSchedule::factor(int64_t step) const {
  double f = 1.0;
  if (type == "step") {
    f = std::pow(gamma, static_cast<double>(step / step_size));
  } else if (type == "multistep") {
    int64_t k = std::upper_bound(milestones.begin(), milestones.end(), step) - milestones.begin();
    f = std::pow(gamma, static_cast<double>(k));
  } else if (type == "linear") {
    // junyanz's 'linear' policy per step: 1 - max(0, step + 1 - start) / (total - start + 1).
    f = 1.0 - static_cast<double>(std::max<int64_t>(0, step + 1 - decay_start)) / static_cast<double>(total_steps - decay_start + 1);
  } else if (type == "cosine") {
    const double span = std::max<int64_t>(1, total_steps - warmup_steps);
    const double t = std::clamp(static_cast<double>(step - warmup_steps) / span, 0.0, 1.0);
    f = eta_min_factor + (1 - eta_min_factor) * 0.5 * (1 + std::cos(M_PI * t));
  }
  if (warmup_steps > 0 && step < warmup_steps) f *= static_cast<double>(step + 1) / warmup_steps;
  return f;
}

void LrSchedule::apply(torch::optim::Optimizer& opt, int64_t step) const {
  const double v = lr(step);
  for (auto& g : opt.param_groups()) g.options().set_lr(v);
}

static std::vector<torch::Tensor> state_tensors(torch::nn::Module& m) {
  std::vector<torch::Tensor> out;
  for (auto& p : m.named_parameters()) out.push_back(p.value());
  for (auto& b : m.named_buffers()) out.push_back(b.value());
  return out;
}

Ema::Ema(torch::nn::Module& model, double decay) : decay_(decay) {
  torch::NoGradGuard ng;
  for (auto& t : state_tensors(model)) shadow_.push_back(t.detach().clone());
}

void Ema::update(torch::nn::Module& model) {
  torch::NoGradGuard ng;
  auto cur = state_tensors(model);
  TORCH_CHECK(cur.size() == shadow_.size(), "EMA update: architecture mismatch");
  const size_t np = model.parameters().size();
  std::vector<torch::Tensor> avg, from;  // shadow <- shadow + (1 - decay) (param - shadow)
  for (size_t i = 0; i < cur.size(); ++i) {
    if (i < np && cur[i].is_floating_point()) {
      avg.push_back(shadow_[i]);
      from.push_back(cur[i].detach());
    } else {
      shadow_[i].copy_(cur[i]);
    }
  }
  if (!avg.empty()) at::_foreach_lerp_(avg, from, 1.0 - decay_);
}

void Ema::copy_to(torch::nn::Module& target) const {
  torch::NoGradGuard ng;
  auto dst = state_tensors(target);
  TORCH_CHECK(dst.size() == shadow_.size(), "EMA copy_to: architecture mismatch");
  for (size_t i = 0; i < dst.size(); ++i) dst[i].copy_(shadow_[i]);
}

double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0.0;
  std::vector<torch::Tensor> norms;
  for (const auto& g : grads) norms.push_back(g.detach().to(torch::kFloat32).norm(2));
  double total = torch::stack(norms).norm(2).item<double>();
  if (max_norm > 0 && total > max_norm) {
    const double coef = max_norm / (total + 1e-6);
    for (auto& g : grads) g.mul_(coef);
  }
  return total;
}

AutocastScope::AutocastScope(torch::DeviceType device, bool enabled, at::ScalarType dtype)
    : device_(device), enabled_(enabled) {
  if (!enabled_) return;
  prev_enabled_ = at::autocast::is_autocast_enabled(device_);
  prev_dtype_ = at::autocast::get_autocast_dtype(device_);
  at::autocast::set_autocast_enabled(device_, true);
  at::autocast::set_autocast_dtype(device_, dtype);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!enabled_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(device_, prev_enabled_);
  at::autocast::set_autocast_dtype(device_, prev_dtype_);
}

}  // namespace tessera::optim
