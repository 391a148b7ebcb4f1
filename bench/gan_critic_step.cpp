// Benchmark: one WGAN critic step (Wasserstein loss, Adam) on a DCGAN critic, with or without the
// gradient penalty (double backward). bench/gan_critic_step.py runs it beside PyTorch Python.
//   tessera_bench_gan_critic [--batch 64] [--size 32] [--channels 3] [--base 64] [--gp 1] [--iters 20] [--warmup 3] [--threads 0]
#include <chrono>
#include <cstdio>
#include <string>

#include "tessera/archs/generative.h"
#include "tessera/losses/adversarial.h"

using namespace tessera;

int main(int argc, char** argv) {
  int64_t batch = 64, size = 32, channels = 3, base = 64, gp = 1, iters = 20, warmup = 3, threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    int64_t v = std::stoll(argv[i + 1]);
    if (k == "--batch") batch = v;
    else if (k == "--size") size = v;
    else if (k == "--channels") channels = v;
    else if (k == "--base") base = v;
    else if (k == "--gp") gp = v;
    else if (k == "--iters") iters = v;
    else if (k == "--warmup") warmup = v;
    else if (k == "--threads") threads = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (threads > 0) torch::set_num_threads(static_cast<int>(threads));
  torch::manual_seed(0);
  archs::DcganOptions o;
  o.image_size = size;
  o.channels = channels;
  o.base = base;
  o.norm = "none";
  archs::DcganCritic critic(o);
  const losses::GradientPenalty penalty{"wgan_gp", 10.0};
  torch::optim::Adam opt(critic->parameters(), torch::optim::AdamOptions(1e-4).betas({0.0, 0.9}));
  torch::Tensor real = torch::rand({batch, channels, size, size}) * 2 - 1, fake = torch::rand({batch, channels, size, size}) * 2 - 1;
  auto step = [&] {
    torch::Tensor loss = critic->score(fake).mean() - critic->score(real).mean();
    if (gp) loss = loss + penalty([&](const torch::Tensor& x) { return critic->score(x); }, real, fake);
    opt.zero_grad();
    loss.backward();
    opt.step();
  };
  for (int64_t i = 0; i < warmup; ++i) step();
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iters; ++i) step();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("{\"impl\": \"tessera\", \"steps_per_s\": %.4f, \"threads\": %d}\n", iters / s, torch::get_num_threads());
  return 0;
}
