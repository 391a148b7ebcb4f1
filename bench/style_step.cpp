// Benchmark: style transfer steps. bench/style_step.py runs it beside the same PyTorch Python code.
//   tessera_bench_style --mode gatys|johnson [--size 256] [--batch 4] [--iters 10] [--warmup 2] [--threads 0]
// gatys: L-BFGS iterations (one loss + gradient evaluation each, no line search) on a size x size
//        image, random VGG19, content relu4_2, style relu1_1..relu5_1, normalised layer losses, TV.
// johnson: training steps of TransformerNet (batch x 3 x size x size) with VGG16 relu2_2 content and
//        relu1_2/relu2_2/relu3_3/relu4_3 Gram losses, Adam 1e-3.
#include <torch/optim/adam.h>
#include <torch/optim/lbfgs.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "tessera/archs/style.h"
#include "tessera/archs/vgg.h"
#include "tessera/losses/adversarial.h"
#include "tessera/losses/feature.h"

using namespace tessera;

int main(int argc, char** argv) {
  std::string mode = "gatys";
  int64_t size = 256, batch = 4, iters = 10, warmup = 2, threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--mode") mode = v;
    else if (k == "--size") size = std::stoll(v);
    else if (k == "--batch") batch = std::stoll(v);
    else if (k == "--iters") iters = std::stoll(v);
    else if (k == "--warmup") warmup = std::stoll(v);
    else if (k == "--threads") threads = std::stoll(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (threads > 0) torch::set_num_threads(static_cast<int>(threads));
  torch::manual_seed(0);
  YAML::Node f;
  f["weights"] = "random";
  f["depth"] = mode == "gatys" ? 19 : 16;
  archs::Vgg vgg = archs::build_feature_vgg(Cfg(f, "features", "bench"));
  double seconds = 0;
  if (mode == "gatys") {
    const losses::LayerWeights cw{{"relu4_2", 5.0}};
    const losses::LayerWeights sw{{"relu1_1", 100.0}, {"relu2_1", 100.0}, {"relu3_1", 100.0}, {"relu4_1", 100.0}, {"relu5_1", 100.0}};
    std::set<std::string> taps{"relu4_2", "relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"};
    torch::Tensor content = torch::rand({1, 3, size, size}), style = torch::rand({1, 3, size, size});
    losses::FeatureMap ct, grams;
    {
      torch::NoGradGuard ng;
      ct = vgg->features(content, {"relu4_2"});
      for (auto& [k, v] : vgg->features(style, {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"})) grams[k] = losses::gram_matrix(v);
    }
    torch::Tensor x = content.clone().set_requires_grad(true);
    torch::optim::LBFGS opt({x}, torch::optim::LBFGSOptions(1.0).history_size(100).tolerance_grad(0).tolerance_change(0).max_iter(1));
    auto closure = [&]() -> torch::Tensor {
      if (x.grad().defined()) x.grad().zero_();
      auto fx = vgg->features(x, taps);
      torch::Tensor loss = losses::content_loss(fx, ct, cw, true) + losses::style_loss(fx, grams, sw, true) +
                           1e-3 * losses::total_variation(x, true);
      loss.backward();
      return loss;
    };
    for (int64_t i = 0; i < warmup; ++i) opt.step(closure);
    static_cast<torch::optim::LBFGSOptions&>(opt.param_groups()[0].options()).max_iter(iters).max_eval(iters * 5 / 4 + 1);
    auto t0 = std::chrono::steady_clock::now();
    opt.step(closure);
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } else if (mode == "transformer") {  // the style network alone: forward + backward of sum(y^2)
    archs::TransformerNet net(archs::TransformerNetOptions{});
    torch::Tensor x = torch::rand({batch, 3, size, size});
    auto step = [&] {
      net->zero_grad();
      net->forward(x).square().mean().backward();
    };
    for (int64_t i = 0; i < warmup; ++i) step();
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < iters; ++i) step();
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } else {
    archs::TransformerNet net(archs::TransformerNetOptions{});
    torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-3));
    const losses::LayerWeights cw{{"relu2_2", 1e5}};
    const losses::LayerWeights sw{{"relu1_2", 1e10}, {"relu2_2", 1e10}, {"relu3_3", 1e10}, {"relu4_3", 1e10}};
    std::set<std::string> taps{"relu1_2", "relu2_2", "relu3_3", "relu4_3"};
    torch::Tensor x = torch::rand({batch, 3, size, size}), style = torch::rand({1, 3, size, size});
    losses::FeatureMap grams;
    {
      torch::NoGradGuard ng;
      for (auto& [k, v] : vgg->features(style, taps)) grams[k] = losses::gram_matrix(v);
    }
    auto step = [&] {
      losses::FeatureMap target;
      {
        torch::NoGradGuard ng;
        target = vgg->features(x, {"relu2_2"});
      }
      torch::Tensor y = net->forward(x);
      auto fy = vgg->features(y, taps);
      torch::Tensor loss = losses::content_loss(fy, target, cw, false) + losses::style_loss(fy, grams, sw, false);
      opt.zero_grad();
      loss.backward();
      opt.step();
    };
    for (int64_t i = 0; i < warmup; ++i) step();
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < iters; ++i) step();
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  std::printf("{\"impl\": \"tessera\", \"mode\": \"%s\", \"steps_per_s\": %.5f, \"threads\": %d}\n", mode.c_str(), iters / seconds,
              torch::get_num_threads());
  return 0;
}
