// Adversarial image-to-image training (issue 8): spectral normalisation, the fused Sequential
// runner, image pools, CycleGAN's linear schedule, the SRGAN/ESRGAN recipes (their losses move, the
// pretrained generator key) and CycleGAN's exact resume with both image pools.
#include <catch2/catch.hpp>

#include <fstream>

#include "../support/support.h"
#include "tessera/archs/image_gan.h"
#include "tessera/archs/net.h"
#include "tessera/io/files.h"
#include "tessera/io/image_io.h"
#include "tessera/io/safetensors.h"
#include "tessera/optim/optim.h"
#include "tessera/recipes/image_pool.h"
#include "tessera/recipes/trainer.h"

using namespace tessera;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

std::vector<YAML::Node> metrics_rows(const fs::path& run) {
  std::vector<YAML::Node> rows;
  std::ifstream in(run / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) rows.push_back(YAML::Load(line));
  return rows;
}

// The mean of `key` over the first and the last `n` rows that have it.
std::pair<double, double> first_last_mean(const std::vector<YAML::Node>& rows, const std::string& key, size_t n) {
  std::vector<double> v;
  for (const auto& r : rows)
    if (r[key]) v.push_back(r[key].as<double>());
  REQUIRE(v.size() >= 2 * n);
  double a = 0, b = 0;
  for (size_t i = 0; i < n; ++i) a += v[i] / n, b += v[v.size() - 1 - i] / n;
  return {a, b};
}

std::string cfg(const std::string& rel) { return (test::source_dir() / "configs" / rel).string(); }

}  // namespace

TEST_CASE("spectral norm: the power iteration finds the largest singular value, eval mode keeps u and v", "[archs][spectral_norm]") {
  torch::manual_seed(0);
  nn::SnConv2d conv(torch::nn::Conv2dOptions(6, 10, 3).padding(1).bias(false));
  const torch::Tensor x = torch::randn({2, 6, 8, 8});
  conv->train();
  for (int i = 0; i < 200; ++i) conv->forward(x);
  const double top = torch::linalg_svdvals(conv->weight_orig.detach().reshape({10, -1}))[0].item<double>();
  const double sigma = (conv->weight_orig / conv->normalized_weight()).flatten()[0].item<double>();
  REQUIRE(sigma == Approx(top).epsilon(1e-4));
  // The normalised weight has spectral norm 1, and the conv is the plain conv with it.
  REQUIRE(torch::linalg_svdvals(conv->normalized_weight().detach().reshape({10, -1}))[0].item<double>() == Approx(1.0).epsilon(1e-4));
  conv->eval();
  const torch::Tensor u = conv->weight_u.clone();
  const torch::Tensor y = conv->forward(x);
  REQUIRE(torch::equal(u, conv->weight_u));
  REQUIRE(torch::allclose(y, torch::conv2d(x, conv->normalized_weight(), {}, 1, 1), 1e-5, 1e-6));
  // Gradients flow to weight_orig through sigma.
  conv->train();
  conv->forward(x).square().sum().backward();
  REQUIRE(conv->weight_orig.grad().defined());
  REQUIRE(conv->weight_orig.grad().abs().sum().item<double>() > 0);
}

TEST_CASE("forward_fused equals the Sequential's own forward (instance norm + ReLU / LeakyReLU fused)", "[archs][image_gan]") {
  torch::manual_seed(1);
  for (const char* norm : {"instance", "batch", "none"}) {
    archs::ResnetGeneratorOptions go;
    go.num_feat = 8, go.num_blocks = 2, go.norm = norm;
    archs::ResnetGenerator g(go);
    archs::PatchGanOptions po;
    po.num_feat = 8, po.norm = norm;
    archs::PatchGan d(po);
    g->eval(), d->eval();
    const torch::Tensor x = torch::rand({2, 3, 32, 36});
    INFO(norm);
    torch::NoGradGuard ng;
    REQUIRE(torch::allclose(g->forward(x), (g->model->forward(x * 2 - 1) + 1) * 0.5, 1e-5, 1e-5));
    REQUIRE(torch::allclose(d->score(x), d->model->forward(x * 2 - 1), 1e-5, 1e-5));
    REQUIRE(d->score(x).sizes() == torch::IntArrayRef({2, 1, 2, 2}));  // 70x70 patches of a 32x36 image
  }
}

TEST_CASE("init_type is junyanz's: normal N(0, gain), kaiming N(0, 2 / fan_in), orthogonal rows, biases 0", "[archs][image_gan]") {
  torch::manual_seed(0);
  auto conv_weights = [](const std::string& spec) {
    archs::NetPtr net = archs::build_arch(Cfg(YAML::Load(spec), "network", "test"));
    std::vector<torch::Tensor> w, b;
    for (const auto& item : net->named_parameters())
      (item.key().ends_with("weight") ? w : b).push_back(item.value().detach());
    return std::pair{w, b};
  };
  const std::string g = "{type: resnet_generator, num_feat: 16, num_blocks: 2, norm: none, init_type: ";
  auto [wn, bn] = conv_weights(g + "normal, init_gain: 0.05}");
  for (const auto& w : wn) CHECK(w.std().item<double>() == Approx(0.05).epsilon(0.1));
  for (const auto& b : bn) CHECK(b.abs().max().item<double>() == 0.0);
  auto [wk, bk] = conv_weights(g + "kaiming}");
  for (const auto& w : wk) {
    // fan_in as torch computes it: dim 1 x kernel area (ConvTranspose2d's dim 1 is its outputs).
    const double fan_in = static_cast<double>(w.size(1) * w.size(2) * w.size(3));
    CHECK(w.std().item<double>() == Approx(std::sqrt(2.0 / fan_in)).epsilon(0.1));
  }
  auto [wo, bo] = conv_weights(g + "orthogonal, init_gain: 1.0}");
  const torch::Tensor m = wo[2].flatten(1);  // 64 x 288: orthonormal rows
  CHECK(torch::allclose(m.matmul(m.t()), torch::eye(m.size(0)), 1e-4, 1e-4));
  CHECK_THROWS_WITH(conv_weights(g + "uniform}"), Contains("init_type"));
}

TEST_CASE("the image pool stores the first images, then swaps about half, and saves and loads its contents", "[recipes][cyclegan]") {
  torch::manual_seed(2);
  recipes::ImagePool pool(4);
  std::vector<torch::Tensor> seen;
  for (int i = 0; i < 4; ++i) {
    torch::Tensor img = torch::full({1, 1, 2, 2}, static_cast<float>(i));
    REQUIRE(torch::equal(pool.query(img), img));  // filling: returned as is
  }
  REQUIRE(pool.stored() == 4);
  int swapped = 0;
  for (int i = 0; i < 400; ++i) {
    torch::Tensor img = torch::full({1, 1, 2, 2}, 100.0f + i);
    if (!torch::equal(pool.query(img), img)) ++swapped;
  }
  REQUIRE(swapped > 150);
  REQUIRE(swapped < 250);
  torch::serialize::OutputArchive out;
  pool.save(out, "pool");
  auto dir = test::temp_dir("image_pool");
  out.save_to((dir / "p.pt").string());
  torch::serialize::InputArchive in;
  in.load_from((dir / "p.pt").string());
  recipes::ImagePool back(4);
  back.load(in, "pool");
  REQUIRE(back.stored() == 4);
  // The same draws give the same answers from the loaded pool.
  torch::manual_seed(9);
  const torch::Tensor probe = torch::full({3, 1, 2, 2}, -1.0f);
  const torch::Tensor a = pool.query(probe);
  torch::manual_seed(9);
  REQUIRE(torch::equal(back.query(probe), a));
  recipes::ImagePool none(0);
  REQUIRE(torch::equal(none.query(probe), probe));
}

TEST_CASE("the linear schedule is junyanz's policy per step: constant, then linear towards 0", "[optim][schedule]") {
  Cfg c(YAML::Load("{type: linear, decay_start: 100}"), "scheduler", "test");
  optim::LrSchedule s = optim::LrSchedule::from_yaml(c, 200);
  for (int64_t step : {0, 50, 98}) REQUIRE(s.factor(step) == 1.0);
  // 1 - max(0, step + 1 - n) / (n_decay + 1)
  REQUIRE(s.factor(99) == Approx(1.0));
  REQUIRE(s.factor(100) == Approx(1.0 - 1.0 / 101));
  REQUIRE(s.factor(199) == Approx(1.0 / 101));
  Cfg d(YAML::Load("{type: linear}"), "scheduler", "test");
  REQUIRE(optim::LrSchedule::from_yaml(d, 200).decay_start == 100);
  Cfg bad(YAML::Load("{type: linear, decay_start: 500}"), "scheduler", "test");
  REQUIRE_THROWS_AS(optim::LrSchedule::from_yaml(bad, 200), ConfigError);
}

TEST_CASE("SRGAN and ESRGAN smoke configs train and their generator losses move", "[recipes][srgan]") {
  auto dir = test::temp_dir("srgan_train");
  for (const char* c : {"sr/srgan_smoke.yaml", "sr/esrgan_smoke.yaml"}) {
    INFO(c);
    const fs::path run = dir / fs::path(c).stem();
    auto r = test::run_cli({"train", cfg(c), "--run-dir", run.string(), "trainer.total_steps=30", "trainer.log_every=3",
                            "trainer.val_every=30", "trainer.save_every=30"},
                           test::source_dir());
    REQUIRE(r.exit_code == 0);
    auto rows = metrics_rows(run);
    auto [first, last] = first_last_mean(rows, "train/g_loss", 3);
    REQUIRE(last < 0.8 * first);
    for (const char* k : {"train/g_gan", "train/g_pixel", "train/g_perceptual", "train/d_loss", "val/psnr_y"}) {
      bool found = false;
      for (const auto& row : rows) found = found || row[k].IsDefined();
      INFO(k);
      REQUIRE(found);
    }
    REQUIRE(fs::exists(run / "checkpoints/best/model.safetensors"));
    REQUIRE(fs::exists(run / "checkpoints/best/discriminator.safetensors"));
    // The generator is an ordinary upscaler for every command.
    r = test::run_cli({"apply", "--checkpoint", run.string(), (test::data_dir() / "val/chelsea.png").string(), (dir / "up.png").string()});
    REQUIRE(r.exit_code == 0);
  }
}

TEST_CASE("recipe.pretrained_generator loads another run's weights, checked against the arch", "[recipes][srgan]") {
  auto dir = test::temp_dir("srgan_pretrained");
  const std::string gen = "{type: srresnet, scale: 2, num_feat: 16, num_block: 2}";
  auto r = test::run_cli({"train", cfg("sr/sr_smoke.yaml"), "--run-dir", (dir / "psnr").string(), "network=" + gen, "trainer.total_steps=10",
                          "trainer.val_every=10", "trainer.save_every=10"},
                         test::source_dir());
  REQUIRE(r.exit_code == 0);
  // lr 0: the SRGAN's generator stays what it was loaded with.
  r = test::run_cli({"train", cfg("sr/srgan_smoke.yaml"), "--run-dir", (dir / "gan").string(), "recipe.pretrained_generator=" + (dir / "psnr").string(),
                     "recipe.optimizer_g.lr=0", "trainer.total_steps=2", "trainer.val_every=2", "trainer.save_every=2"},
                    test::source_dir());
  REQUIRE(r.exit_code == 0);
  const io::TensorFile a = io::load_safetensors((dir / "psnr/checkpoints/best/model.safetensors").string());
  const io::TensorFile b = io::load_safetensors((dir / "gan/checkpoints/best/model.safetensors").string());
  size_t compared = 0;
  for (const auto& [name, t] : a.tensors) {
    if (name.find("num_batches_tracked") != std::string::npos || name.find("running_") != std::string::npos) continue;  // BN statistics update
    for (const auto& [n2, t2] : b.tensors)
      if (n2 == name) {
        REQUIRE(torch::equal(t, t2));
        ++compared;
      }
  }
  REQUIRE(compared > 10);
  // Another arch, or no such run: errors naming the key.
  r = test::run_cli({"train", cfg("sr/srgan_smoke.yaml"), "--run-dir", (dir / "bad").string(), "recipe.pretrained_generator=" + (dir / "psnr").string(),
                     "networks.generator.num_feat=8"},
                    test::source_dir());
  REQUIRE(r.exit_code != 0);
  REQUIRE_THAT(r.output, Contains("recipe.pretrained_generator") && Contains("num_feat"));
  r = test::run_cli({"train", cfg("sr/srgan_smoke.yaml"), "--run-dir", (dir / "bad2").string(), "recipe.pretrained_generator=" + (dir / "nope").string()},
                    test::source_dir());
  REQUIRE(r.exit_code != 0);
  REQUIRE_THAT(r.output, Contains("recipe.pretrained_generator") && Contains("does not exist"));
}

TEST_CASE("a discriminator whose input size differs from the HR patches is a config error naming both keys", "[recipes][srgan]") {
  auto dir = test::temp_dir("srgan_sizes");
  auto r = test::run_cli({"train", cfg("sr/srgan_smoke.yaml"), "--run-dir", (dir / "r").string(), "data.train.patch_size=32"}, test::source_dir());
  REQUIRE(r.exit_code != 0);
  REQUIRE_THAT(r.output, Contains("patch_size") && Contains("networks.discriminator.input_size") && Contains("96"));
}

TEST_CASE("CycleGAN resumes exactly: weights, optimizers, the generators' EMA, both image pools and the schedule", "[recipes][cyclegan][resume]") {
  auto dir = test::temp_dir("cyclegan_resume");
  const std::vector<std::string> common = {"trainer.total_steps=10", "trainer.save_every=5", "trainer.val_every=10", "recipe.pool_size=3",
                                           "recipe.ema=0.9"};
  auto args = [&](const fs::path& run, std::vector<std::string> extra) {
    std::vector<std::string> a = {"train", cfg("cyclegan/cyclegan_smoke.yaml"), "--run-dir", run.string()};
    a.insert(a.end(), common.begin(), common.end());
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  REQUIRE(test::run_cli(args(dir / "straight", {}), test::source_dir()).exit_code == 0);
  auto r = test::run_cli(args(dir / "split", {"--stop-after", "5"}), test::source_dir());
  REQUIRE(fs::exists(dir / "split/checkpoints/step_00000005"));
  r = test::run_cli(args(dir / "split", {"--resume", "auto"}), test::source_dir());
  REQUIRE(r.exit_code == 0);
  for (const char* f : {"generator_ab", "generator_ba", "discriminator_a", "discriminator_b"}) {
    INFO(f);
    const auto a = io::load_safetensors((dir / "straight/checkpoints/step_00000010" / (std::string(f) + ".safetensors")).string());
    const auto b = io::load_safetensors((dir / "split/checkpoints/step_00000010" / (std::string(f) + ".safetensors")).string());
    REQUIRE(a.tensors.size() == b.tensors.size());
    for (size_t i = 0; i < a.tensors.size(); ++i) REQUIRE(torch::equal(a.tensors[i].second, b.tensors[i].second));
  }
}

TEST_CASE("CycleGAN generators run in tessera apply on any image size and refuse the wrong data", "[recipes][cyclegan]") {
  auto dir = test::temp_dir("cyclegan_apply");
  auto r = test::run_cli({"train", cfg("cyclegan/cyclegan_smoke.yaml"), "--run-dir", (dir / "run").string(), "trainer.total_steps=4",
                          "trainer.val_every=4", "trainer.save_every=4"},
                         test::source_dir());
  REQUIRE(r.exit_code == 0);
  REQUIRE(fs::exists(dir / "run/samples"));
  // rocket.jpg is 427x640: not a multiple of 4 on one side, padded and cropped back.
  r = test::run_cli({"apply", "--checkpoint", (dir / "run").string(), (test::data_dir() / "val/rocket.jpg").string(), (dir / "ab.png").string()});
  REQUIRE(r.exit_code == 0);
  REQUIRE(io::read_image((dir / "ab.png").string()).rgb.sizes() == io::read_image((test::data_dir() / "val/rocket.jpg").string()).rgb.sizes());
  r = test::run_cli({"apply", "--checkpoint", (dir / "run/checkpoints/best/generator_ba.safetensors").string(),
                     (test::data_dir() / "val/rocket.jpg").string(), (dir / "ba.png").string()});
  REQUIRE(r.exit_code == 0);
  r = test::run_cli({"train", cfg("cyclegan/cyclegan_smoke.yaml"), "--run-dir", (dir / "bad").string(), "data.train.crop=30"}, test::source_dir());
  REQUIRE(r.exit_code != 0);
  REQUIRE_THAT(r.output, Contains("data.train.crop") && Contains("multiple of 4"));
  r = test::run_cli({"train", cfg("cyclegan/cyclegan_smoke.yaml"), "--run-dir", (dir / "bad_ema").string(), "recipe.ema=1"}, test::source_dir());
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("recipe.ema") && Contains("never leave the initial weights"));
  REQUIRE(!fs::exists(dir / "bad_ema/checkpoints"));
  r = test::run_cli({"train", cfg("cyclegan/cyclegan_smoke.yaml"), "--run-dir", (dir / "bad2").string(),
                     "data.train={type: sr_folder, hr_dir: " + (test::data_dir() / "train").string() + ", scale: 2, patch_size: 16}"},
                    test::source_dir());
  REQUIRE(r.exit_code != 0);
  REQUIRE_THAT(r.output, Contains("unpaired_folder"));
}
