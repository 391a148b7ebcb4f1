// Optimisation-based style transfer (Gatys et al.) on a random VGG19: the losses fall, the result's
// Gram statistics move to the style's, colour preservation keeps the content's chroma, both
// optimisers work, and `tessera stylize` writes its run directory and refuses bad input.
#include <catch2/catch.hpp>

#include <fstream>

#include "../support/support.h"
#include "tessera/io/files.h"
#include "tessera/io/image_io.h"
#include "tessera/recipes/gatys.h"

using namespace tessera;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

recipes::GatysOptions small_options(const std::string& extra_yaml = "{}") {
  YAML::Node n = YAML::Load("{image_size: 64, iterations: 80, log_every: 20, snapshot_every: 0, features: {weights: random, seed: 1}}");
  for (const auto& kv : YAML::Load(extra_yaml)) n[kv.first.as<std::string>()] = kv.second;
  Cfg c(n, "", "test");
  return recipes::GatysOptions::from_yaml(c);
}

torch::Tensor image(const std::string& rel) { return io::read_image((test::data_dir() / rel).string()).rgb; }

}  // namespace

TEST_CASE("Gatys with a random VGG: style loss falls 100x and the Gram statistics move to the style's", "[style][gatys]") {
  const torch::Tensor content = image("val/chelsea.png"), style = image("val/coffee.png");
  recipes::Gatys g(small_options("{init: noise}"), torch::kCPU);
  REQUIRE(g.normalized());
  auto r = g.run(content, {{style, 1.0}});
  const double first = r.log.front().terms.at("style"), last = r.log.back().terms.at("style");
  INFO("style loss " << first << " -> " << last);
  REQUIRE(first / last >= 100);
  REQUIRE(r.evaluations >= 80);
  REQUIRE(r.image.size(1) == 43);  // 451x300 content, longer side 64
  REQUIRE(r.image.min().item<float>() >= 0);
  REQUIRE(r.image.max().item<float>() <= 1);
  // Style distance (Gram loss) of the result to the style image, and to the content image as a style.
  const double to_style = g.terms(r.image, content, {{style, 1.0}}).at("style");
  const double to_content = g.terms(r.image, content, {{content, 1.0}}).at("style");
  INFO("Gram loss to style " << to_style << ", to content " << to_content);
  REQUIRE(to_style < to_content);
}

TEST_CASE("colour preservation keeps the content's chroma within 1/255", "[style][gatys]") {
  auto dir = test::temp_dir("style_colour");
  const torch::Tensor content = image("val/chelsea.png"), style = image("train/brick.png");
  recipes::Gatys g(small_options("{preserve_color: true, iterations: 30, init: content}"), torch::kCPU);
  auto r = g.run(content, {{style, 1.0}});
  io::write_image((dir / "out.png").string(), r.image);
  torch::Tensor out = io::read_image((dir / "out.png").string()).rgb;
  torch::Tensor ref = recipes::resize_longer_side(content, 64);
  torch::Tensor chroma_out = io::rgb_to_ycbcr(out).slice(0, 1), chroma_ref = io::rgb_to_ycbcr(ref).slice(0, 1);
  const float err = (chroma_out - chroma_ref).abs().max().item<float>();
  INFO("max chroma difference " << err * 255 << "/255");
  REQUIRE(err <= 1.0f / 255);
  // The luminance did change: this is a stylisation, not a copy.
  REQUIRE((io::rgb_to_ycbcr(out)[0] - io::rgb_to_ycbcr(ref)[0]).abs().mean().item<float>() > 0.01f);
}

TEST_CASE("L-BFGS and Adam both reduce the loss, coarse-to-fine scales run, and so does bf16 autocast", "[style][gatys]") {
  const torch::Tensor content = image("val/rocket.jpg"), style = image("train/gravel.png");
  for (const char* o : {"{optimizer: lbfgs, iterations: 40}", "{optimizer: adam, lr: 0.03, iterations: 40}",
                        "{scales: [0.5, 1.0], iterations: 20}", "{optimizer: lbfgs, iterations: 40, amp: bf16}"}) {
    INFO(o);
    recipes::Gatys g(small_options(o), torch::kCPU);
    auto r = g.run(content, {{style, 1.0}});
    REQUIRE(r.log.back().terms.at("loss") < 0.5 * r.log.front().terms.at("loss"));
  }
}

TEST_CASE("tessera stylize writes the output and its run directory, and refuses bad input", "[style][cli]") {
  auto dir = test::temp_dir("style_cli");
  const std::string cfg = (test::source_dir() / "configs/style/gatys_smoke.yaml").string();
  const std::string content = (test::data_dir() / "val/chelsea.png").string(), style = (test::data_dir() / "train/grass.png").string();
  const std::string style2 = (test::data_dir() / "train/brick.png").string();
  auto r = test::run_cli({"stylize", "--config", cfg, "--content", content, "--style", style, "--style", style2, "--style-weight", "2",
                          "--style-weight", "1", "--output", (dir / "out.png").string(), "--run-dir", (dir / "run").string(), "iterations=30"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Contains("iter 30/30") && Contains("2 style image(s)"));
  REQUIRE(io::read_image((dir / "out.png").string()).rgb.size(2) == 64);
  for (const char* f : {"config.yaml", "metrics.jsonl", "stylize.log", "snapshots/iter_0000030.png"}) REQUIRE(fs::exists(dir / "run" / f));
  bool events = false;
  for (const auto& e : fs::directory_iterator(dir / "run")) events |= e.path().filename().string().rfind("events.out.tfevents", 0) == 0;
  REQUIRE(events);
  const std::string saved = io::read_file(dir / "run/config.yaml");
  REQUIRE_THAT(saved, Contains("relu5_1") && Contains("iterations: 30") && Contains("weight: 2"));
  // The same run directory again: refused, nothing replaced.
  r = test::run_cli({"stylize", "--config", cfg, "--content", content, "--style", style, "--output", (dir / "out2.png").string(),
                     "--run-dir", (dir / "run").string()});
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("already holds a run"));
  struct Bad {
    std::vector<std::string> extra;
    std::string expect;
  };
  for (const auto& b : std::vector<Bad>{{{"style_layers={relu9_1: 1}"}, "no layer 'relu9_1'"},
                                        {{"features.weights=" + (dir / "vgg19.safetensors").string()}, "convert_weights.py"},
                                        {{"init=zeros"}, "init: unknown value 'zeros'"},
                                        {{"scales=[1.0, 0.5]"}, "scales: must increase"},
                                        {{"--style-weight", "1", "--style-weight", "2"}, "2 weights for 1 styles"},
                                        {{"tv_weight=.nan"}, "tv_weight: expected a finite number"}}) {
    std::vector<std::string> args = {"stylize", "--config", cfg, "--content", content, "--style", style, "--output", (dir / "bad.png").string()};
    args.insert(args.end(), b.extra.begin(), b.extra.end());
    r = test::run_cli(args, dir);
    INFO(b.expect << "\n" << r.output);
    REQUIRE(r.exit_code == 2);
    REQUIRE_THAT(r.output, Contains(b.expect));
  }
  r = test::run_cli({"stylize", "--config", cfg, "--content", content, "--style", style, "--output", content}, dir);
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("is an input image"));
  REQUIRE(!fs::exists(dir / "bad.png"));
}

TEST_CASE("the feed-forward style recipe trains, and apply runs its network on whole images", "[style][johnson][cli]") {
  auto dir = test::temp_dir("style_johnson");
  const auto d = test::data_dir();
  auto r = test::run_cli({"train", (test::source_dir() / "configs/style/johnson_smoke.yaml").string(), "--run-dir", (dir / "run").string(),
                          "data.train.dir=" + (d / "train").string(), "data.val.dir=" + (d / "val").string(),
                          "recipe.style_image=" + (d / "train/brick.png").string()});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  std::vector<double> style;
  std::ifstream in(dir / "run/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    auto p = line.find("\"train/style\": ");
    if (p != std::string::npos) style.push_back(std::stod(line.substr(p + 15)));
  }
  REQUIRE(style.size() == 4);
  REQUIRE(style.back() < style.front());
  REQUIRE(fs::exists(dir / "run/samples/step_00000040_stylized.png"));
  const std::string ck = (dir / "run/checkpoints/best/model.safetensors").string(), img = (d / "val/rocket.jpg").string();
  r = test::run_cli({"apply", "--checkpoint", ck, img, (dir / "styled.png").string()});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE(io::read_image((dir / "styled.png").string()).rgb.sizes() == io::read_image(img).rgb.sizes());
  r = test::run_cli({"apply", "--checkpoint", ck, img, (dir / "tiled.png").string(), "--tile", "64"});
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("normalises over the whole image"));
  r = test::run_cli({"export", "--checkpoint", ck, "--output", (dir / "style.onnx").string()});
  REQUIRE(r.exit_code == 0);
  // tessera eval scores upscalers; a style network is sent to apply.
  r = test::run_cli({"eval", "--checkpoint", ck, "--data", (d / "val").string()});
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("run style networks with `tessera apply`"));
  // A style image that does not exist is named before anything trains.
  r = test::run_cli({"train", (test::source_dir() / "configs/style/johnson_smoke.yaml").string(), "--run-dir", (dir / "run2").string(),
                     "data.train.dir=" + (d / "train").string(), "data.val.dir=" + (d / "val").string(), "recipe.style_image=nope.png"});
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.output, Contains("nope.png") && Contains("does not exist"));
}
