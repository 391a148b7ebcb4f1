// End-to-end checks of the CLI: exit codes, error messages, checkpoints and resume.
#include <catch2/catch.hpp>

#include <fstream>
#include <regex>
#include <sstream>

#include "../support/support.h"
#include "tessera/io/files.h"
#include "tessera/io/safetensors.h"
#include "tessera/recipes/trainer.h"

using namespace tessera;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

std::vector<std::string> smoke_args(const fs::path& run_dir, std::vector<std::string> extra = {}) {
  return test::sr_smoke_args(run_dir, std::move(extra));
}

// The run's logged train/loss values, in step order.
std::vector<double> train_losses(const fs::path& run_dir) {
  std::ifstream in(run_dir / "metrics.jsonl");
  std::vector<double> losses;
  for (std::string line; std::getline(in, line);) {
    auto p = line.find("\"train/loss\": ");
    if (p != std::string::npos) losses.push_back(std::stod(line.substr(p + 15)));
  }
  return losses;
}

}  // namespace

TEST_CASE("usage and config errors exit 2 with a message naming the key", "[cli]") {
  auto dir = test::temp_dir("cli_errors");
  auto r = test::run_cli(smoke_args(dir / "run", {"network.num_feet=3"}));
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("network.num_feet") && Contains("did you mean 'num_feat'"));
  r = test::run_cli(smoke_args(dir / "run", {"recipe.optimizer.lr=fast"}));
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("recipe.optimizer.lr") && Contains("'fast'"));
  r = test::run_cli({"train"});
  REQUIRE(r.exit_code == 2);
  r = test::run_cli({"frobnicate"});
  REQUIRE(r.exit_code == 2);
  r = test::run_cli({"export", "--checkpoint", (dir / "nope.safetensors").string(), "--output", (dir / "x.onnx").string()});
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.output, Contains("nope.safetensors"));
  // A bad image-size limit in the environment stops every command at start-up.
  r = test::run_bash("TESSERA_MAX_IMAGE_PIXELS=lots " + test::shell_quote(test::tessera_binary().string()) + " info");
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("TESSERA_MAX_IMAGE_PIXELS='lots' is not a positive whole number"));
  // So do bad values of the inference switches.
  for (const std::string var : {"TESSERA_WINOGRAD", "TESSERA_KEEP_FREED_MEMORY"}) {
    r = test::run_bash(var + "=yes " + test::shell_quote(test::tessera_binary().string()) + " info");
    REQUIRE(r.exit_code == 2);
    REQUIRE_THAT(r.output, Contains(var + "='yes': use 1 (on) or 0 (off)"));
    REQUIRE(test::run_bash(var + "=0 " + test::shell_quote(test::tessera_binary().string()) + " info").exit_code == 0);
  }
}

TEST_CASE("training writes the run directory, a corrupt checkpoint is refused and resume falls back", "[cli][train]") {
  auto dir = test::temp_dir("cli_train");
  auto run = dir / "run";
  auto r = test::run_cli(smoke_args(run));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  for (const char* f : {"config.yaml", "train.log", "metrics.jsonl", "checkpoints/best/model.safetensors",
                        "checkpoints/step_00000040/state.pt", "checkpoints/step_00000020/model.safetensors"})
    REQUIRE(fs::exists(run / f));
  REQUIRE(recipes::list_checkpoints(run).size() == 2);
  std::string cfg = io::read_file(run / "config.yaml");
  REQUIRE_THAT(cfg, Contains("git_sha") && Contains("libtorch") && Contains("rgb_mean"));

  // Starting again into the same run directory without --resume is refused (nothing overwritten).
  r = test::run_cli(smoke_args(run));
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("--resume auto"));

  // Truncate the newest checkpoint's weights: eval names the file and fails cleanly.
  auto newest = run / "checkpoints/step_00000040/model.safetensors";
  std::string bytes = io::read_file(newest);
  io::write_file_atomic(newest, bytes.substr(0, bytes.size() / 2));
  r = test::run_cli({"eval", "--checkpoint", newest.string(), "--data", (test::data_dir() / "val").string()});
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.output, Contains("step_00000040/model.safetensors") && Contains("truncated"));

  // --resume auto skips it and continues from step 20 to the new total.
  r = test::run_cli(smoke_args(run, {"--resume", "auto", "trainer.total_steps=50"}));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Contains("skipping unusable checkpoint") && Contains("resumed from") && Contains("step 20"));
  REQUIRE(fs::exists(run / "checkpoints/step_00000050/model.safetensors"));
}

TEST_CASE("eval, upscale and export work from the checkpoint file alone", "[cli]") {
  auto dir = test::temp_dir("cli_infer");
  auto run = dir / "run";
  REQUIRE(test::run_cli(smoke_args(run, {"trainer.total_steps=20"})).exit_code == 0);
  auto ckpt = (run / "checkpoints/best/model.safetensors").string();
  auto r = test::run_cli({"eval", "--checkpoint", ckpt, "--data", (test::data_dir() / "val").string(), "--json"});
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Contains("\"bicubic\"") && Contains("\"psnr\"") && Contains("chelsea.png"));
  r = test::run_cli({"eval", "--checkpoint", ckpt, "--data", (test::data_dir() / "val").string(), "--scale", "3"});
  REQUIRE(r.exit_code == 2);
  r = test::run_cli({"eval", "--checkpoint", ckpt, "--data", (test::data_dir() / "val").string(), "--metric", "ssim", "--rgb"});
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Contains("bicubic ssim") && !Contains("psnr"));
  r = test::run_cli({"eval", "--checkpoint", ckpt, "--data", (test::data_dir() / "val").string(), "--metric", "lpips"});
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("unknown metric 'lpips'"));
  r = test::run_cli({"upscale", "--checkpoint", ckpt, (test::data_dir() / "val/chelsea.png").string(), (dir / "up.png").string(), "--tile", "64"});
  REQUIRE(r.exit_code == 0);
  REQUIRE(fs::exists(dir / "up.png"));
  r = test::run_cli({"upscale", "--checkpoint", ckpt, (test::data_dir() / "val").string(), (dir / "up_dir").string()});
  REQUIRE(r.exit_code == 0);
  REQUIRE(fs::exists(dir / "up_dir/rocket.jpg"));
  // Upscaling a folder or an image onto itself is refused; the originals are untouched.
  const auto before = io::read_file(dir / "up.png");
  r = test::run_cli({"upscale", "--checkpoint", ckpt, (dir / "up_dir").string(), (dir / "up_dir").string()});
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("replace the originals"));
  r = test::run_cli({"upscale", "--checkpoint", ckpt, (dir / "up.png").string(), (dir / "up.png").string()});
  REQUIRE(r.exit_code == 2);
  REQUIRE(io::read_file(dir / "up.png") == before);
  r = test::run_cli({"export", "--checkpoint", ckpt, "--output", (dir / "m.onnx").string()});
  REQUIRE(r.exit_code == 0);
  REQUIRE(fs::file_size(dir / "m.onnx") > 1000);
  r = test::run_cli({"info"});
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Contains("LibTorch") && Contains("avx512_bf16"));
}

TEST_CASE("bf16 autocast training runs and learns", "[cli][train][amp]") {
  auto dir = test::temp_dir("cli_bf16");
  auto r = test::run_cli(smoke_args(dir / "run", {"recipe.amp=bf16", "trainer.val_every=0"}));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Contains("autocast bf16"));
  // metrics.jsonl: the loss at step 40 is below the loss at step 10.
  const std::vector<double> losses = train_losses(dir / "run");
  REQUIRE(losses.size() == 4);
  REQUIRE(losses.back() < losses.front());
}

TEST_CASE("degrade: device trains on LR made from the HR patches by the recipe", "[cli][train]") {
  auto dir = test::temp_dir("cli_degrade_device");
  auto r = test::run_cli(smoke_args(dir / "loader", {"trainer.val_every=0"}));
  REQUIRE(r.exit_code == 0);
  r = test::run_cli(smoke_args(dir / "device", {"trainer.val_every=0", "data.train.degrade=device"}));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Contains("LR made on the training device"));
  const std::vector<double> loader = train_losses(dir / "loader"), device = train_losses(dir / "device");
  REQUIRE(device.size() == 4);
  REQUIRE(device.back() < device.front());
  // The same patches with LR equal away from the patch borders: the same losses within 1%,
  // though not the same (the borders differ).
  for (size_t i = 0; i < device.size(); ++i) {
    CHECK(std::abs(device[i] - loader[i]) < 0.01 * loader[i]);
    CHECK(device[i] != loader[i]);
  }
  // With lr_dir, `device` has nothing to degrade.
  r = test::run_cli(smoke_args(dir / "bad", {"data.train.degrade=device", "data.train.lr_dir=datasets/skimage/train"}));
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("data.train.degrade") && Contains("lr_dir"));
}

TEST_CASE("SIGTERM saves a checkpoint and exits cleanly", "[cli][train]") {
  auto dir = test::temp_dir("cli_sigterm");
  auto run = dir / "run";
  std::string cmd = "'" + test::tessera_binary().string() + "'";
  for (const auto& a : smoke_args(run, {"trainer.total_steps=100000", "trainer.save_every=0", "trainer.val_every=0"})) cmd += " '" + a + "'";
  cmd += " > '" + (dir / "log.txt").string() + "' 2>&1 & pid=$!; "
         "for i in $(seq 1 600); do grep -q 'step 10/' '" + (dir / "log.txt").string() + "' 2>/dev/null && break; sleep 0.1; done; "
         "kill -TERM $pid; wait $pid";
  std::ofstream(dir / "run.sh") << cmd << "\n";
  int status = std::system(("bash '" + (dir / "run.sh").string() + "'").c_str());
  (void)status;
  std::string log = io::read_file(dir / "log.txt");
  INFO(log);
  REQUIRE_THAT(log, Contains("terminated (SIGTERM)"));
  auto cks = recipes::list_checkpoints(run);
  REQUIRE(cks.size() == 1);
  REQUIRE(fs::exists(cks[0] / "state.pt"));
}

TEST_CASE("config.yaml is the whole resolved config: every default filled in, and it reruns as it is", "[cli][train][config]") {
  auto dir = test::temp_dir("cli_resolved");
  auto r = test::run_cli(smoke_args(dir / "a", {"trainer.total_steps=10", "trainer.val_every=0"}));
  REQUIRE(r.exit_code == 0);
  YAML::Node cfg = YAML::LoadFile((dir / "a/config.yaml").string());
  // Keys the smoke config does not give, with the defaults the run used.
  REQUIRE(cfg["recipe"]["optimizer"]["betas"][1].as<double>() == 0.999);
  REQUIRE(cfg["recipe"]["scheduler"]["type"].as<std::string>() == "constant");
  REQUIRE(cfg["recipe"]["ema"].as<double>() == 0.0);
  REQUIRE(cfg["trainer"]["keep_last"].as<int64_t>() == 2);
  REQUIRE(cfg["data"]["prefetch"].as<int64_t>() == 4);
  REQUIRE(cfg["data"]["val"]["cache"].as<bool>());
  REQUIRE(cfg["recipe"]["val"]["metrics"].size() == 2);
  // The saved file alone repeats the run: the same losses.
  r = test::run_cli({"train", (dir / "a/config.yaml").string(), "--run-dir", (dir / "b").string()});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  auto rows = [](const fs::path& p) {
    std::string s = io::read_file(p), out;
    std::istringstream in(s);
    for (std::string line; std::getline(in, line);) out += std::regex_replace(line, std::regex("\"train/it_per_s\": [^,}]*"), "") + "\n";
    return out;
  };
  REQUIRE(rows(dir / "a/metrics.jsonl") == rows(dir / "b/metrics.jsonl"));
}

TEST_CASE("profile prints the operators of a training step by self time and refuses bad arguments", "[cli][profile]") {
  auto dir = test::temp_dir("cli_profile");
  auto args = smoke_args(dir / "unused", {"recipe.channels_last=true"});
  // smoke_args is a train command line: make it a profile one (no --run-dir).
  std::vector<std::string> prof{"profile", args[1]};
  for (size_t i = 2; i < args.size(); ++i)
    if (args[i] == "--run-dir") ++i;
    else prof.push_back(args[i]);
  for (const char* a : {"--warmup", "1", "--steps", "2", "--output"}) prof.push_back(a);
  prof.push_back((dir / "table.md").string());
  auto r = test::run_cli(prof);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Contains("| operator | calls/step | self ms/step") && Contains("convolution"));
  REQUIRE(io::read_file(dir / "table.md").find("convolution") != std::string::npos);
  REQUIRE_FALSE(fs::exists(dir / "unused"));
  // Under fp16 the profiled steps run the Trainer's loss-scaler bookkeeping: each step unscales.
  std::vector<std::string> fp16 = prof;
  fp16.insert(fp16.begin() + 2, "recipe.amp=fp16");
  for (const char* a : {"--top", "1000"}) fp16.push_back(a);
  r = test::run_cli(fp16);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Contains("| `aten::_amp_foreach_non_finite_check_and_unscale_` | 1.0 |"));
  prof.push_back("--steps");
  prof.push_back("0");
  r = test::run_cli(prof);
  REQUIRE(r.exit_code != 0);
  REQUIRE_THAT(r.output, Contains("--steps"));
}

TEST_CASE("the GPU bundle holds every library the binaries load besides LibTorch and the C runtime", "[cli][gpu]") {
  auto dir = test::temp_dir("gpu_bundle");
  auto r = test::run_bash("TESSERA_BUILD=" + test::shell_quote(test::binary_dir().string()) + " " +
                          test::shell_quote((test::source_dir() / "scripts" / "gpu_bundle.sh").string()) + " --stage-only --out " +
                          test::shell_quote(dir.string()) + " 2>&1");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const fs::path stage = dir / "tessera-gpu";
  for (const char* f : {"bin/tessera", "bin/tessera_tests", "lib/libtessera_ops.so", "run.sh", "configs/sr/sr_smoke.yaml", "tests/test_ops_opcheck.py"})
    CHECK(fs::exists(stage / f));
  // With only the bundle's lib/ and LibTorch's folder on the search path (the RUNPATH's build
  // folder and system folders aside), every library tessera needs outside LibTorch comes from lib/.
  r = test::run_bash("cd " + test::shell_quote(stage.string()) + " && TL=$(" + test::shell_quote(TESSERA_PYTHON) +
                     " -c 'import os, torch; print(os.path.dirname(torch.__file__) + \"/lib\")') && LD_LIBRARY_PATH=$PWD/lib:$TL ldd bin/tessera"
                     " | grep '=>' | grep -v -e \"$PWD/lib/\" -e torch/lib -e nvidia -e libc.so -e libm.so -e libstdc++ -e libgcc_s -e ld-linux"
                     " -e libdl.so -e librt.so -e libpthread; LD_LIBRARY_PATH=$PWD/lib:$TL bin/tessera info | grep 'custom ops'");
  INFO(r.output);
  CHECK(r.output.find("=>") == std::string::npos);  // nothing resolved outside the bundle, LibTorch and the C runtime
  CHECK(r.output.find("tessera::instance_norm_act") != std::string::npos);
}
