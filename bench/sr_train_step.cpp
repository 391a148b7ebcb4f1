// Benchmark: the EDSR training step (L1 loss, Adam) in tessera, timed in-process.
// bench/sr_train_step.py runs this binary and the same model in PyTorch Python, interleaved, and
// reports the ratio; this binary alone prints one JSON line per trial.
//   tessera_bench_sr_train [--batch 16] [--patch 48] [--scale 2] [--feat 64] [--blocks 16]
//                          [--iters 10] [--warmup 3] [--trials 1] [--threads 0] [--amp none|bf16]
//                          [--channels-last 0|1] [--fused 0|1]
#include <chrono>
#include <cstdio>
#include <string>

#include "tessera/archs/inference.h"
#include "tessera/archs/sr.h"
#include "tessera/optim/optim.h"

using namespace tessera;

int main(int argc, char** argv) {
  int64_t batch = 16, patch = 48, scale = 2, feat = 64, blocks = 16, iters = 10, warmup = 3, trials = 1, threads = 0;
  std::string amp = "none";
  bool channels_last = false, fused = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--batch") batch = std::stoll(v);
    else if (k == "--patch") patch = std::stoll(v);
    else if (k == "--scale") scale = std::stoll(v);
    else if (k == "--feat") feat = std::stoll(v);
    else if (k == "--blocks") blocks = std::stoll(v);
    else if (k == "--iters") iters = std::stoll(v);
    else if (k == "--warmup") warmup = std::stoll(v);
    else if (k == "--trials") trials = std::stoll(v);
    else if (k == "--threads") threads = std::stoll(v);
    else if (k == "--amp") amp = v;
    else if (k == "--channels-last") channels_last = v == "1";
    else if (k == "--fused") fused = v == "1";
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (threads > 0) torch::set_num_threads(static_cast<int>(threads));
  torch::manual_seed(0);
  archs::EdsrOptions o;
  o.scale = scale;
  o.num_feat = feat;
  o.num_block = blocks;
  archs::Edsr net(o);
  net->train();
  if (channels_last) archs::to_channels_last(*net);
  std::unique_ptr<torch::optim::Optimizer> opt;
  if (fused) opt = std::make_unique<optim::FusedAdam>(net->parameters(), torch::optim::AdamOptions(1e-4));
  else opt = std::make_unique<torch::optim::Adam>(net->parameters(), torch::optim::AdamOptions(1e-4));
  torch::Tensor lq = torch::rand({batch, 3, patch, patch}), gt = torch::rand({batch, 3, patch * scale, patch * scale});
  if (channels_last) lq = lq.contiguous(torch::MemoryFormat::ChannelsLast);
  auto step = [&] {
    torch::Tensor loss;
    {
      optim::AutocastScope ac(torch::kCPU, amp == "bf16");
      loss = torch::l1_loss(net->forward(lq).to(torch::kFloat32), gt);
    }
    opt->zero_grad();
    loss.backward();
    opt->step();
    return loss.item<double>();
  };
  for (int64_t i = 0; i < warmup; ++i) step();
  for (int64_t t = 0; t < trials; ++t) {
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < iters; ++i) step();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("{\"impl\": \"tessera\", \"images_per_s\": %.4f, \"step_s\": %.5f, \"threads\": %d}\n",
                batch * iters / s, s / iters, torch::get_num_threads());
    std::fflush(stdout);
  }
  return 0;
}
