#include <catch2/catch.hpp>
#include <malloc.h>

#include <cstdlib>
#include <cstring>

#include <filesystem>
#include <fstream>

#include "../support/support.h"
#include "tessera/archs/net.h"
#include "tessera/core/config.h"
#include "tessera/core/runtime.h"
#include "tessera/data/dataset.h"
#include "tessera/metrics/image_quality.h"
#include "tessera/recipes/recipe.h"
#include "tessera/recipes/gatys.h"
#include "tessera/recipes/trainer.h"

using namespace tessera;
using Catch::Matchers::Contains;

static Cfg cfg_of(const std::string& yaml) { return Cfg(YAML::Load(yaml), "", "test.yaml"); }

TEST_CASE("unknown keys name the full path and the nearest valid key", "[config]") {
  Cfg c = cfg_of("network: {type: edsr, num_feet: 8}");
  Cfg n = c.child("network");
  REQUIRE_THROWS_WITH(archs::build_arch(n), Contains("test.yaml: network.num_feet") && Contains("did you mean 'num_feat'"));
}

TEST_CASE("wrong types and out-of-range values name the path and the value", "[config]") {
  Cfg a = cfg_of("type: edsr\nnum_block: many");
  REQUIRE_THROWS_WITH(archs::build_arch(a), Contains("num_block") && Contains("'many'") && Contains("integer"));
  Cfg b = cfg_of("type: edsr\nnum_block: 2.5");
  REQUIRE_THROWS_WITH(archs::build_arch(b), Contains("num_block") && Contains("'2.5'"));
  Cfg c = cfg_of("type: edsr\nscale: 5");
  REQUIRE_THROWS_AS(archs::build_arch(c), ConfigError);
  Cfg d = cfg_of("type: edsr\nres_scale: -1");
  REQUIRE_THROWS_WITH(archs::build_arch(d), Contains("res_scale") && Contains("out of range"));
}

TEST_CASE("unknown registry names list the known ones", "[config][registry]") {
  Cfg c = cfg_of("type: edrs");
  REQUIRE_THROWS_WITH(archs::build_arch(c), Contains("unknown arch 'edrs'") && Contains("did you mean 'edsr'") &&
                                                Contains("espcn") && Contains("wdsr"));
}

TEST_CASE("metrics are built by name, unknown ones list the known", "[config][registry]") {
  REQUIRE(metrics::build_metric("psnr", "m")(torch::zeros({3, 4, 4}), torch::zeros({3, 4, 4}), {}) == std::numeric_limits<double>::infinity());
  REQUIRE_THROWS_WITH(metrics::build_metric("pnsr", "recipe.val.metrics[0]"),
                      Contains("recipe.val.metrics[0]: unknown metric 'pnsr'") && Contains("known: psnr, ssim"));
}

TEST_CASE("command-line overrides replace and create keys", "[config]") {
  YAML::Node n = YAML::Load("a: {b: 1}\nc: x");
  apply_overrides(n, {"a.b=2", "a.d.e=[1, 2]", "c=hello world"});
  REQUIRE(n["a"]["b"].as<int>() == 2);
  REQUIRE(n["a"]["d"]["e"][1].as<int>() == 2);
  REQUIRE(n["c"].as<std::string>() == "hello world");
  REQUIRE_THROWS_AS(apply_overrides(n, {"novalue"}), ConfigError);
  REQUIRE_THROWS_WITH(apply_overrides(n, {"c.x=1"}), Contains("'c' is not a section"));
}

TEST_CASE("YAML syntax errors name the file and line", "[config]") {
  auto dir = test::temp_dir("config_syntax");
  std::ofstream(dir / "bad.yaml") << "name: x\nnetwork: {type: edsr\n";
  REQUIRE_THROWS_WITH(load_yaml_file((dir / "bad.yaml").string()), Contains("bad.yaml:") && Contains("YAML syntax error"));
  REQUIRE_THROWS_WITH(load_yaml_file((dir / "missing.yaml").string()), Contains("cannot open"));
}

TEST_CASE("every config in configs/ loads and builds", "[config][configs]") {
  namespace fs = std::filesystem;
  const auto cwd = fs::current_path();
  fs::current_path(test::source_dir());  // configs use paths relative to the repository
  int count = 0;
  for (const auto& e : fs::recursive_directory_iterator(test::source_dir() / "configs")) {
    if (e.path().extension() != ".yaml") continue;
    INFO("config " << e.path().string());
    YAML::Node node = load_yaml_file(e.path().string());
    if (!node["recipe"]) {
      // A `tessera stylize` config: every key read and the feature network built.
      Cfg root(node, "", e.path().string());
      recipes::GatysOptions opt;
      REQUIRE_NOTHROW(opt = recipes::GatysOptions::from_yaml(root));
      REQUIRE_NOTHROW(recipes::Gatys(opt, torch::kCPU));
      ++count;
      continue;
    }
    // A GAN stage that starts from another run's generator (SRGAN from SRResNet, ESRGAN from the PSNR
    // RRDBNet) names that run; before it exists the config is refused naming the key, and builds
    // without it.
    if (node["recipe"]["pretrained_generator"] && !fs::exists(node["recipe"]["pretrained_generator"].as<std::string>())) {
      REQUIRE_THROWS_WITH(recipes::build_training(load_yaml_file(e.path().string()), e.path().string()),
                          Contains("recipe.pretrained_generator") && Contains("does not exist"));
      YAML::Node without = load_yaml_file(e.path().string());
      without["recipe"].remove("pretrained_generator");
      recipes::Training t;
      REQUIRE_NOTHROW(t = recipes::build_training(without, e.path().string()));
      ++count;
      continue;
    }
    // What `tessera train` builds, every section finish()ed: an unknown key anywhere fails here.
    recipes::Training t;
    REQUIRE_NOTHROW(t = recipes::build_training(load_yaml_file(e.path().string()), e.path().string()));
    REQUIRE(t.recipe);
    REQUIRE(t.resolved["network"].IsDefined() != t.resolved["networks"].IsDefined());
    ++count;
  }
  fs::current_path(cwd);
  REQUIRE(count >= 8);
}

TEST_CASE("a config with an unknown key at any level is refused by the configs check", "[config][configs]") {
  const std::string file = (test::source_dir() / "configs/sr/sr_smoke.yaml").string();
  for (const char* ov : {"trainer.tota_steps=3", "extra=1", "data.batchsize=2", "recipe.val.tiles=2"}) {
    YAML::Node n = load_yaml_file(file);
    apply_overrides(n, {ov, "data.train.hr_dir=" + (test::data_dir() / "train").string(), "data.val.hr_dir=" + (test::data_dir() / "val").string()});
    INFO(ov);
    REQUIRE_THROWS_AS(recipes::build_training(n, file), ConfigError);
  }
}

TEST_CASE("YAML aliases are copied apart, and a self-referencing anchor is refused", "[config]") {
  auto dir = test::temp_dir("config_alias");
  std::ofstream(dir / "a.yaml") << "name: x\ndata:\n  train: &d {type: sr_folder, scale: 2}\n  val: *d\n";
  YAML::Node n = load_yaml_file((dir / "a.yaml").string());
  apply_overrides(n, {"data.val.scale=3"});
  REQUIRE(n["data"]["val"]["scale"].as<int>() == 3);
  REQUIRE(n["data"]["train"]["scale"].as<int>() == 2);  // the override did not write through the alias
  std::ofstream(dir / "b.yaml") << "name: x\na: &x\n  b: *x\n";
  REQUIRE_THROWS_AS(load_yaml_file((dir / "b.yaml").string()), ConfigError);
}

TEST_CASE("keep_freed_memory serves large blocks from the heap and keeps them when freed", "[core][memory]") {
  constexpr size_t kBytes = size_t{64} << 20;  // over glibc's largest mmap threshold (32 MiB)
  auto mmapped_blocks = [] { return mallinfo2().hblks; };
  const size_t before = mmapped_blocks();
  void* p = std::malloc(kBytes);
  REQUIRE(p != nullptr);
  REQUIRE(mmapped_blocks() == before + 1);  // glibc's default: its own mmap, unmapped on free
  std::free(p);
  keep_freed_memory();
  p = std::malloc(kBytes);
  REQUIRE(p != nullptr);
  std::memset(p, 1, kBytes);
  REQUIRE(mmapped_blocks() == before);  // from the heap
  std::free(p);
  REQUIRE(mallinfo2().fordblks >= kBytes);  // kept for the next allocation, not trimmed
}
