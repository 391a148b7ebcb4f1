// Runs that never lose or silently corrupt work (issue 13): resume with a changed config, resume
// from an older checkpoint, two trainings in one run directory, scale mismatches, the wrong kind of
// checkpoint for a command, tiling limits, and the weak answers to bad values, files and arguments.
// Each case reproduces a failure of the earlier main; docs/errors.md lists them.
#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <thread>

#include "../support/support.h"
#include "tessera/archs/checkpoint.h"
#include "tessera/archs/generative.h"
#include "tessera/core/config.h"
#include "tessera/io/files.h"
#include "tessera/io/image_io.h"
#include "tessera/io/safetensors.h"
#include "tessera/metrics/image_quality.h"
#include "tessera/recipes/run_dir.h"
#include "tessera/recipes/trained_net.h"
#include "tessera/recipes/trainer.h"

using namespace tessera;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

// Every file under a folder with its bytes, to prove a refused command changed nothing.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != ".lock" && e.path().filename() != "train.log")
      out[fs::relative(e.path(), dir).string()] = io::read_file(e.path());
  return out;
}

std::vector<double> column(const fs::path& jsonl, const std::string& key) {
  std::vector<double> v;
  std::ifstream in(jsonl);
  for (std::string line; std::getline(in, line);) {
    auto p = line.find("\"" + key + "\": ");
    if (p != std::string::npos) v.push_back(std::stod(line.substr(p + key.size() + 4)));
  }
  return v;
}

std::string val_checkpoint(const fs::path& run) { return (run / "checkpoints/best/model.safetensors").string(); }

// A trained smoke EDSR (20 steps) for the inference cases; one per test case, since CTest runs the
// cases as parallel processes.
// Each test case runs in its own process (CTest, -j2): a tag is one test case's, or two processes
// would wipe and train the same directory at once.
fs::path trained_run(const std::string& tag) {
  static std::map<std::string, fs::path> runs;
  auto it = runs.find(tag);
  if (it != runs.end()) return it->second;
  auto dir = test::temp_dir("safety_trained_" + tag);
  auto r = test::run_cli(test::sr_smoke_args(dir / "run", {"trainer.total_steps=20"}));
  if (r.exit_code != 0) FAIL(r.output);
  return runs[tag] = dir / "run";
}

// Writes the weights of an arch built from YAML options, optionally without tessera.task (older files).
std::string write_net(const fs::path& path, const std::string& options_yaml, bool with_task = true) {
  archs::NetPtr net = archs::build_arch(Cfg(YAML::Load(options_yaml), "network", "test"));
  io::TensorFile f = archs::net_weights(*net);
  if (!with_task) f.metadata.erase("tessera.task");
  io::save_safetensors(path.string(), f);
  return path.string();
}

}  // namespace

TEST_CASE("resume refuses architecture changes by key and applies schedule changes, keeping earlier overrides", "[safety][resume]") {
  auto dir = test::temp_dir("safety_resume_config");
  auto run = dir / "run";
  auto r = test::run_cli(test::sr_smoke_args(run, {"trainer.total_steps=20", "recipe.optimizer.lr=2.0e-4"}));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto before = snapshot(run);

  // Wider network, more blocks: refused, each key named with old and new values; nothing written.
  r = test::run_cli(test::sr_smoke_args(run, {"--resume", "auto", "network.num_feat=32", "network.num_block=3"}));
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("network.num_feat: 16 -> 32") && Contains("network.num_block: 2 -> 3"));
  REQUIRE(snapshot(run) == before);
  // Another family's config on this run: the recipe change is named.
  r = test::run_cli({"train", (test::source_dir() / "configs/gan/gan_smoke.yaml").string(), "--run-dir", run.string(), "--resume", "auto",
                     "data.train.path=" + (test::source_dir() / "datasets/digits/digits.csv").string(),
                     "data.val.path=" + (test::source_dir() / "datasets/digits/digits.csv").string()});
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("recipe.type: sr -> "));
  // Data shape: refused.
  r = test::run_cli(test::sr_smoke_args(run, {"--resume", "auto", "data.train.patch_size=32"}));
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("data.train.patch_size: 24 -> 32"));

  // More steps and cadence: applied and logged. The lr set on the first line is kept without being repeated.
  r = test::run_cli(test::sr_smoke_args(run, {"--resume", "auto", "trainer.total_steps=30", "trainer.log_every=5"}));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Contains("config change on resume: trainer.total_steps: 20 -> 30"));
  REQUIRE_THAT(r.output, !Contains("recipe.optimizer.lr"));
  const auto lrs = column(run / "metrics.jsonl", "train/lr");
  REQUIRE(lrs.size() >= 3);
  for (double lr : lrs) REQUIRE(lr == Approx(2e-4));
  // A new lr on the resume line is honoured.
  r = test::run_cli(test::sr_smoke_args(run, {"--resume", "auto", "trainer.total_steps=35", "recipe.optimizer.lr=1.0e-4"}));
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Contains("recipe.optimizer.lr: 0.0002 -> 0.0001"));
  REQUIRE(column(run / "metrics.jsonl", "train/lr").back() == Approx(1e-4));

  // config.yaml records the sessions and their changes, and its weights still load.
  YAML::Node cfg = YAML::LoadFile((run / "config.yaml").string());
  REQUIRE(cfg["_meta"]["history"].size() == 3);
  REQUIRE(cfg["_meta"]["history"][1]["changes"][0].as<std::string>() == "trainer.log_every: 10 -> 5");
  REQUIRE(cfg["_meta"]["history"][2]["step"].as<int64_t>() == 30);
  REQUIRE(cfg["network"]["num_feat"].as<int64_t>() == 16);
  r = test::run_cli({"export", "--checkpoint", run.string(), "--output", (dir / "m.onnx").string()});
  REQUIRE(r.exit_code == 0);
}

TEST_CASE("resume from an older checkpoint never replaces newer ones, --run-dir branches", "[safety][resume]") {
  auto dir = test::temp_dir("safety_resume_older");
  auto run = dir / "run";
  auto r = test::run_cli(test::sr_smoke_args(run));
  REQUIRE(r.exit_code == 0);
  const auto before = snapshot(run);
  const std::string older = (run / "checkpoints/step_00000020").string();

  r = test::run_cli(test::sr_smoke_args(run, {"--resume", older}));
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("not the newest") && Contains("--run-dir"));
  // Without --run-dir the run directory is the checkpoint's: same answer.
  auto args = test::sr_smoke_args(run, {"--resume", older});
  args.erase(args.begin() + 2, args.begin() + 4);
  r = test::run_cli(args);
  REQUIRE(r.exit_code == 2);
  REQUIRE(snapshot(run) == before);

  // Branch: a new run directory continues from step 20; the original is untouched.
  auto branch = dir / "branch";
  r = test::run_cli(test::sr_smoke_args(branch, {"--resume", older}));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Contains("branching into"));
  REQUIRE(snapshot(run) == before);
  REQUIRE(fs::exists(branch / "checkpoints/step_00000040/state.pt"));
  REQUIRE(fs::exists(branch / "checkpoints/best/best.yaml"));
  // A branch target that already holds checkpoints is refused.
  r = test::run_cli(test::sr_smoke_args(branch, {"--resume", older}));
  REQUIRE(r.exit_code == 2);
}

TEST_CASE("best/ keeps its own score: an equal score does not replace it", "[safety][resume]") {
  auto dir = test::temp_dir("safety_best");
  auto run = dir / "run";
  REQUIRE(test::run_cli(test::sr_smoke_args(run)).exit_code == 0);
  auto best = recipes::read_best(run);
  REQUIRE(best.step == 40);
  REQUIRE(best.metric == "psnr_y");
  // The state of step 40 was saved before its validation, so it holds step 20's (lower) score; with
  // lr 0 the model stays that of step 40, and its equal score must not replace best/.
  auto r = test::run_cli(test::sr_smoke_args(run, {"--resume", "auto", "trainer.total_steps=60", "recipe.optimizer.lr=0"}));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, !Contains("new best"));
  auto after = recipes::read_best(run);
  REQUIRE(after.step == 40);
  REQUIRE(after.value == best.value);
}

TEST_CASE("one training per run directory: the lock names its holder and a dead holder's lock is taken over", "[safety][lock]") {
  auto dir = test::temp_dir("safety_lock");
  auto run = dir / "run";
  std::string cmd = test::shell_quote(test::tessera_binary().string());
  for (const auto& a : test::sr_smoke_args(run, {"trainer.total_steps=100000", "trainer.val_every=0", "trainer.save_every=5"}))
    cmd += " " + test::shell_quote(a);
  const std::string log = (dir / "first.txt").string();
  std::string second = test::shell_quote(test::tessera_binary().string());
  for (const auto& a : test::sr_smoke_args(run, {"--resume", "auto", "trainer.total_steps=100000"})) second += " " + test::shell_quote(a);
  auto r = test::run_bash(cmd + " > " + log + " 2>&1 & pid=$!\n"
                          "for i in $(seq 1 600); do grep -q 'saved checkpoint' " + log + " 2>/dev/null && break; sleep 0.1; done\n"
                          "echo FIRST_PID=$pid\n" + second + "; echo SECOND_RC=$?\n"
                          "kill -KILL $pid; wait $pid 2>/dev/null; true");
  INFO(r.output);
  REQUIRE_THAT(r.output, Contains("SECOND_RC=1") && Contains("in use by another training"));
  const std::string pid = r.output.substr(r.output.find("FIRST_PID=") + 10, r.output.find('\n', r.output.find("FIRST_PID=")) - r.output.find("FIRST_PID=") - 10);
  REQUIRE_THAT(r.output, Contains("pid " + pid + " on host"));
  // The first training was SIGKILLed holding the lock: the next one takes it over and says so.
  auto r2 = test::run_cli(test::sr_smoke_args(run, {"--resume", "auto", "trainer.total_steps=100000", "--stop-after", "1"}));
  INFO(r2.output);
  REQUIRE(r2.exit_code == 0);
  REQUIRE_THAT(r2.output, Contains("took over the lock") && Contains("pid " + pid));
}

TEST_CASE("scale mismatches are config errors naming both keys, before any training", "[safety][config]") {
  auto dir = test::temp_dir("safety_scale");
  auto r = test::run_cli(test::sr_smoke_args(dir / "run", {"data.train.scale=3"}));
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("data.train.scale is 3 but network.scale is 2"));
  r = test::run_cli(test::sr_smoke_args(dir / "run", {"data.val.scale=4"}));
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("data.val.scale is 4 but network.scale is 2"));
  REQUIRE(!fs::exists(dir / "run"));  // nothing was created for a refused config
}

TEST_CASE("a failing validation comes after the step's checkpoint", "[safety][train]") {
  auto dir = test::temp_dir("safety_val_fail");
  fs::create_directories(dir / "val");
  fs::copy_file(test::data_dir() / "val/chelsea.png", dir / "val/chelsea.png");
  std::ofstream(dir / "val/zz_broken.png") << "not a png";
  // Uncached validation images are read at the first validation, here a step that is not a save step.
  auto r = test::run_cli(test::sr_smoke_args(dir / "run", {"data.val.hr_dir=" + (dir / "val").string(), "data.val.cache=false",
                                                           "trainer.save_every=1000", "trainer.val_every=20"}));
  INFO(r.output);
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.output, Contains("zz_broken.png") && Contains("the step is saved"));
  REQUIRE(fs::exists(dir / "run/checkpoints/step_00000020/state.pt"));
  // With the image fixed, the resumed run validates step 20 before it trains on (and a line torn
  // at the end of metrics.jsonl does not stop it).
  fs::remove(dir / "val/zz_broken.png");
  std::ofstream(dir / "run/metrics.jsonl", std::ios::app) << "{\"step\": ";
  r = test::run_cli(test::sr_smoke_args(dir / "run", {"data.val.hr_dir=" + (dir / "val").string(), "data.val.cache=false",
                                                      "trainer.save_every=1000", "trainer.val_every=20", "--resume", "auto"}));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Contains("step 20 was saved but not validated: validating it now"));
  const std::string m = io::read_file(dir / "run/metrics.jsonl");
  REQUIRE_THAT(m, Contains("{\"step\": 20, \"val/") && Contains("{\"step\": 40, \"val/"));
}

TEST_CASE("resume paths: a trailing slash, a checkpoint outside a run, a run whose checkpoints are gone", "[safety][resume]") {
  auto dir = test::temp_dir("safety_paths");
  auto run = dir / "run";
  REQUIRE(test::run_cli(test::sr_smoke_args(run, {"trainer.val_every=0"})).exit_code == 0);
  // "step_N/" as shells complete it: the run is runs/x, not its checkpoints/ folder.
  auto args = test::sr_smoke_args(run, {"--resume", (run / "checkpoints/step_00000040").string() + "/", "trainer.total_steps=50"});
  args.erase(args.begin() + 2, args.begin() + 4);
  auto r = test::run_cli(args);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE(fs::exists(run / "checkpoints/step_00000050/state.pt"));
  REQUIRE(!fs::exists(run / "checkpoints/config.yaml"));
  // A checkpoint copied out of its run needs --run-dir.
  fs::copy(run / "checkpoints/step_00000050", dir / "loose", fs::copy_options::recursive);
  args = test::sr_smoke_args(run, {"--resume", (dir / "loose").string()});
  args.erase(args.begin() + 2, args.begin() + 4);
  r = test::run_cli(args);
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("outside a run's checkpoints/ folder"));
  // Every step checkpoint gone but best/ kept: --resume auto does not start over on top of it.
  REQUIRE(test::run_cli(test::sr_smoke_args(dir / "run2")).exit_code == 0);
  for (const auto& c : recipes::list_checkpoints(dir / "run2")) fs::remove_all(c);
  r = test::run_cli(test::sr_smoke_args(dir / "run2", {"--resume", "auto"}));
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("holds an earlier run"));
}

TEST_CASE("every command checks the checkpoint's task first", "[safety][checkpoint]") {
  auto dir = test::temp_dir("safety_task");
  const std::string critic = write_net(dir / "critic.safetensors", "{type: dcgan_critic, image_size: 8, base: 8}");
  const std::string old_critic = write_net(dir / "old_critic.safetensors", "{type: dcgan_critic, image_size: 8, base: 8}", false);
  const std::string gen = write_net(dir / "generator.safetensors", "{type: dcgan_generator, image_size: 8, base: 8, latent_dim: 4}");
  const std::string img = (test::data_dir() / "val/chelsea.png").string();
  for (const auto& ck : {critic, old_critic}) {
    auto r = test::run_cli({"upscale", "--checkpoint", ck, img, (dir / "o.png").string()});
    INFO(r.output);
    REQUIRE(r.exit_code == 2);
    REQUIRE_THAT(r.output, Contains("holds a GAN critic (discriminator) (dcgan_critic)") && Contains("`tessera apply` runs"));
    // Every task exports (a critic takes `input` and returns its scores).
    r = test::run_cli({"export", "--checkpoint", ck, "--output", (dir / "c.onnx").string()});
    REQUIRE(r.exit_code == 0);
    REQUIRE(fs::file_size(dir / "c.onnx") > 0);
    r = test::run_cli({"sample", "--checkpoint", ck, "--output", (dir / "g.png").string()});
    REQUIRE(r.exit_code == 2);
  }
  auto r = test::run_cli({"upscale", "--checkpoint", gen, img, (dir / "o.png").string()});
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("holds a generator"));
  r = test::run_cli({"sample", "--checkpoint", val_checkpoint(trained_run("7")), "--output", (dir / "g.png").string()});
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("holds an image-to-image network"));
  REQUIRE(!fs::exists(dir / "o.png"));
}

TEST_CASE("upscale validates tile and overlap and reports progress", "[safety][upscale]") {
  auto dir = test::temp_dir("safety_tiles");
  const std::string ck = val_checkpoint(trained_run("8")), img = (test::data_dir() / "val/chelsea.png").string();
  auto r = test::run_cli({"upscale", "--checkpoint", ck, img, (dir / "o.png").string(), "--tile", "16", "--overlap", "-4"});
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("--overlap") && Contains("-4 is below 0"));
  r = test::run_cli({"upscale", "--checkpoint", ck, img, (dir / "o.png").string(), "--tile", "1"});
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("--tile 1: tiles under 16"));
  r = test::run_cli({"upscale", "--checkpoint", ck, img, (dir / "o.png").string(), "--tile", "-3"});
  REQUIRE(r.exit_code == 2);
  r = test::run_cli({"upscale", "--checkpoint", ck, img, (dir / "o.png").string(), "--tile", "32", "--overlap", "2"});
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Contains("less than the receptive radius of edsr (8 pixels)"));
  // Default overlap = the receptive radius: tiles give the whole-image result (to 8-bit rounding).
  r = test::run_cli({"upscale", "--checkpoint", ck, img, (dir / "tiled.png").string(), "--tile", "32"});
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Contains("tile 150/150"));
  REQUIRE(test::run_cli({"upscale", "--checkpoint", ck, img, (dir / "whole.png").string()}).exit_code == 0);
  auto a = io::read_image((dir / "tiled.png").string()).rgb, b = io::read_image((dir / "whole.png").string()).rgb;
  REQUIRE((a - b).abs().max().item<float>() <= 1.0f / 255 + 1e-6f);
}

TEST_CASE("apply: auto tiles, channels-last, bf16 and a pipelined folder give the reference outputs", "[safety][upscale][speed]") {
  auto dir = test::temp_dir("apply_speed_paths");
  const std::string ck = val_checkpoint(trained_run("16")), img = (test::data_dir() / "val/chelsea.png").string();
  auto read = [&](const std::string& name) { return io::read_image((dir / name).string()).rgb; };
  REQUIRE(test::run_cli({"apply", "--checkpoint", ck, img, (dir / "auto.png").string()}).exit_code == 0);
  REQUIRE(test::run_cli({"apply", "--checkpoint", ck, img, (dir / "nchw.png").string(), "--tile", "0", "--nchw"}).exit_code == 0);
  auto r = test::run_cli({"apply", "--checkpoint", ck, img, (dir / "bf16.png").string(), "--precision", "bf16"});
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Contains("network") && Contains("ms"));
  // Channels-last with fused convolutions changes the summation order only: 8-bit outputs within one level.
  REQUIRE((read("auto.png") - read("nchw.png")).abs().max().item<float>() <= 1.0f / 255 + 1e-6f);
  // bf16 costs a little precision, never the picture.
  metrics::QualityOptions q;
  REQUIRE(metrics::psnr(read("bf16.png"), read("auto.png"), q) > 35.0);
  for (const char* bad : {"abc", "12px", ""}) {
    r = test::run_cli({"apply", "--checkpoint", ck, img, (dir / "x.png").string(), "--tile", bad});
    REQUIRE(r.exit_code == 2);
    REQUIRE_THAT(r.output, Contains("--tile"));
  }
  r = test::run_cli({"apply", "--checkpoint", ck, img, (dir / "x.png").string(), "--precision", "fp8"});
  REQUIRE(r.exit_code == 2);
  // A folder: decode, inference and encode overlap; every output equals the single-image one, and an
  // unreadable image stops the run naming it, with the images before it written.
  const auto in = dir / "in", out = dir / "out";
  fs::create_directories(in);
  for (const char* n : {"a.png", "b.png", "d.png"}) fs::copy_file(img, in / n);
  { std::ofstream(in / "c.png") << "not a png"; }
  r = test::run_cli({"apply", "--checkpoint", ck, in.string(), out.string()});
  REQUIRE(r.exit_code != 0);
  REQUIRE_THAT(r.output, Contains("c.png"));
  for (const char* n : {"a.png", "b.png"}) {
    INFO(n);
    REQUIRE((io::read_image((out / n).string()).rgb - read("auto.png")).abs().max().item<float>() == 0.0f);
  }
  REQUIRE(!fs::exists(out / "c.png"));
  fs::remove(in / "c.png");
  REQUIRE(test::run_cli({"apply", "--checkpoint", ck, in.string(), out.string()}).exit_code == 0);
  REQUIRE((io::read_image((out / "d.png").string()).rgb - read("auto.png")).abs().max().item<float>() == 0.0f);
}

TEST_CASE("non-finite, negative, duplicate and empty config values are errors naming the key", "[safety][config]") {
  auto dir = test::temp_dir("safety_values");
  auto run = dir / "run";
  struct Case {
    std::string override, expect;
  };
  for (const auto& c : std::vector<Case>{{"recipe.optimizer.lr=.nan", "recipe.optimizer.lr: expected a finite number, got '.nan'"},
                                         {"recipe.optimizer.lr=-1", "recipe.optimizer.lr: value -1 is out of range"},
                                         {"recipe.optimizer.lr=.inf", "recipe.optimizer.lr: expected a finite number"},
                                         {"seed.=5", "empty key in path 'seed.'"},
                                         {"name=", "no value after '='"},
                                         {"seed=-3", "seed: expected a non-negative integer, got '-3'"},
                                         {"name=null", "name: required key has no value"},
                                         {"recipe.optimizer={type: adam, lr: 1, lr: 2}", "duplicate key"}}) {
    auto r = test::run_cli(test::sr_smoke_args(run, {c.override}));
    INFO(c.override << "\n" << r.output);
    REQUIRE(r.exit_code == 2);
    REQUIRE_THAT(r.output, Contains(c.expect));
  }
  REQUIRE(!fs::exists(run));
  // A repeated key in a file names the file and both lines.
  std::string text = io::read_file(test::source_dir() / "configs/sr/sr_smoke.yaml") + "seed: 7\n";
  io::write_file_atomic(dir / "dup.yaml", text);
  auto r = test::run_cli({"train", (dir / "dup.yaml").string(), "--run-dir", run.string()});
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("dup.yaml:") && Contains("seed: duplicate key (first given on line 3)"));
}

TEST_CASE("negative or malformed command-line numbers are refused, not replaced by defaults", "[safety][cli]") {
  auto dir = test::temp_dir("safety_args");
  const std::string ck = val_checkpoint(trained_run("10"));
  auto r = test::run_cli({"eval", "--checkpoint", ck, "--data", (test::data_dir() / "val").string(), "--crop-border", "-2"});
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("--crop-border") && Contains("-2 is below 0"));
  r = test::run_cli({"eval", "--checkpoint", ck, "--data", (test::data_dir() / "val").string(), "--tile", "-1"});
  REQUIRE(r.exit_code == 2);
  r = test::run_cli({"export", "--checkpoint", ck, "--output", (dir / "m.onnx").string(), "--batch", "-1"});
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("--batch"));
  r = test::run_cli({"sample", "--checkpoint", ck, "--output", (dir / "s.png").string(), "--n", "abc"});
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("--n: 'abc' is not an integer"));
  r = test::run_cli({"frobnicate"});
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("unknown command 'frobnicate'") && Contains("train, eval"));
  r = test::run_cli({"upscal"});
  REQUIRE_THAT(r.output, Contains("did you mean 'upscale'"));
}

TEST_CASE("damaged checkpoints, directories and empty images get precise answers", "[safety][checkpoint]") {
  auto dir = test::temp_dir("safety_files");
  const fs::path run = trained_run("11");
  const std::string img = (test::data_dir() / "val/chelsea.png").string();
  // NaN weights: refused, naming the tensor.
  io::TensorFile f = io::load_safetensors(val_checkpoint(run));
  f.tensors[0].second = f.tensors[0].second.clone();
  f.tensors[0].second.view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
  io::save_safetensors((dir / "nan.safetensors").string(), f);
  auto r = test::run_cli({"upscale", "--checkpoint", (dir / "nan.safetensors").string(), img, (dir / "o.png").string()});
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.output, Contains("'" + f.tensors[0].first + "' has 1 non-finite values"));
  REQUIRE(!fs::exists(dir / "o.png"));
  // Directories: a run or checkpoint directory works; one without weights says what it holds.
  r = test::run_cli({"upscale", "--checkpoint", run.string(), img, (dir / "o.png").string()});
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Contains("using " + (run / "checkpoints/best/model.safetensors").string()));
  fs::create_directories(dir / "empty");
  r = test::run_cli({"upscale", "--checkpoint", (dir / "empty").string(), img, (dir / "o2.png").string()});
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("is a directory without model.safetensors") && !Contains("0 bytes"));
  // A 0-byte PNG.
  std::ofstream(dir / "zero.png").close();
  r = test::run_cli({"upscale", "--checkpoint", val_checkpoint(run), (dir / "zero.png").string(), (dir / "o3.png").string()});
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.output, Contains("zero.png' is an empty file (0 bytes)") && !Contains("Assertion"));
}

TEST_CASE("an RGBA image keeps its alpha through upscale", "[safety][upscale]") {
  auto dir = test::temp_dir("safety_alpha");
  torch::Tensor rgb = io::read_image((test::data_dir() / "val/chelsea.png").string()).rgb.slice(1, 0, 40).slice(2, 0, 48);
  torch::Tensor alpha = torch::linspace(0, 1, 48).view({1, 1, 48}).expand({1, 40, 48}).contiguous();
  io::write_image((dir / "in.png").string(), rgb, 8, alpha);
  REQUIRE(io::read_image((dir / "in.png").string()).alpha.defined());
  auto r = test::run_cli({"upscale", "--checkpoint", val_checkpoint(trained_run("12")), (dir / "in.png").string(), (dir / "out.png").string()});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  io::Image out = io::read_image((dir / "out.png").string());
  REQUIRE(out.alpha.defined());
  REQUIRE(out.alpha.sizes() == torch::IntArrayRef({1, 80, 96}));
  // A horizontal ramp stays a ramp: left edge transparent, right edge opaque, increasing.
  REQUIRE(out.alpha[0][40][0].item<float>() < 0.02f);
  REQUIRE(out.alpha[0][40][95].item<float>() > 0.98f);
  REQUIRE((out.alpha[0][40].slice(0, 1) - out.alpha[0][40].slice(0, 0, -1)).min().item<float>() >= -1.0f / 255);
  // JPEG cannot hold alpha: written without it, and the user is told.
  r = test::run_cli({"upscale", "--checkpoint", val_checkpoint(trained_run("12")), (dir / "in.png").string(), (dir / "out.jpg").string()});
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Contains("has an alpha channel, which .jpg cannot hold"));
}

TEST_CASE("runs say what they do: fresh --resume auto, the resume hint, other recipes' checkpoints", "[safety][resume]") {
  auto dir = test::temp_dir("safety_runs");
  auto run = dir / "run";
  auto r = test::run_cli(test::sr_smoke_args(run, {"--resume", "auto", "trainer.val_every=0", "--stop-after", "10"}));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Contains("has no checkpoint yet, so this starts a new run"));
  // The hint after a stop repeats --run-dir and the overrides.
  REQUIRE_THAT(r.output, Contains("continue with: tessera train") && Contains("--run-dir " + run.string()) &&
                             Contains("trainer.val_every=0") && Contains("--resume auto"));
  // A checkpoint written by another recipe (and no config.yaml to compare): named by what it holds.
  fs::remove(run / "config.yaml");
  const auto ck = recipes::list_checkpoints(run).front();
  fs::rename(ck / "model.safetensors", ck / "generator.safetensors");
  r = test::run_cli(test::sr_smoke_args(run, {"--resume", ck.string()}));
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.output, Contains("has no model.safetensors (it holds generator.safetensors)"));
  REQUIRE_THAT(r.output, Contains("config.yaml' is missing") && Contains("cannot be checked against the run's"));
}

TEST_CASE("a checkpoint that cannot be written leaves no partial files and says why", "[safety][disk]") {
  auto dir = test::temp_dir("safety_disk");
  auto run = dir / "run";
  std::string cmd = test::shell_quote(test::tessera_binary().string());
  for (const auto& a : test::sr_smoke_args(run, {"trainer.total_steps=20", "trainer.val_every=0"})) cmd += " " + test::shell_quote(a);
  // Files over 64 KiB fail with EFBIG (the model file is ~120 KB), as on a full disk.
  auto r = test::run_bash("trap '' XFSZ; ulimit -f 64; " + cmd + "; echo RC=$?");
  INFO(r.output);
  REQUIRE_THAT(r.output, Contains("RC=1") && Contains("cannot save checkpoint") && Contains("the earlier checkpoints are intact") &&
                             Contains("File too large"));
  for (const auto& e : fs::recursive_directory_iterator(run)) REQUIRE_THAT(e.path().string(), !Contains(".tmp"));
}

TEST_CASE("the bundled photographs read without libpng warnings", "[safety][data]") {
  auto r = test::run_cli({"upscale", "--checkpoint", val_checkpoint(trained_run("15")), (test::data_dir() / "val").string(),
                          (test::temp_dir("safety_iccp") / "out").string()});
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, !Contains("libpng warning"));
}

TEST_CASE("run directory helpers: config diffs, safe keys, override merging, quoting", "[safety][unit]") {
  YAML::Node a = YAML::Load("{network: {num_feat: 16, mean: [0.5, 0.25]}, recipe: {optimizer: {lr: 1.0e-3}}, _meta: {x: 1}}");
  YAML::Node b = YAML::Load("{network: {num_feat: 16, mean: [0.5, 0.25]}, recipe: {optimizer: {lr: 0.001}}, _meta: {x: 2}}");
  REQUIRE(recipes::config_changes(a, b).empty());  // numbers by value, _meta ignored
  b["network"]["mean"][1] = 0.3;
  b["trainer"]["total_steps"] = 5;
  auto ch = recipes::config_changes(a, b);
  REQUIRE(ch.size() == 2);
  REQUIRE(ch[0].key == "network.mean");
  REQUIRE(!ch[0].safe);
  REQUIRE(ch[1].key == "trainer.total_steps");
  REQUIRE(ch[1].before == "(absent)");
  REQUIRE(ch[1].safe);
  for (const char* k : {"recipe.optimizer_g.lr", "recipe.scheduler.type", "trainer.keep_last", "data.train.hr_dir", "device"})
    REQUIRE(recipes::resume_safe(k));
  for (const char* k : {"network.scale", "recipe.loss.type", "data.val.hr_dir", "data.batch_size", "seed", "recipe.val.metrics"})
    REQUIRE(!recipes::resume_safe(k));
  REQUIRE(recipes::merge_overrides({"a=1", "b=2"}, {"a=3"}) == std::vector<std::string>{"b=2", "a=3"});
  REQUIRE(recipes::shell_command({"tessera", "a b", "x=it's"}) == "tessera 'a b' 'x=it'\\''s'");
}

TEST_CASE("non-finite losses and gradients stop the run or skip the step, as recipe.nonfinite says", "[recipes][nonfinite]") {
  struct Net {
    YAML::Node rc;
    Cfg cfg;
    std::shared_ptr<recipes::Precision> precision;
    std::unique_ptr<recipes::TrainedNet> tn;
    explicit Net(const std::string& extra)
        : rc(YAML::Load("{type: sr, optimizer: {type: adam, lr: 0.01}" + extra + "}")), cfg(rc, "recipe", "t.yaml") {
      precision = std::make_shared<recipes::Precision>(cfg, torch::kCPU);
      recipes::TrainedNetOptions o;
      o.precision = precision;
      o.ema = 0.5;
      auto net = archs::build_arch(Cfg(YAML::Load("{type: espcn, scale: 2, channels: 3, feat1: 4, feat2: 4}"), "network", "t.yaml"));
      tn = std::make_unique<recipes::TrainedNet>(net, cfg, o, 100, torch::kCPU, "network");
    }
    std::vector<torch::Tensor> weights() {
      std::vector<torch::Tensor> w;
      for (auto& p : tn->net().parameters()) w.push_back(p.detach().clone());
      for (auto& p : tn->inference().parameters()) w.push_back(p.detach().clone());
      return w;
    }
    // One step whose loss is scaled by `factor` (NaN poisons loss and gradients; inf only the loss's value).
    void step(int64_t i, double factor) {
      torch::Tensor y = tn->net().forward(torch::rand({1, 3, 6, 6}));
      torch::Tensor loss = y.abs().mean() * factor;
      precision->check_loss(loss.item<double>(), i, "loss");
      tn->step(loss, i);
    }
  };
  auto same = [](const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
    for (size_t i = 0; i < a.size(); ++i)
      if (!torch::equal(a[i], b[i])) return false;
    return true;
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  SECTION("stop (the default) names the step and the key") {
    Net n("");
    n.step(0, 1.0);
    REQUIRE_THROWS_WITH(n.step(3, nan), Contains("step 4") && Contains("loss became nan") && Contains("recipe.nonfinite"));
    // Gradients alone non-finite (a loss whose value is finite): caught before the update.
    Net g("");
    const auto before = g.weights();
    torch::Tensor y = g.tn->net().forward(torch::rand({1, 3, 6, 6}));
    torch::Tensor loss = (y * torch::full_like(y, nan)).nan_to_num(0.0).sum() + y.sum() * 0;  // value 0, gradients NaN
    REQUIRE(std::isfinite(loss.item<double>()));
    REQUIRE_THROWS_WITH(g.tn->step(loss, 6), Contains("step 7") && Contains("gradients of network are not finite"));
    REQUIRE(same(before, g.weights()));
  }
  SECTION("skip drops the update (weights, optimizer and EMA unchanged) and goes on") {
    Net n(", nonfinite: skip, max_skipped_steps: 3");
    n.step(0, 1.0);
    const auto before = n.weights();
    n.step(1, nan);
    REQUIRE(same(before, n.weights()));
    REQUIRE(n.precision->skipped_steps() == 1);
    n.step(2, 1.0);
    REQUIRE_FALSE(same(before, n.weights()));
    // Three in a row: the run has diverged.
    n.step(3, nan);
    n.step(4, std::numeric_limits<double>::infinity());
    REQUIRE_THROWS_WITH(n.step(5, nan), Contains("3 steps in a row") && Contains("max_skipped_steps 3"));
  }
  SECTION("a bad policy is a config error") {
    REQUIRE_THROWS_WITH(Net(", nonfinite: ignore"), Contains("recipe.nonfinite") && Contains("ignore"));
  }
}

TEST_CASE("a run killed while replacing best/ gets its best checkpoint back on the next start", "[recipes][resume]") {
  auto dir = test::temp_dir("best_recovery");
  const fs::path run = dir / "run";
  auto r = test::run_cli(test::sr_smoke_args(run, {"trainer.total_steps=20", "trainer.val_every=10", "trainer.save_every=10"}));
  REQUIRE(r.exit_code == 0);
  const fs::path ck = run / "checkpoints";
  const std::string best_yaml = io::read_file(ck / "best" / "best.yaml");
  const std::string best_weights = io::read_file(ck / "best" / "model.safetensors");
  // The state save_best leaves when killed between its two renames: best/ moved to best.old, the
  // new copy complete in best.tmp.
  fs::copy(ck / "best", ck / "best.tmp", fs::copy_options::recursive);
  fs::rename(ck / "best", ck / "best.old");
  r = test::run_cli(test::sr_smoke_args(run, {"trainer.total_steps=20", "trainer.val_every=10", "trainer.save_every=10", "--resume", "auto"}));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Contains("restored") && Contains("best.tmp"));
  REQUIRE(io::read_file(ck / "best" / "best.yaml") == best_yaml);
  REQUIRE(io::read_file(ck / "best" / "model.safetensors") == best_weights);
  REQUIRE_FALSE(fs::exists(ck / "best.old"));
  REQUIRE_FALSE(fs::exists(ck / "best.tmp"));
}
