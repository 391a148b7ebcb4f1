// tessera_test_helper: exposes library functions to the Python oracle tests (tests/python/).
//   metrics A.png B.png CROP y|rgb        -> {"psnr": .., "ssim": ..} on 8-bit images
//   resize IN.png SCALE OUT.safetensors   -> MATLAB bicubic of the image, float, unrounded ("y")
//   init ARCH.yaml OUT.safetensors        -> randomly initialised weights (BN statistics randomised too)
//   archs                                 -> the registered arch names, one per line
//   forward CKPT IN.safetensors OUT.safetensors -> network output "y" for input "x" (critics: and "label")
//   generate CKPT IN.safetensors OUT.safetensors -> generator/decoder output "y" for "z" (and "label")
//   step CKPT IN.safetensors OUT.safetensors -> a temporal upscaler's frame step "y" for "frame", "motion",
//                                              "jitter", "history" and "has_history" (all 0 or all 1)
//   fid A.safetensors B.safetensors         -> FID between the "f" features of the two files
//   adversarial NAME IN OUT                 -> for scores "real", "fake": "critic", "generator" and
//                                              their gradients "critic_d_real", ..., "generator_d_fake"
//   tv IN OUT                               -> "tv", "tv_squared", "tv_d_x" for images "x"
//   gram IN OUT                             -> "gram" of features "f"
//   vgg WEIGHTS|random DEPTH IN OUT         -> every tap of the feature VGG for images "x" (names as keys)
#include <cstdio>
#include <iostream>

#include "tessera/archs/checkpoint.h"
#include "tessera/archs/generative.h"
#include "tessera/archs/temporal.h"
#include "tessera/archs/vgg.h"
#include "tessera/metrics/generative.h"
#include "tessera/core/config.h"
#include "tessera/data/resize.h"
#include "tessera/io/image_io.h"
#include "tessera/losses/adversarial.h"
#include "tessera/metrics/image_quality.h"

using namespace tessera;

int main(int argc, char** argv) {
  try {
    std::vector<std::string> a(argv + 1, argv + argc);
    if (a.size() == 5 && a[0] == "metrics") {
      metrics::QualityOptions q;
      q.crop_border = std::stoll(a[3]);
      q.y_channel = a[4] == "y";
      auto x = io::read_image(a[1]).rgb, y = io::read_image(a[2]).rgb;
      std::printf("{\"psnr\": %.10f, \"ssim\": %.10f}\n", metrics::psnr(x, y, q), metrics::ssim(x, y, q));
      return 0;
    }
    if (a.size() == 4 && a[0] == "resize") {
      auto img = io::read_image(a[1]).rgb;
      io::save_safetensors(a[3], {{{"y", data::imresize_bicubic(img, std::stod(a[2]))}}, {}});
      return 0;
    }
    if (a.size() == 3 && a[0] == "init") {
      auto net = archs::build_arch(Cfg(load_yaml_file(a[1]), "", a[1]));
      torch::NoGradGuard ng;
      for (auto& b : net->named_buffers()) {
        if (b.key().find("running_mean") != std::string::npos) b.value().normal_(0, 0.1);
        if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 1.5);
      }
      for (auto& p : net->named_parameters())
        if (p.key().find("bn") != std::string::npos && p.value().dim() == 1) p.value().uniform_(0.5, 1.5);
      io::save_safetensors(a[2], archs::net_weights(*net));
      return 0;
    }
    if (a.size() == 1 && a[0] == "archs") {
      archs::register_builtin_archs();
      for (const auto& n : archs::arch_registry().names()) std::printf("%s\n", n.c_str());
      return 0;
    }
    if (a.size() == 4 && a[0] == "forward") {
      auto net = archs::load_net_checkpoint(a[1]);
      auto in = io::load_safetensors(a[2]);
      torch::NoGradGuard ng;
      const torch::Tensor* label = in.find("label");
      auto* critic = dynamic_cast<archs::CriticImpl*>(net.get());
      torch::Tensor y = critic && label ? critic->score(in.find("x")->clone(), label->clone()) : net->forward(in.find("x")->clone());
      io::save_safetensors(a[3], {{{"y", y}}, {}});
      return 0;
    }
    if (a.size() == 4 && a[0] == "step") {
      auto net = archs::load_net_checkpoint(a[1]);
      auto in = io::load_safetensors(a[2]);
      torch::NoGradGuard ng;
      net->eval();
      archs::TemporalState state;
      if (in.find("has_history")->min().item<float>() > 0) state.output = in.find("history")->clone();
      torch::Tensor y = archs::upscale_frame(*net, {in.find("frame")->clone(), in.find("motion")->clone(), in.find("jitter")->clone()}, state);
      io::save_safetensors(a[3], {{{"y", y}}, {}});
      return 0;
    }
    if (a.size() == 4 && a[0] == "generate") {
      auto net = archs::load_net_checkpoint(a[1]);
      archs::GeneratorImpl* gen = archs::as_generator(*net);
      if (!gen) throw Error(a[1] + " holds no generator");
      auto in = io::load_safetensors(a[2]);
      torch::NoGradGuard ng;
      const torch::Tensor* label = in.find("label");
      torch::Tensor y = gen->generate(in.find("z")->clone(), label ? label->clone() : torch::Tensor());
      io::save_safetensors(a[3], {{{"y", y}}, {}});
      return 0;
    }
    if (a.size() == 3 && a[0] == "fid") {
      auto x = io::load_safetensors(a[1]), y = io::load_safetensors(a[2]);
      std::printf("%.10f\n", metrics::frechet_distance(metrics::gaussian_fit(*x.find("f")), metrics::gaussian_fit(*y.find("f"))));
      return 0;
    }
    if (a.size() == 4 && a[0] == "adversarial") {
      auto in = io::load_safetensors(a[2]);
      auto loss = losses::build_adversarial(a[1], "helper");
      io::TensorFile out;
      for (const std::string side : {"critic", "generator"}) {
        torch::Tensor r = in.find("real")->clone().requires_grad_(true), f = in.find("fake")->clone().requires_grad_(true);
        torch::Tensor v = side == "critic" ? loss->critic(r, f) : loss->generator(r, f);
        v.backward();
        out.tensors.emplace_back(side, v.detach());
        out.tensors.emplace_back(side + "_d_real", r.grad().defined() ? r.grad() : torch::zeros_like(r));
        out.tensors.emplace_back(side + "_d_fake", f.grad().defined() ? f.grad() : torch::zeros_like(f));
      }
      io::save_safetensors(a[3], out);
      return 0;
    }
    if (a.size() == 3 && a[0] == "tv") {
      torch::Tensor x = io::load_safetensors(a[1]).find("x")->clone().requires_grad_(true);
      torch::Tensor tv = losses::total_variation(x);
      tv.backward();
      io::save_safetensors(a[2], {{{"tv", tv.detach()}, {"tv_squared", losses::total_variation(x.detach(), true)}, {"tv_d_x", x.grad()}}, {}});
      return 0;
    }
    if (a.size() == 3 && a[0] == "gram") {
      io::save_safetensors(a[2], {{{"gram", losses::gram_matrix(io::load_safetensors(a[1]).find("f")->clone())}}, {}});
      return 0;
    }
    if (a.size() == 5 && a[0] == "vgg") {
      YAML::Node n;
      n["weights"] = a[1];
      n["depth"] = std::stoi(a[2]);
      archs::Vgg vgg = archs::build_feature_vgg(Cfg(n, "features", "helper"));
      torch::NoGradGuard ng;
      const auto& names = vgg->tap_names();
      auto f = vgg->features(io::load_safetensors(a[3]).find("x")->clone(), {names.begin(), names.end()});
      io::TensorFile out;
      for (auto& [k, v] : f) out.tensors.emplace_back(k, v);
      io::save_safetensors(a[4], out);
      return 0;
    }
    std::cerr << "usage: see tests/support/helper.cpp\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
