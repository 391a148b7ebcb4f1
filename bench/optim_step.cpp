// Optimizer step and EMA update on EDSR's parameters: torch::optim::Adam (a dozen ops per
// parameter) vs tessera's FusedAdam (at::_fused_adam_, one call), and the EMA as one
// _foreach_lerp_. Prints JSON (seconds per call, medians); bench/optim_step.py prints it beside
// torch.optim.Adam's foreach and fused paths in Python.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>

#include "tessera/archs/net.h"
#include "tessera/core/config.h"
#include "tessera/optim/optim.h"

using namespace tessera;

namespace {

double seconds_per_call(const std::function<void()>& fn, int reps, int trials) {
  std::vector<double> t;
  fn();
  for (int k = 0; k < trials; ++k) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) fn();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int trials = argc > 1 ? std::atoi(argv[1]) : 5;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 20;
  torch::manual_seed(0);
  archs::NetPtr net = archs::build_arch(Cfg(YAML::Load("{type: edsr, scale: 2, num_feat: 64, num_block: 16}"), "network", "bench"));
  for (auto& p : net->parameters()) p.mutable_grad() = torch::randn_like(p) * 1e-3;
  std::vector<torch::Tensor> params = net->parameters();
  auto plain = optim::build_optimizer(Cfg(YAML::Load("{type: adam, lr: 1.0e-4}"), "optimizer", "bench"), params);
  auto fused = optim::build_optimizer(Cfg(YAML::Load("{type: adam, lr: 1.0e-4, fused: true}"), "optimizer", "bench"), params);
  torch::NoGradGuard ng;
  const double t_plain = seconds_per_call([&] { plain->step(); }, reps, trials);
  const double t_fused = seconds_per_call([&] { fused->step(); }, reps, trials);
  optim::Ema ema(*net, 0.999);
  const double t_ema = seconds_per_call([&] { ema.update(*net); }, reps, trials);
  // The per-tensor EMA this replaced: mul_ + add_ per parameter.
  std::vector<torch::Tensor> shadow;
  for (auto& p : params) shadow.push_back(p.detach().clone());
  const double t_ema_loop = seconds_per_call([&] {
    for (size_t i = 0; i < params.size(); ++i) shadow[i].mul_(0.999).add_(params[i], 0.001);
  }, reps, trials);
  int64_t n = 0;
  for (auto& p : params) n += p.numel();
  std::printf("{\"tensors\": %zu, \"parameters\": %lld, \"adam\": %.6g, \"fused_adam\": %.6g, \"ema_foreach\": %.6g, \"ema_loop\": %.6g}\n",
              params.size(), static_cast<long long>(n), t_plain, t_fused, t_ema, t_ema_loop);
  return 0;
}
