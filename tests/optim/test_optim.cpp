#include <catch2/catch.hpp>

#include "tessera/core/config.h"
#include "tessera/optim/optim.h"

using namespace tessera;

static Cfg cfg_of(const std::string& y) { return Cfg(YAML::Load(y), "scheduler", "t.yaml"); }

TEST_CASE("learning-rate schedules are pure functions of the step", "[optim]") {
  auto step = optim::LrSchedule::from_yaml(cfg_of("{type: step, step_size: 10, gamma: 0.5}"), 100);
  REQUIRE(step.factor(9) == 1.0);
  REQUIRE(step.factor(10) == 0.5);
  REQUIRE(step.factor(25) == 0.25);
  auto ms = optim::LrSchedule::from_yaml(cfg_of("{type: multistep, milestones: [5, 8], gamma: 0.1}"), 100);
  REQUIRE(ms.factor(4) == 1.0);
  REQUIRE(ms.factor(5) == Approx(0.1));
  REQUIRE(ms.factor(9) == Approx(0.01));
  auto cos = optim::LrSchedule::from_yaml(cfg_of("{type: cosine}"), 100);
  REQUIRE(cos.factor(0) == Approx(1.0));
  REQUIRE(cos.factor(50) == Approx(0.5));
  REQUIRE(cos.factor(100) == Approx(0.0).margin(1e-12));
  REQUIRE_THROWS_AS(optim::LrSchedule::from_yaml(cfg_of("{type: multistep, milestones: [8, 5]}"), 10), ConfigError);
  REQUIRE_THROWS_AS(optim::LrSchedule::from_yaml(cfg_of("{type: cosine, gama: 1}"), 10), ConfigError);
}

TEST_CASE("EMA follows the exponential moving average", "[optim]") {
  torch::nn::Linear lin(2, 1);
  optim::Ema ema(*lin, 0.9);
  torch::Tensor w0 = lin->weight.detach().clone();
  {
    torch::NoGradGuard ng;
    lin->weight.add_(1.0);
  }
  ema.update(*lin);
  torch::nn::Linear copy(2, 1);
  ema.copy_to(*copy);
  REQUIRE(torch::allclose(copy->weight, w0 + 0.1));
}

TEST_CASE("gradient clipping bounds the global norm", "[optim]") {
  auto p = torch::zeros({4}, torch::requires_grad());
  p.mutable_grad() = torch::full({4}, 3.0);
  double before = optim::clip_grad_norm({p}, 1.0);
  REQUIRE(before == Approx(6.0));
  REQUIRE(p.grad().norm().item<double>() == Approx(1.0).epsilon(1e-4));
}

TEST_CASE("optimizers are built by name with their options checked", "[optim]") {
  auto p = torch::zeros({3}, torch::requires_grad());
  auto adam = optim::build_optimizer(cfg_of("{type: adam, lr: 0.01, betas: [0.5, 0.9]}"), {p});
  REQUIRE(optim::base_lr(*adam) == Approx(0.01));
  REQUIRE_THROWS_AS(optim::build_optimizer(cfg_of("{type: adam, betas: [0.5]}"), {p}), ConfigError);
  REQUIRE_THROWS_WITH(optim::build_optimizer(cfg_of("{type: adamm}"), {p}),
                      Catch::Matchers::Contains("unknown optimizer 'adamm'") && Catch::Matchers::Contains("known: adam, adamw, rmsprop, sgd"));
  REQUIRE_THROWS_WITH(optim::LrSchedule::from_yaml(cfg_of("{type: cosin}"), 10),
                      Catch::Matchers::Contains("unknown scheduler 'cosin'") && Catch::Matchers::Contains("did you mean 'cosine'"));
}

TEST_CASE("bf16 autocast scope runs convolutions in bfloat16 and restores the previous state", "[optim][amp]") {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 4, 3));
  auto x = torch::rand({1, 3, 8, 8});
  {
    optim::AutocastScope scope(torch::kCPU, true);
    REQUIRE(conv(x).scalar_type() == torch::kBFloat16);
  }
  REQUIRE(conv(x).scalar_type() == torch::kFloat32);
  {
    optim::AutocastScope off(torch::kCPU, false);
    REQUIRE(conv(x).scalar_type() == torch::kFloat32);
  }
}
