#include <catch2/catch.hpp>

#include "tessera/archs/generative.h"
#include "tessera/data/generative_datasets.h"
#include "tessera/metrics/generative.h"
#include "tessera/losses/adversarial.h"
#include "tessera/recipes/generative.h"
#include "tessera/recipes/trainer.h"
#include "../support/support.h"

using namespace tessera;

namespace {

archs::NetPtr build(const std::string& yaml) { return archs::build_arch(Cfg(YAML::Load(yaml), "network", "test")); }

torch::Tensor wgan_gp(archs::CriticImpl& critic, const torch::Tensor& real, const torch::Tensor& fake, double lambda, const torch::Tensor& t) {
  losses::GradientPenalty gp{"wgan_gp", lambda};
  return gp([&](const torch::Tensor& x) { return critic.score(x); }, real, fake, t);
}

}  // namespace

TEST_CASE("the gradient penalty equals a finite-difference computation on a tiny critic", "[gan][gp]") {
  auto critic = std::dynamic_pointer_cast<archs::CriticImpl>(build("{type: mlp_critic, hidden: 5, layers: 2}"));
  critic->to(torch::kFloat64);
  auto real = torch::randn({4, 2}, torch::kFloat64), fake = torch::randn({4, 2}, torch::kFloat64);
  auto t = torch::rand({4}, torch::kFloat64);
  const double lambda = 10;
  double got = wgan_gp(*critic, real, fake, lambda, t).item<double>();
  // Independent: central differences of the critic at each interpolate.
  torch::NoGradGuard ng;
  auto x_hat = t.view({4, 1}) * real + (1 - t.view({4, 1})) * fake;
  const double h = 1e-6;
  double expected = 0;
  for (int64_t i = 0; i < 4; ++i) {
    double sq = 0;
    for (int64_t j = 0; j < 2; ++j) {
      auto xp = x_hat[i].clone().unsqueeze(0), xm = x_hat[i].clone().unsqueeze(0);
      xp[0][j] += h;
      xm[0][j] -= h;
      double d = (critic->score(xp) - critic->score(xm)).item<double>() / (2 * h);
      sq += d * d;
    }
    expected += lambda * std::pow(std::sqrt(sq) - 1, 2) / 4;
  }
  REQUIRE(got == Approx(expected).epsilon(1e-6));
}

TEST_CASE("the gradient penalty backpropagates into the critic (double backward)", "[gan][gp]") {
  auto critic = std::dynamic_pointer_cast<archs::CriticImpl>(build("{type: mlp_critic, hidden: 5, layers: 2}"));
  critic->to(torch::kFloat64);
  auto real = torch::randn({3, 2}, torch::kFloat64), fake = torch::randn({3, 2}, torch::kFloat64);
  auto t = torch::rand({3}, torch::kFloat64);
  auto gp = wgan_gp(*critic, real, fake, 10, t);
  gp.backward();
  // d gp / d w for one weight, against a finite difference of the penalty's value.
  torch::Tensor w = critic->parameters()[0];
  const double analytic = w.grad()[0][0].item<double>(), h = 1e-6;
  torch::NoGradGuard ng;
  w[0][0] += h;
  double up;
  {
    torch::AutoGradMode on(true);
    up = wgan_gp(*critic, real, fake, 10, t).item<double>();
  }
  w[0][0] -= 2 * h;
  double down;
  {
    torch::AutoGradMode on(true);
    down = wgan_gp(*critic, real, fake, 10, t).item<double>();
  }
  REQUIRE(analytic == Approx((up - down) / (2 * h)).epsilon(1e-5));
}

TEST_CASE("weight clipping keeps every critic weight within +-c after each step", "[gan][wgan]") {
  YAML::Node root = YAML::Load(R"(
name: t
networks:
  generator: {type: mlp_generator, hidden: 16, layers: 2}
  critic: {type: mlp_critic, hidden: 16, layers: 2}
recipe: {type: wgan, clip: 0.01, n_critic: 2, optimizer_d: {lr: 0.05}}
)");
  Cfg cfg(root, "", "t.yaml");
  auto recipe = recipes::build_recipe(cfg, torch::kCPU, 100);
  data::Toy2dDataset toy({});
  for (int step = 0; step < 6; ++step) {
    std::vector<data::Batch> samples;
    for (size_t i = 0; i < 32; ++i) samples.push_back(toy.get(i + 32 * step, 1));
    recipe->train_step(data::collate(samples), step);
    for (auto& [name, file] : recipe->weight_files()) {
      if (name != "critic.safetensors") continue;
      for (auto& [tname, t] : file.tensors) {
        INFO(tname << " at step " << step);
        REQUIRE(t.abs().max().item<double>() <= 0.01 + 1e-9);
      }
    }
  }
}

TEST_CASE("FID: zero for identical Gaussians, squared mean distance for shifted ones", "[metrics][fid]") {
  auto f = torch::randn({500, 4}, torch::kFloat64);
  auto g = metrics::gaussian_fit(f);
  REQUIRE(metrics::frechet_distance(g, g) == Approx(0).margin(1e-9));
  auto shifted = metrics::gaussian_fit(f + torch::tensor({1.0, 2.0, 0.0, 0.0}, torch::kFloat64));
  REQUIRE(metrics::frechet_distance(g, shifted) == Approx(5.0).epsilon(1e-9));
}

TEST_CASE("inception score: 1 for identical predictions, K for confident balanced ones", "[metrics][is]") {
  auto same = torch::full({100, 10}, 0.1);
  REQUIRE(metrics::inception_score(same, 5).first == Approx(1.0));
  auto onehot = torch::eye(10).repeat({10, 1});
  REQUIRE(metrics::inception_score(onehot, 1).first == Approx(10.0).epsilon(1e-6));
}

TEST_CASE("mode coverage counts modes and high-quality samples", "[metrics][toy]") {
  data::Toy2dDataset ring({});
  std::vector<torch::Tensor> pts;
  for (size_t i = 0; i < 800; ++i) pts.push_back(ring.get(i, 3).at("point"));
  auto all = metrics::mode_coverage(torch::stack(pts), ring.modes(), ring.mode_std());
  REQUIRE(all.modes_covered == 8);
  REQUIRE(all.high_quality > 0.98);
  // Samples from one mode only, plus junk at the origin.
  auto one = ring.modes()[0].expand({400, 2}).clone();
  auto junk = torch::zeros({100, 2});
  auto r = metrics::mode_coverage(torch::cat({one, junk}), ring.modes(), ring.mode_std());
  REQUIRE(r.modes_covered == 1);
  REQUIRE(r.high_quality == Approx(0.8));
}

TEST_CASE("generative archs build from defaults and produce the declared shapes", "[archs][generative]") {
  for (const char* y : {"{type: dcgan_generator}", "{type: dcgan_generator, image_size: 16, num_classes: 3}", "{type: mlp_generator}"}) {
    INFO(y);
    auto g = std::dynamic_pointer_cast<archs::GeneratorImpl>(build(y));
    REQUIRE(g);
    g->eval();
    torch::Tensor labels = g->num_classes() ? torch::tensor({0, 2}, torch::kInt64) : torch::Tensor();
    auto out = g->generate(torch::randn({2, g->latent_dim()}), labels);
    auto shape = g->sample_shape();
    shape.insert(shape.begin(), 2);
    REQUIRE(out.sizes() == torch::IntArrayRef(shape));
  }
  for (const char* y : {"{type: dcgan_critic, image_size: 16, norm: layer}", "{type: dcgan_critic, num_classes: 4, conditioning: projection}",
                        "{type: dcgan_critic, num_classes: 4}"}) {
    INFO(y);
    auto c = std::dynamic_pointer_cast<archs::CriticImpl>(build(y));
    const int64_t s = std::string(y).find("16") != std::string::npos ? 16 : 32;
    torch::Tensor labels = c->num_classes() ? torch::tensor({1, 3}, torch::kInt64) : torch::Tensor();
    REQUIRE(c->score(torch::rand({2, 1, s, s}), labels).sizes() == torch::IntArrayRef({2}));
  }
  auto vae = std::dynamic_pointer_cast<archs::AutoencoderImpl>(build("{type: conv_vae, image_size: 16}"));
  REQUIRE(vae->encode(torch::rand({3, 1, 16, 16})).sizes() == torch::IntArrayRef({3, 32}));
  REQUIRE(vae->forward(torch::rand({3, 1, 16, 16})).sizes() == torch::IntArrayRef({3, 1, 16, 16}));
  REQUIRE_THROWS_AS(build("{type: dcgan_generator, image_size: 12}"), ConfigError);
}

TEST_CASE("the conditional GAN trains with the WGAN-GP loss and a projection critic", "[gan][cgan]") {
  YAML::Node root = YAML::Load(R"(
name: t
networks:
  generator: {type: dcgan_generator, image_size: 8, channels: 1, latent_dim: 4, base: 4, num_classes: 3}
  critic: {type: dcgan_critic, image_size: 8, channels: 1, base: 4, norm: none, num_classes: 3, conditioning: projection}
recipe: {type: cgan, loss: wasserstein, gp_lambda: 10, n_critic: 2}
)");
  Cfg cfg(root, "", "t.yaml");
  auto recipe = recipes::build_recipe(cfg, torch::kCPU, 10);
  data::Batch batch{{"image", torch::rand({6, 1, 8, 8})}, {"label", torch::tensor({0, 1, 2, 0, 1, 2}, torch::kInt64)}};
  for (int step = 0; step < 4; ++step) {
    auto s = recipe->train_step(batch, step);
    REQUIRE(std::isfinite(s.at("d_loss")));
    REQUIRE(s.count("gradient_penalty"));
    REQUIRE(s.at("generator_steps") == (step + 1) / 2);
  }
  Cfg bad(YAML::Load("name: t\nnetworks: {generator: {type: dcgan_generator, image_size: 8}, critic: {type: dcgan_critic, image_size: 8}}\nrecipe: {type: cgan}"), "", "t.yaml");
  REQUIRE_THROWS_WITH(recipes::build_recipe(bad, torch::kCPU, 10), Catch::Matchers::Contains("num_classes"));
}

TEST_CASE("R1 equals gamma/2 times the squared input-gradient norm at the real samples (finite differences)", "[gan][gp]") {
  auto critic = std::dynamic_pointer_cast<archs::CriticImpl>(build("{type: mlp_critic, hidden: 5, layers: 2}"));
  critic->to(torch::kFloat64);
  auto real = torch::randn({4, 2}, torch::kFloat64), fake = torch::randn({4, 2}, torch::kFloat64);
  losses::GradientPenalty r1{"r1", 3.0};
  const double got = r1([&](const torch::Tensor& x) { return critic->score(x); }, real, fake).item<double>();
  torch::NoGradGuard ng;
  const double h = 1e-6;
  double expected = 0;
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 2; ++j) {
      auto xp = real[i].clone().unsqueeze(0), xm = real[i].clone().unsqueeze(0);
      xp[0][j] += h;
      xm[0][j] -= h;
      const double d = (critic->score(xp) - critic->score(xm)).item<double>() / (2 * h);
      expected += 0.5 * 3.0 * d * d / 4;
    }
  REQUIRE(got == Approx(expected).epsilon(1e-6));
}

TEST_CASE("the adversarial recipe trains with every registered adversarial loss and R1", "[gan][losses]") {
  for (const char* loss : {"nonsaturating", "lsgan", "hinge", "wasserstein", "relativistic"}) {
    INFO(loss);
    YAML::Node root = YAML::Load(std::string(R"(
name: t
networks:
  generator: {type: mlp_generator, latent_dim: 2, hidden: 8, layers: 2}
  critic: {type: mlp_critic, hidden: 8, layers: 2}
recipe: {type: wgan_gp, gp_lambda: 0, r1_gamma: 1, n_critic: 1, loss: )") + loss + "}\n");
    Cfg cfg(root, "", "t.yaml");
    auto recipe = recipes::build_recipe(cfg, torch::kCPU, 10);
    data::Batch batch{{"point", torch::randn({16, 2})}};
    for (int step = 0; step < 3; ++step) {
      auto s = recipe->train_step(batch, step);
      REQUIRE(std::isfinite(s.at("d_loss")));
      REQUIRE(std::isfinite(s.at("g_loss")));
      REQUIRE(s.count("r1_penalty"));
    }
  }
  Cfg bad(YAML::Load("name: t\nnetworks: {generator: {type: mlp_generator}, critic: {type: mlp_critic}}\nrecipe: {type: gan, loss: hinj}"), "", "t.yaml");
  REQUIRE_THROWS_WITH(recipes::build_recipe(bad, torch::kCPU, 10), Catch::Matchers::Contains("hinge"));
}

TEST_CASE("a GAN whose networks' image size differs from the data's is a config error naming both", "[gan][config]") {
  YAML::Node root = YAML::LoadFile((test::source_dir() / "configs/gan/wgan_gp_smoke.yaml").string());
  root["networks"]["generator"]["image_size"] = 32;
  root["networks"]["critic"]["image_size"] = 32;
  for (const char* split : {"train", "val"}) root["data"][split]["path"] = (test::source_dir() / "datasets/digits/digits.csv").string();
  REQUIRE_THROWS_WITH(recipes::build_training(root, "wgan_gp_smoke.yaml"),
                      Catch::Matchers::Contains("data.train gives images of [C, H, W] = [1, 8, 8]") &&
                          Catch::Matchers::Contains("[1, 32, 32]") && Catch::Matchers::Contains("image_size"));
}

TEST_CASE("an autoencoder or VAE whose image size differs from the data's is a config error naming the key", "[vae][config]") {
  YAML::Node root = YAML::LoadFile((test::source_dir() / "configs/vae/vae_smoke.yaml").string());
  root["network"]["image_size"] = 16;
  for (const char* split : {"train", "val"}) root["data"][split]["path"] = (test::source_dir() / "datasets/digits/digits.csv").string();
  REQUIRE_THROWS_WITH(recipes::build_training(root, "vae_smoke.yaml"),
                      Catch::Matchers::Contains("data.train gives images of [C, H, W] = [1, 8, 8]") &&
                          Catch::Matchers::Contains("[1, 16, 16]") && Catch::Matchers::Contains("network.image_size"));
}
