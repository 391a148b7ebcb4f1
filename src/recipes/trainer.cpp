#include "tessera/recipes/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <sstream>

#include "tessera/build_info.h"
#include "tessera/core/runtime.h"
#include "tessera/io/event_log.h"
#include "tessera/io/files.h"
#include "tessera/io/image_io.h"

namespace tessera::recipes {

namespace fs = std::filesystem;

namespace {

std::atomic<int> g_signal{0};
extern "C" void on_signal(int sig) { g_signal.store(sig); }

struct SignalGuard {
  struct sigaction old_int{}, old_term{};
  SignalGuard() {
    g_signal.store(0);
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
  }
  ~SignalGuard() {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
};

std::string step_dir_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "step_%08lld", static_cast<long long>(step));
  return buf;
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "--:--";
  long t = static_cast<long>(s);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%02ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  return buf;
}

struct TrainerState {
  int64_t step = 0;
  double best = std::numeric_limits<double>::quiet_NaN();
};

void save_checkpoint(const fs::path& run_dir, Recipe& recipe, const TrainerState& st, bool is_best) {
  const fs::path ckdir = run_dir / "checkpoints";
  fs::create_directories(ckdir);
  const fs::path final_dir = ckdir / step_dir_name(st.step);
  const fs::path tmp = fs::path(final_dir.string() + ".tmp");
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  for (auto& [name, file] : recipe.weight_files()) io::save_safetensors((tmp / name).string(), file);
  torch::serialize::OutputArchive ar, rar;
  recipe.save_state(rar);
  ar.write("recipe", rar);
  ar.write("step", torch::tensor(st.step, torch::kInt64), true);
  ar.write("best", torch::tensor(st.best, torch::kFloat64), true);
  ar.write("rng_cpu", at::detail::getDefaultCPUGenerator().get_state(), true);
  std::ostringstream os;
  ar.save_to(os);
  io::write_file_atomic(tmp / "state.pt", os.str());
  io::fsync_dir(tmp);
  if (fs::exists(final_dir)) fs::remove_all(final_dir);
  fs::rename(tmp, final_dir);
  io::fsync_dir(ckdir);
  if (is_best) {
    // Replace best/ by a copy of this checkpoint without a window where neither exists.
    const fs::path best = ckdir / "best", best_tmp = ckdir / "best.tmp", best_old = ckdir / "best.old";
    fs::remove_all(best_tmp);
    fs::copy(final_dir, best_tmp, fs::copy_options::recursive);
    io::fsync_dir(best_tmp);
    fs::remove_all(best_old);
    if (fs::exists(best)) fs::rename(best, best_old);
    fs::rename(best_tmp, best);
    fs::remove_all(best_old);
    io::fsync_dir(ckdir);
  }
}

// Loads a checkpoint into the recipe; throws on any inconsistency.
TrainerState load_checkpoint(const fs::path& dir, Recipe& recipe) {
  for (auto& [name, expected] : recipe.weight_files()) {
    (void)expected;
    io::load_safetensors((dir / name).string());  // validates the weights file
  }
  const fs::path state = dir / "state.pt";
  if (!fs::exists(state)) throw Error("'" + state.string() + "' is missing");
  TrainerState st;
  try {
    torch::serialize::InputArchive ar, rar;
    ar.load_from(state.string());
    ar.read("recipe", rar);
    recipe.load_state(rar);
    torch::Tensor step, best, rng;
    ar.read("step", step, true);
    ar.read("best", best, true);
    ar.read("rng_cpu", rng, true);
    st.step = step.item<int64_t>();
    st.best = best.item<double>();
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    gen.set_state(rng);
  } catch (const c10::Error& e) {
    throw Error("'" + state.string() + "' is corrupt or incompatible: " + std::string(e.what_without_backtrace()));
  }
  return st;
}

}  // namespace

TrainerOptions TrainerOptions::from_yaml(Cfg& root) {
  TrainerOptions o;
  o.name = root.req<std::string>("name");
  if (o.name.empty() || o.name.find('/') != std::string::npos) root.fail("name", "must be a non-empty name without '/'");
  o.seed = root.get<uint64_t>("seed", 0);
  o.device = root.get<std::string>("device", "auto");
  o.threads = root.get<int>("threads", 0, 0, 1024);
  Cfg t = root.child("trainer");
  o.total_steps = t.req<int64_t>("total_steps");
  if (o.total_steps <= 0) t.fail("total_steps", "must be positive");
  o.log_every = t.get<int64_t>("log_every", 100, 1, 1'000'000'000);
  o.val_every = t.get<int64_t>("val_every", 1000, 0, 1'000'000'000);
  o.save_every = t.get<int64_t>("save_every", 1000, 0, 1'000'000'000);
  o.keep_last = t.get<int64_t>("keep_last", 3, 1, 1'000'000);
  t.finish();
  return o;
}

std::vector<fs::path> list_checkpoints(const fs::path& run_dir) {
  std::vector<fs::path> out;
  const fs::path ckdir = run_dir / "checkpoints";
  if (!fs::is_directory(ckdir)) return out;
  for (const auto& e : fs::directory_iterator(ckdir)) {
    const std::string n = e.path().filename().string();
    if (e.is_directory() && n.rfind("step_", 0) == 0 && n.size() == 13 &&
        n.find_first_not_of("0123456789", 5) == std::string::npos)
      out.push_back(e.path());
  }
  std::sort(out.rbegin(), out.rend());
  return out;
}

int train(const TrainArgs& args) {
  YAML::Node root_node = load_yaml_file(args.config_file);
  apply_overrides(root_node, args.overrides);
  const YAML::Node input = yaml_clone(root_node);
  Cfg root(root_node, "", args.config_file);
  root.allow("_meta");
  TrainerOptions to = TrainerOptions::from_yaml(root);
  if (to.threads > 0) torch::set_num_threads(to.threads);
  const torch::Device device = resolve_device(to.device);
  seed_everything(to.seed);

  Cfg dc = root.child("data");
  data::DatasetPtr train_ds = data::build_dataset(dc.child("train"));
  data::DatasetPtr val_ds = dc.has("val") ? data::build_dataset(dc.child("val")) : nullptr;
  data::LoaderOptions lo;
  lo.batch_size = dc.get<int64_t>("batch_size", 16, 1, 1 << 20);
  lo.num_workers = dc.get<int>("num_workers", 2, 0, 64);
  lo.prefetch = dc.get<int>("prefetch", 4, 1, 1024);
  lo.seed = to.seed;
  dc.allow("val");
  dc.finish();
  RecipePtr recipe = build_recipe(root, device, to.total_steps);
  root.finish();

  // Run directory and resume point.
  fs::path run_dir = args.run_dir.empty() ? fs::path("runs") / to.name : fs::path(args.run_dir);
  std::vector<fs::path> candidates;
  bool explicit_ckpt = false;
  if (args.resume == "auto") {
    candidates = list_checkpoints(run_dir);
  } else if (!args.resume.empty()) {
    fs::path r(args.resume);
    if (fs::exists(r / "state.pt")) {
      candidates = {r};
      explicit_ckpt = true;
      if (args.run_dir.empty()) run_dir = r.parent_path().parent_path();
    } else if (fs::is_directory(r / "checkpoints")) {
      candidates = list_checkpoints(r);
      if (args.run_dir.empty()) run_dir = r;
    } else {
      throw ConfigError("--resume '" + args.resume + "' is neither a checkpoint directory (with state.pt) nor a run directory");
    }
    if (candidates.empty()) throw ConfigError("--resume '" + args.resume + "': no checkpoints found");
  } else if (!list_checkpoints(run_dir).empty()) {
    throw ConfigError("run directory '" + run_dir.string() + "' already holds checkpoints; pass --resume auto to continue "
                      "that run, or --run-dir (or another name) to start a new one");
  }
  fs::create_directories(run_dir / "samples");
  setup_logging((run_dir / "train.log").string());

  TrainerState st;
  bool resumed = false;
  for (const auto& c : candidates) {
    try {
      st = load_checkpoint(c, *recipe);
      spdlog::info("resumed from {} (step {})", c.string(), st.step);
      resumed = true;
      break;
    } catch (const Error& e) {
      if (explicit_ckpt) throw;
      spdlog::warn("skipping unusable checkpoint: {}", e.what());
    }
  }
  if (!candidates.empty() && !resumed) throw Error("no usable checkpoint in '" + run_dir.string() + "'");

  // The resolved config: the input with the arch/recipe defaults filled in and provenance.
  YAML::Node resolved = yaml_clone(input);
  YAML::Node rc = recipe->resolved_config();
  for (const auto& kv : rc) resolved[kv.first.as<std::string>()] = kv.second;
  resolved["_meta"]["git_sha"] = TESSERA_GIT_SHA;
  resolved["_meta"]["tessera"] = TESSERA_VERSION;
  resolved["_meta"]["libtorch"] = TESSERA_TORCH_VERSION;
  resolved["_meta"]["opencv"] = TESSERA_OPENCV_VERSION;
  resolved["_meta"]["device"] = device.str();
  resolved["_meta"]["threads"] = torch::get_num_threads();
  io::write_file_atomic(run_dir / "config.yaml", yaml_dump(resolved));

  spdlog::info("run {}: {}", run_dir.string(), recipe->summary());
  spdlog::info("train data: {}", train_ds->describe());
  if (val_ds) spdlog::info("val data: {}", val_ds->describe());
  spdlog::info("device {}, {} threads, {} steps", device.str(), torch::get_num_threads(), to.total_steps);

  if (resumed) {
    // Rows logged after the checkpoint (by the run that was killed) are replayed by this one: drop
    // them so metrics.jsonl holds one row per step.
    const fs::path mpath = run_dir / "metrics.jsonl";
    if (fs::exists(mpath)) {
      std::istringstream in(io::read_file(mpath));
      std::string kept;
      for (std::string line; std::getline(in, line);) {
        const auto p = line.find("\"step\": ");
        if (p == std::string::npos || std::stoll(line.substr(p + 8)) <= st.step) kept += line + "\n";
      }
      io::write_file_atomic(mpath, kept);
    }
  }
  io::EventWriter tb(run_dir.string());
  io::MetricsJsonl jsonl((run_dir / "metrics.jsonl").string());
  data::Loader loader(train_ds, lo);
  SignalGuard signals;

  const bool tty = ::isatty(STDERR_FILENO);
  auto t_start = std::chrono::steady_clock::now();
  auto t_log = t_start;
  const int64_t first_step = st.step;
  // Per-key sums and counts: a recipe may report a value only on some steps (a GAN's g_loss).
  std::map<std::string, std::pair<double, int64_t>> acc;
  int64_t acc_n = 0;
  int64_t last_saved = resumed ? st.step : -1;

  auto run_validation = [&]() -> bool {
    ValResult vr = recipe->validate(val_ds.get(), st.step);
    if (vr.metrics.empty() && vr.images.empty()) return false;
    std::string line;
    std::map<std::string, double> logged;
    for (const auto& [k, v] : vr.metrics) {
      tb.add_scalar("val/" + k, v, st.step);
      logged["val/" + k] = v;
      line += fmt::format(" {} {:.4f}", k, v);
    }
    if (!logged.empty()) jsonl.write(st.step, logged);
    for (const auto& [name, img] : vr.images) {
      tb.add_image("val/" + name, img.clamp(0, 1), st.step);
      io::write_image((run_dir / "samples" / (step_dir_name(st.step) + "_" + name + ".png")).string(), img);
    }
    tb.flush();
    spdlog::info("validation at step {}:{}", st.step, line);
    const std::string bm = recipe->best_metric();
    if (bm.empty() || !vr.metrics.count(bm)) return false;
    const double v = vr.metrics.at(bm);
    const bool better = std::isnan(st.best) || (recipe->higher_is_better() ? v > st.best : v < st.best);
    if (better) st.best = v;
    return better;
  };
  auto checkpoint = [&](bool is_best) {
    save_checkpoint(run_dir, *recipe, st, is_best);
    last_saved = st.step;
    auto all = list_checkpoints(run_dir);
    for (size_t i = static_cast<size_t>(to.keep_last); i < all.size(); ++i) fs::remove_all(all[i]);
    spdlog::info("saved checkpoint {}{}", (run_dir / "checkpoints" / step_dir_name(st.step)).string(), is_best ? " (best)" : "");
  };

  while (st.step < to.total_steps) {
    data::Batch batch = loader.batch(st.step);
    Scalars s = recipe->train_step(batch, st.step);
    ++st.step;
    for (const auto& [k, v] : s) {
      acc[k].first += v;
      ++acc[k].second;
    }
    ++acc_n;
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - t_start).count();
    const double rate = (st.step - first_step) / std::max(elapsed, 1e-9);
    if (tty) {
      std::fprintf(stderr, "\r\033[K[%lld/%lld] %3.0f%% | %.2f it/s | ETA %s | loss %.5f", static_cast<long long>(st.step),
                   static_cast<long long>(to.total_steps), 100.0 * st.step / to.total_steps, rate,
                   format_duration((to.total_steps - st.step) / rate).c_str(), s.count("loss") ? s.at("loss") : 0.0);
      std::fflush(stderr);
    }
    if (st.step % to.log_every == 0 || st.step == to.total_steps) {
      std::map<std::string, double> logged;
      std::string line;
      for (auto& [k, sum_n] : acc) {
        const double mean = sum_n.first / static_cast<double>(sum_n.second);
        logged["train/" + k] = mean;
        tb.add_scalar("train/" + k, mean, st.step);
        line += fmt::format(" {} {:.6g}", k, mean);
      }
      const double interval = std::chrono::duration<double>(now - t_log).count();
      logged["train/it_per_s"] = acc_n / std::max(interval, 1e-9);
      tb.add_scalar("train/it_per_s", logged["train/it_per_s"], st.step);
      jsonl.write(st.step, logged);
      tb.flush();
      if (tty) std::fprintf(stderr, "\r\033[K");
      spdlog::info("step {}/{}{} | {:.2f} it/s | ETA {}", st.step, to.total_steps, line, logged["train/it_per_s"],
                   format_duration((to.total_steps - st.step) / rate));
      acc.clear();
      acc_n = 0;
      t_log = now;
    }
    const bool last = st.step == to.total_steps;
    bool is_best = false;
    if ((to.val_every > 0 && st.step % to.val_every == 0) || last) is_best = run_validation();
    if ((to.save_every > 0 && st.step % to.save_every == 0) || last || is_best) checkpoint(is_best);
    const int sig = g_signal.load();
    if (sig != 0 || (args.stop_after >= 0 && st.step >= args.stop_after)) {
      if (tty) std::fprintf(stderr, "\r\033[K");
      if (last_saved != st.step) checkpoint(false);
      spdlog::info("{} at step {}; continue with: tessera train {} --resume auto", sig ? (sig == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)") : "stopped",
                   st.step, args.config_file);
      return 0;
    }
  }
  if (tty) std::fprintf(stderr, "\n");
  spdlog::info("done: {} steps in {}", to.total_steps - first_step,
               format_duration(std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count()));
  return 0;
}

}  // namespace tessera::recipes
