#include <catch2/catch.hpp>

#include <limits>
#include <sstream>

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

TEST_CASE("the gradient scaler skips a step on inf/NaN gradients, backs off, and grows after clean iterations", "[optim][amp]") {
  auto p = torch::ones({3}, torch::requires_grad());
  torch::optim::SGD sgd({p}, torch::optim::SGDOptions(0.1));
  optim::GradScaler scaler(torch::kCPU, {1024.0, 2.0, 0.5, 2});
  auto iteration = [&](bool inject) {
    sgd.zero_grad();
    scaler.scale((p * torch::tensor({1.0f, 2.0f, 3.0f})).sum()).backward();
    if (inject) {
      torch::NoGradGuard ng;
      p.mutable_grad()[1] = std::numeric_limits<float>::infinity();
    }
    const bool stepped = scaler.step(sgd);
    scaler.update();
    return stepped;
  };
  REQUIRE_FALSE(iteration(true));
  CHECK(torch::equal(p, torch::ones({3})));  // untouched
  CHECK(scaler.scale_value() == 512.0);       // backed off
  REQUIRE(iteration(false));
  // The step used the unscaled gradients [1, 2, 3].
  CHECK(torch::allclose(p, torch::tensor({0.9f, 0.8f, 0.7f})));
  CHECK(scaler.scale_value() == 512.0);
  REQUIRE(iteration(false));
  CHECK(scaler.scale_value() == 1024.0);  // grown after growth_interval (2) clean iterations
  CHECK(scaler.growth_tracker() == 0);
  // A NaN skips too.
  sgd.zero_grad();
  scaler.scale((p * std::numeric_limits<float>::quiet_NaN()).sum()).backward();
  CHECK_FALSE(scaler.step(sgd));
  scaler.update();
  CHECK(scaler.scale_value() == 512.0);
}

TEST_CASE("unscaled gradients equal fp32 gradients, and the scaler state round-trips", "[optim][amp]") {
  torch::manual_seed(0);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 4, 3).padding(1));
  torch::Tensor x = torch::randn({2, 3, 8, 8});
  torch::optim::SGD sgd(conv->parameters(), torch::optim::SGDOptions(0.0));
  auto grads = [&] {
    std::vector<torch::Tensor> g;
    for (auto& p : conv->parameters()) g.push_back(p.grad().clone());
    return g;
  };
  sgd.zero_grad();
  conv(x).square().mean().backward();
  auto fp32 = grads();
  optim::GradScaler scaler(torch::kCPU);
  sgd.zero_grad();
  scaler.scale(conv(x).square().mean()).backward();
  scaler.unscale(sgd);
  auto unscaled = grads();
  for (size_t i = 0; i < fp32.size(); ++i) CHECK(torch::allclose(unscaled[i], fp32[i], 1e-6, 1e-9));  // 2^16: exact up to rounding
  // Under fp16 autocast (CPU) the unscaled gradients match fp32 within fp16 rounding.
  sgd.zero_grad();
  {
    optim::AutocastScope ac(torch::kCPU, true, at::kHalf);
    torch::Tensor y = conv(x);
    CHECK(y.scalar_type() == torch::kHalf);
    scaler.scale(y.to(torch::kFloat32).square().mean()).backward();
  }
  scaler.update();  // the earlier unscale's iteration
  scaler.unscale(sgd);
  auto half = grads();
  for (size_t i = 0; i < fp32.size(); ++i) CHECK(torch::allclose(half[i], fp32[i], 1e-2, 1e-3));
  scaler.update();
  // save/load
  optim::GradScaler a(torch::kCPU, {8.0, 2.0, 0.5, 3}), b(torch::kCPU);
  torch::serialize::OutputArchive out;
  a.save(out, "s");
  std::ostringstream os;
  out.save_to(os);
  torch::serialize::InputArchive in;
  std::istringstream is(os.str());
  in.load_from(is);
  REQUIRE(b.load(in, "s"));
  CHECK(b.scale_value() == 8.0);
  CHECK_FALSE(b.load(in, "other"));
}

namespace {

// `steps` Adam(W) steps of a small conv net on fixed data; returns the parameters.
std::vector<torch::Tensor> adam_run(const std::string& yaml, int steps, std::stringstream* save_at_half = nullptr,
                                    std::stringstream* resume_from = nullptr) {
  torch::manual_seed(1);
  torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1)), torch::nn::ReLU(),
                            torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 3, 3).padding(1)));
  torch::Tensor x = torch::randn({4, 3, 10, 10}), t = torch::randn({4, 3, 10, 10});
  auto opt = optim::build_optimizer(Cfg(YAML::Load(yaml), "optimizer", "t.yaml"), net->parameters());
  int start = 0;
  if (resume_from) {
    torch::serialize::InputArchive in;
    in.load_from(*resume_from);
    torch::serialize::InputArchive net_in, opt_in;
    in.read("net", net_in);
    in.read("opt", opt_in);
    net->load(net_in);
    opt->load(opt_in);
    start = steps / 2;
  }
  for (int i = start; i < steps; ++i) {
    if (save_at_half && i == steps / 2) {
      torch::serialize::OutputArchive out, net_out, opt_out;
      net->save(net_out);
      opt->save(opt_out);
      out.write("net", net_out);
      out.write("opt", opt_out);
      out.save_to(*save_at_half);
    }
    opt->zero_grad();
    torch::mse_loss(net->forward(x), t).backward();
    opt->step();
  }
  std::vector<torch::Tensor> ps;
  for (auto& p : net->parameters()) ps.push_back(p.detach().clone());
  return ps;
}

}  // namespace

TEST_CASE("fused Adam and AdamW equal torch::optim's within float rounding, and resume exactly", "[optim]") {
  for (std::string base : {"{type: adam, lr: 0.01", "{type: adam, lr: 0.01, weight_decay: 0.1, amsgrad: true",
                           "{type: adamw, lr: 0.01, weight_decay: 0.05", "{type: adamw, lr: 0.01, amsgrad: true, betas: [0.5, 0.9]"}) {
    INFO(base);
    auto plain = adam_run(base + "}", 20), fused = adam_run(base + ", fused: true}", 20);
    double err = 0;
    for (size_t i = 0; i < plain.size(); ++i) err = std::max(err, (plain[i] - fused[i]).abs().max().item<double>());
    CHECK(err < 1e-5);
    // The fused optimizer's state saved mid-run and loaded into a fresh one continues bit for bit.
    std::stringstream mid;
    auto whole = adam_run(base + ", fused: true}", 20, &mid);
    auto resumed = adam_run(base + ", fused: true}", 20, nullptr, &mid);
    for (size_t i = 0; i < whole.size(); ++i) CHECK(torch::equal(whole[i], resumed[i]));
    // And the state format is Adam's own: the unfused optimizer resumes from it.
    std::stringstream mid2;
    adam_run(base + ", fused: true}", 20, &mid2);
    auto cross = adam_run(base + "}", 20, nullptr, &mid2);
    for (size_t i = 0; i < whole.size(); ++i) CHECK((cross[i] - whole[i]).abs().max().item<double>() < 1e-5);
  }
}

TEST_CASE("fused Adam(W) takes the scaler's grad_scale and found_inf: equal to unscaling first, skips without advancing", "[optim][amp]") {
  for (std::string type : {"adam", "adamw"}) {
    INFO(type);
    // Two copies of one small net: `kernel` leaves the unscaling to the fused kernel, `first`
    // unscales before stepping (what clipping forces); both see the same scaled losses.
    auto make = [&] {
      torch::manual_seed(3);
      torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 6, 3).padding(1)), torch::nn::Tanh(),
                                torch::nn::Conv2d(torch::nn::Conv2dOptions(6, 3, 3).padding(1)));
      auto opt = optim::build_optimizer(Cfg(YAML::Load("{type: " + type + ", lr: 0.01, weight_decay: 0.01, fused: true}"), "optimizer", "t.yaml"),
                                        net->parameters());
      return std::pair{net, std::move(opt)};
    };
    auto [net_k, opt_k] = make();
    auto [net_f, opt_f] = make();
    optim::GradScaler sk(torch::kCPU, {1024.0, 2.0, 0.5, 3}), sf(torch::kCPU, {1024.0, 2.0, 0.5, 3});
    torch::manual_seed(4);
    torch::Tensor x = torch::randn({2, 3, 8, 8}), t = torch::randn({2, 3, 8, 8});
    auto steps_of = [&type](torch::optim::Optimizer& o) {
      std::vector<int64_t> s;
      for (auto& [key, st] : o.state())
        s.push_back(type == "adam" ? static_cast<torch::optim::AdamParamState&>(*st).step()
                                   : static_cast<torch::optim::AdamWParamState&>(*st).step());
      return s;
    };
    for (int it = 0; it < 8; ++it) {
      const bool inject = it == 4;
      for (auto [net, opt, sc] : {std::tuple{&net_k, opt_k.get(), &sk}, std::tuple{&net_f, opt_f.get(), &sf}}) {
        opt->zero_grad();
        sc->scale(torch::mse_loss((*net)->forward(x), t)).backward();
        if (inject) {
          torch::NoGradGuard ng;
          (*net)->parameters()[0].mutable_grad().view(-1)[5] = std::numeric_limits<float>::infinity();
        }
      }
      REQUIRE(sk.unscales_in_step(*opt_k));
      const torch::Tensor scaled = net_k->parameters()[0].grad().clone();
      const auto before = steps_of(*opt_k);
      sf.unscale(*opt_f);
      CHECK_FALSE(sf.unscales_in_step(*opt_f));
      const bool stepped_k = sk.step(*opt_k), stepped_f = sf.step(*opt_f);
      CHECK(stepped_k == !inject);
      CHECK(stepped_f == !inject);
      if (inject) CHECK(steps_of(*opt_k) == before);  // a skipped step leaves Adam's step counts alone
      // The kernel was handed the scaled gradients and unscaled them itself (writing them back, as
      // PyTorch's fused kernels do); a skipped step leaves them scaled.
      const torch::Tensor unscaled = net_f->parameters()[0].grad();
      CHECK(torch::equal(scaled / sf.scale_value(), unscaled));
      CHECK(torch::equal(net_k->parameters()[0].grad(), inject ? scaled : unscaled));
      sk.update();
      sf.update();
      CHECK(sk.scale_value() == sf.scale_value());
      auto pk = net_k->parameters(), pf = net_f->parameters();
      for (size_t i = 0; i < pk.size(); ++i) CHECK(torch::equal(pk[i], pf[i]));  // power-of-two scale: bit for bit
    }
    CHECK(sk.scale_value() == 2048.0);  // 1024, x2 after 3 clean iterations, /2 at the inf, x2 after 3 more
    CHECK(steps_of(*opt_k).front() == 7);
  }
}
