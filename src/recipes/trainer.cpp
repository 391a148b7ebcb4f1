#include "tessera/recipes/trainer.h"

#include "tessera/recipes/trained_net.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <torch/cuda.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <sstream>

#include "tessera/build_info.h"
#include "tessera/core/runtime.h"
#include "tessera/io/event_log.h"
#include "tessera/io/files.h"
#include "tessera/io/image_io.h"
#include "tessera/recipes/run_dir.h"

namespace tessera::recipes {

namespace fs = std::filesystem;

namespace {

std::atomic<int> g_signal{0};
// The first SIGINT/SIGTERM asks for a stop after the current step; a second one ends the process
// at once (the checkpoints on disk are whole either way: they are written atomically).
extern "C" void on_signal(int sig) {
  if (g_signal.exchange(sig) != 0) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
}

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
    g_signal.store(0);
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

int64_t cuda_devices() { return torch::cuda::is_available() ? static_cast<int64_t>(torch::cuda::device_count()) : 0; }

struct TrainerState {
  int64_t step = 0;
  BestRecord best;
};

// Writes checkpoints/step_N atomically (tmp dir, fsync, rename). On any failure the tmp dir is
// removed and the error names the checkpoint; earlier checkpoints are never touched.
void save_checkpoint(const fs::path& run_dir, Recipe& recipe, const TrainerState& st, torch::Device device) {
  const fs::path ckdir = run_dir / "checkpoints";
  const fs::path final_dir = ckdir / step_dir_name(st.step);
  const fs::path tmp = fs::path(final_dir.string() + ".tmp");
  try {
    fs::create_directories(ckdir);
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    for (auto& [name, file] : recipe.weight_files()) io::save_safetensors((tmp / name).string(), file);
    torch::serialize::OutputArchive ar, rar;
    recipe.save_state(rar);
    ar.write("recipe", rar);
    if (Precision* p = recipe.precision(); p && p->scaler()) p->scaler()->save(ar, "grad_scaler");
    ar.write("step", torch::tensor(st.step, torch::kInt64), true);
    ar.write("best", torch::tensor(st.best.value, torch::kFloat64), true);
    ar.write("rng_cpu", at::detail::getDefaultCPUGenerator().get_state(), true);
    for (int64_t i = 0; i < cuda_devices(); ++i)
      ar.write("rng_cuda." + std::to_string(i), at::globalContext().defaultGenerator(at::Device(at::kCUDA, i)).get_state(), true);
    // Distributed on GPUs, every rank draws on its own device in lock step with rank 0's: rank 0's
    // generator of the run's device, for each rank to restore on its own.
    if (dist::active() && device.is_cuda())
      ar.write("rng_cuda.run_device", at::globalContext().defaultGenerator(device).get_state(), true);
    std::ostringstream os;
    ar.save_to(os);
    io::write_file_atomic(tmp / "state.pt", os.str());
    io::fsync_dir(tmp);
    if (fs::exists(final_dir)) fs::remove_all(final_dir);
    fs::rename(tmp, final_dir);
    io::fsync_dir(ckdir);
  } catch (const std::exception& e) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw Error("cannot save checkpoint '" + final_dir.string() + "' (the earlier checkpoints are intact): " + e.what());
  }
}

// Replaces best/ by a copy of checkpoint step_N (with best.yaml): the copy is made whole in
// best.tmp, best/ moves to best.old, best.tmp to best/. A process killed between the two renames
// leaves no best/; recover_best puts the complete best.tmp in its place when the run next starts.
void save_best(const fs::path& run_dir, const TrainerState& st) {
  const fs::path ckdir = run_dir / "checkpoints";
  const fs::path src = ckdir / step_dir_name(st.step);
  const fs::path best = ckdir / "best", best_tmp = ckdir / "best.tmp", best_old = ckdir / "best.old";
  try {
    fs::remove_all(best_tmp);
    fs::copy(src, best_tmp, fs::copy_options::recursive);
    io::write_file_atomic(best_tmp / "best.yaml", best_yaml(st.best));
    io::fsync_dir(best_tmp);
    fs::remove_all(best_old);
    if (fs::exists(best)) fs::rename(best, best_old);
    fs::rename(best_tmp, best);
    fs::remove_all(best_old);
    io::fsync_dir(ckdir);
  } catch (const std::exception& e) {
    std::error_code ec;
    fs::remove_all(best_tmp, ec);
    if (!fs::exists(best, ec) && fs::exists(best_old, ec)) fs::rename(best_old, best, ec);
    throw Error("cannot copy checkpoint '" + src.string() + "' to '" + best.string() + "' (best/ is unchanged): " + e.what());
  }
}

// Undoes what a kill inside save_best can leave: no best/, with best.tmp (complete once best/ was
// moved aside) and best.old. Otherwise drops the leftovers of an interrupted copy.
void recover_best(const fs::path& run_dir) {
  const fs::path ckdir = run_dir / "checkpoints";
  const fs::path best = ckdir / "best", best_tmp = ckdir / "best.tmp", best_old = ckdir / "best.old";
  if (!fs::exists(best) && fs::exists(best_old)) {
    const fs::path from = fs::exists(best_tmp) ? best_tmp : best_old;
    fs::rename(from, best);
    io::fsync_dir(ckdir);
    spdlog::warn("restored {} from {} (a run was killed while replacing it)", best.string(), from.string());
  }
  std::error_code ec;
  fs::remove_all(best_tmp, ec);
  fs::remove_all(best_old, ec);
}

// Loads a checkpoint into the recipe; throws on any inconsistency.
TrainerState load_checkpoint(const fs::path& dir, Recipe& recipe, torch::Device device) {
  for (auto& [name, expected] : recipe.weight_files()) {
    (void)expected;
    const fs::path f = dir / name;
    if (!fs::exists(f)) {
      std::string held;
      for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".safetensors") held += (held.empty() ? "" : ", ") + e.path().filename().string();
      throw Error("'" + dir.string() + "' has no " + name + " (it holds " + (held.empty() ? "no weights" : held) +
                  "): it was written by another recipe or is incomplete");
    }
    io::load_safetensors(f.string());  // validates the weights file
  }
  const fs::path state = dir / "state.pt";
  if (!fs::exists(state)) throw Error("'" + state.string() + "' is missing");
  TrainerState st;
  try {
    torch::serialize::InputArchive ar, rar;
    ar.load_from(state.string());
    ar.read("recipe", rar);
    recipe.load_state(rar);
    if (Precision* p = recipe.precision(); p && p->scaler() && !p->scaler()->load(ar, "grad_scaler"))
      spdlog::warn("'{}' has no loss-scaler state (saved without amp: fp16): the scale starts afresh", state.string());
    torch::Tensor step, rng;
    ar.read("step", step, true);
    ar.read("rng_cpu", rng, true);
    st.step = step.item<int64_t>();
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    gen.set_state(rng);
    // Checkpoints from a GPU run restore each device's generator (dropout, noise, GP mixing on GPU).
    for (int64_t i = 0; i < cuda_devices(); ++i) {
      torch::Tensor cuda_rng;
      if (ar.try_read("rng_cuda." + std::to_string(i), cuda_rng, true))
        at::Generator(at::globalContext().defaultGenerator(at::Device(at::kCUDA, i))).set_state(cuda_rng);
    }
    torch::Tensor run_rng;
    if (dist::active() && device.is_cuda() && ar.try_read("rng_cuda.run_device", run_rng, true))
      at::Generator(at::globalContext().defaultGenerator(device)).set_state(run_rng);
  } catch (const c10::Error& e) {
    throw Error("'" + state.string() + "' is corrupt or incompatible: " + std::string(e.what_without_backtrace()));
  }
  return st;
}

std::vector<std::string> string_list(const YAML::Node& n) {
  std::vector<std::string> out;
  if (n && n.IsSequence())
    for (const auto& x : n) out.push_back(x.as<std::string>());
  return out;
}

// Removes a run directory this session created, if nothing but its lock file ended up in it.
struct CreatedDir {
  fs::path dir;
  bool keep = false;
  ~CreatedDir() {
    if (dir.empty() || keep) return;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().filename() != ".lock") return;
    fs::remove_all(dir, ec);
  }
};

}  // namespace

std::string TrainerOptions::run_name(Cfg& root) {
  const std::string name = root.req<std::string>("name");
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    root.fail("name", "must be a non-empty name without '/'");
  return name;
}

TrainerOptions TrainerOptions::from_yaml(Cfg& root) {
  TrainerOptions o;
  o.name = run_name(root);
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

Scalars run_train_step(Recipe& recipe, const data::Batch& batch, int64_t step) {
  Scalars s = recipe.train_step(batch, step);
  if (Precision* p = recipe.precision(); p && p->scaler()) {
    // A step the scaler skipped (an fp16 overflow) has non-finite losses: the Trainer leaves them
    // out of its averages (keeping the keys, so that every rank reduces the same ones).
    s["loss_scale"] = p->scaler()->scale_value();  // before this iteration's update, as the step used it
    p->scaler()->update();
  }
  return s;
}

Training build_training(YAML::Node root_node, const std::string& file, const dist::InitOptions& dist_opt) {
  const YAML::Node input = yaml_clone(root_node);
  Cfg root(root_node, "", file);
  root.allow("_meta");
  Training t;
  t.options = TrainerOptions::from_yaml(root);
  t.device = resolve_device(t.options.device);
  const dist::WorldInfo world = dist::read_env();
  if (world.world_size > 1) {
    if (t.device.is_cuda()) {
      if (world.local_rank >= cuda_devices())
        throw ConfigError(fmt::format("LOCAL_RANK {} has no GPU: this node has {} (run at most that many processes per node)",
                                      world.local_rank, cuda_devices()));
      t.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(world.local_rank));
    }
    t.dist = std::make_shared<dist::Session>(world, t.device, dist_opt);
  }
  seed_everything(t.options.seed);
  Cfg dc = root.child("data");
  t.train = data::build_dataset(dc.child("train"));
  t.val = dc.has("val") ? data::build_dataset(dc.child("val")) : nullptr;
  t.loader.batch_size = dc.get<int64_t>("batch_size", 16, 1, 1 << 20);
  t.loader.num_workers = dc.get<int>("num_workers", 2, 0, 64);
  t.loader.prefetch = dc.get<int>("prefetch", 4, 1, 1024);
  t.loader.seed = t.options.seed;
  t.loader.rank = dist::rank(), t.loader.world = dist::world_size();
  dc.allow("val");
  dc.finish();
  t.recipe = build_recipe(root, t.device, t.options.total_steps);
  t.recipe->check_data(*t.train, t.val.get());
  root.finish();
  // The input with every default filled in: what the recipe resolved (network options), then every
  // value read through the config (given or defaulted).
  t.resolved = yaml_clone(input);
  for (const auto& kv : t.recipe->resolved_config()) t.resolved[kv.first.as<std::string>()] = yaml_clone(kv.second);
  yaml_merge(t.resolved, root.resolved());
  t.input = input;
  return t;
}

int train(const TrainArgs& args) {
  const YAML::Node file_node = load_yaml_file(args.config_file);
  // Under torchrun every rank runs this function; rank 0 alone writes the run directory (lock,
  // config, logs, TensorBoard, samples, checkpoints), the others read its checkpoints.
  const dist::WorldInfo world = dist::read_env();
  const bool main_rank = world.rank == 0;
  const bool resuming = !args.resume.empty();

  // Which run this session continues (source) and where it writes (run_dir): the same directory,
  // or a new one when a checkpoint of another run is continued in --run-dir (a branch).
  fs::path run_dir = args.run_dir, source_run, resume_ckpt;
  if (resuming && args.resume != "auto") {
    fs::path r = fs::path(args.resume).lexically_normal();
    if (r.filename().empty()) r = r.parent_path();  // "step_N/" as shells complete it
    if (fs::exists(r / "state.pt")) {
      resume_ckpt = r;
      source_run = r.parent_path().parent_path();
      if (r.parent_path().filename() != "checkpoints" && args.run_dir.empty())
        throw ConfigError("--resume '" + args.resume + "' is a checkpoint outside a run's checkpoints/ folder; give --run-dir for "
                          "the run that continues from it");
    } else if (fs::is_directory(r / "checkpoints")) {
      source_run = r;
    } else {
      throw ConfigError("--resume '" + args.resume + "' is neither a checkpoint directory (with state.pt) nor a run directory");
    }
  }
  if (run_dir.empty()) {
    if (!source_run.empty()) {
      run_dir = source_run;
    } else {
      YAML::Node named = yaml_clone(file_node);
      apply_overrides(named, args.overrides);
      Cfg c(named, "", args.config_file);
      run_dir = fs::path("runs") / TrainerOptions::run_name(c);
    }
  }
  if (source_run.empty()) source_run = run_dir;
  const bool branch = !io::same_file(source_run, run_dir) && fs::exists(source_run);

  const bool fresh_dir = main_rank && !fs::exists(run_dir);
  std::optional<RunLock> lock;
  if (main_rank) {
    fs::create_directories(run_dir);
    lock.emplace(run_dir);
    recover_best(run_dir);
  }
  // Marked only once the lock is ours: a launch that lost the lock must not remove the winner's.
  CreatedDir created{fresh_dir ? run_dir : fs::path()};

  std::vector<fs::path> candidates;
  if (!resume_ckpt.empty()) candidates = {resume_ckpt};
  else if (resuming) candidates = list_checkpoints(source_run);
  if (resuming && args.resume != "auto" && candidates.empty()) throw ConfigError("--resume '" + args.resume + "': no checkpoints found");
  const auto existing = list_checkpoints(run_dir);
  if ((!resuming || branch) && !existing.empty())
    throw ConfigError("run directory '" + run_dir.string() + "' already holds checkpoints; pass --resume auto to continue "
                      "that run, or --run-dir (or another name) to start a new one");
  if (!resume_ckpt.empty() && !branch && !existing.empty() && !io::same_file(existing.front(), resume_ckpt))
    throw ConfigError("checkpoint '" + resume_ckpt.string() + "' is not the newest of run '" + run_dir.string() + "' (" +
                      existing.front().filename().string() + " is): continuing in place would replace the newer checkpoints and "
                      "best/. Branch into a new run with --run-dir NEW_DIR (this run stays as it is), or continue from the "
                      "newest with --resume auto");

  // The run's own config: its overrides carry over to this session, and its keys are compared.
  YAML::Node run_cfg;
  const fs::path run_cfg_path = source_run / "config.yaml";
  const bool have_run_cfg = !candidates.empty() && fs::exists(run_cfg_path);
  if (have_run_cfg) run_cfg = load_yaml_file(run_cfg_path.string());
  const bool unchecked_resume = !candidates.empty() && !have_run_cfg;
  const std::vector<std::string> overrides =
      have_run_cfg ? merge_overrides(string_list(run_cfg["_meta"]["overrides"]), args.overrides) : args.overrides;

  YAML::Node root_node = yaml_clone(file_node);
  apply_overrides(root_node, overrides);
  if (have_run_cfg) {
    // Another family's config on this run: say so before its keys are read with the run's overrides.
    auto type_of = [](const YAML::Node& n) {
      const YAML::Node& cn = n;
      return cn["recipe"] && cn["recipe"]["type"] ? cn["recipe"]["type"].as<std::string>() : std::string("(absent)");
    };
    if (type_of(run_cfg) != type_of(root_node))
      throw ConfigError("cannot resume run '" + source_run.string() + "' with another recipe: recipe.type: " + type_of(run_cfg) +
                        " -> " + type_of(root_node) + " (" + args.config_file + "); start a new run (another --run-dir or name)");
  }
  Training t = build_training(root_node, args.config_file, args.dist);
  const TrainerOptions& to = t.options;
  if (to.threads > 0) torch::set_num_threads(to.threads);
  const torch::Device device = t.device;
  data::DatasetPtr train_ds = t.train, val_ds = t.val;
  RecipePtr& recipe = t.recipe;
  YAML::Node resolved = t.resolved;

  // A resumed run keeps what its checkpoints hold: architecture, data shapes, recipe and validation
  // changes are refused, each named; schedule, cadence and logging changes are applied and logged.
  std::vector<ConfigChange> changes;
  if (have_run_cfg) {
    changes = config_changes(run_cfg, resolved);
    // Runs saved before config.yaml held every default lack those keys: a key this session did
    // not set either is a default both sessions used, not a change.
    const auto given = flatten_config(t.input);
    std::erase_if(changes, [&](const ConfigChange& c) { return c.before == "(absent)" && !given.count(c.key); });
    std::string refused;
    for (const auto& c : changes)
      if (!c.safe) refused += "\n  " + c.key + ": " + c.before + " -> " + c.after;
    if (!refused.empty())
      throw ConfigError("cannot resume run '" + source_run.string() + "' with these changes to its config (" + run_cfg_path.string() +
                        "):" + refused + "\nthe run's checkpoints hold what these keys describe; start a new run (another "
                        "--run-dir or name) to change them");
  }

  if (main_rank) {
    setup_logging((run_dir / "train.log").string());
  } else {
    // The other ranks say only what goes wrong, marked with their rank.
    setup_logging();
    spdlog::default_logger()->set_pattern(fmt::format("%^[%H:%M:%S %l rank {}]%$ %v", world.rank));
    spdlog::set_level(spdlog::level::warn);
  }
  if (lock && !lock->previous_holder().empty())
    spdlog::warn("took over the lock of '{}' from a training that ended without releasing it ({})", run_dir.string(),
                 lock->previous_holder());
  for (const auto& c : changes) spdlog::info("config change on resume: {}: {} -> {}", c.key, c.before, c.after);
  if (have_run_cfg && run_cfg["_meta"]["world_size"] && run_cfg["_meta"]["world_size"].as<int>() != dist::world_size())
    spdlog::warn("resuming with {} rank(s) a run last trained with {}: the global batch becomes {} x {} and the data order "
                 "changes from here on", dist::world_size(), run_cfg["_meta"]["world_size"].as<int>(), t.loader.batch_size,
                 dist::world_size());
  if (unchecked_resume)
    spdlog::warn("'{}' is missing: this session's config cannot be checked against the run's, and the run's earlier "
                 "overrides are not carried over; only the checkpoint's shapes are checked", run_cfg_path.string());
  if (resuming && candidates.empty()) {
    // A run whose checkpoints are gone (moved aside, deleted) is not a new run: starting over would
    // trim its metrics and compete with its best/.
    bool traces = fs::exists(run_dir / "checkpoints" / "best");
    if (fs::is_directory(run_dir / "checkpoints"))
      for (const auto& e : fs::directory_iterator(run_dir / "checkpoints")) traces |= e.path().extension() == ".unusable";
    if (traces)
      throw ConfigError("--resume auto: '" + run_dir.string() + "' has no loadable step checkpoint but holds an earlier run "
                        "(best/ or step_N.unusable/); resume from one with --resume DIR, or start a new run in another --run-dir");
    spdlog::info("--resume auto: '{}' has no checkpoint yet, so this starts a new run", run_dir.string());
  }

  TrainerState st;
  bool resumed = false;
  fs::path resumed_from;
  std::vector<fs::path> unusable;
  for (const auto& c : main_rank ? candidates : std::vector<fs::path>{}) {
    try {
      st = load_checkpoint(c, *recipe, device);
      spdlog::info("resumed from {} (step {}){}", c.string(), st.step, branch ? ", branching into " + run_dir.string() : "");
      resumed = true;
      resumed_from = c;
      break;
    } catch (const Error& e) {
      if (!resume_ckpt.empty()) throw;
      spdlog::warn("skipping unusable checkpoint: {}", e.what());
      unusable.push_back(c);
    }
  }
  if (main_rank && !candidates.empty() && !resumed)
    throw Error("no usable checkpoint in '" + source_run.string() + "' (none was changed; see the reasons above)");
  if (dist::active()) {
    // Every rank continues from the checkpoint rank 0 chose (or none).
    const std::string chosen = dist::share_from_main("resume_from", resumed ? resumed_from.string() : "");
    if (!main_rank && !chosen.empty()) {
      st = load_checkpoint(chosen, *recipe, device);
      resumed = true;
      resumed_from = chosen;
    }
  }
  // Only once an older one loaded, the newer unusable ones move out of the way of the checkpoints
  // this run writes next (kept for inspection).
  if (!branch && main_rank)
    for (const auto& c : unusable) {
      std::error_code ec;
      const fs::path aside = c.string() + ".unusable";
      fs::remove_all(aside, ec);
      fs::rename(c, aside, ec);
      if (!ec) spdlog::warn("moved {} to {}", c.string(), aside.string());
    }
  // The best score is that of best/ in this run directory (a branch starts without one).
  st.best = read_best(run_dir);
  if (!st.best.metric.empty() && st.best.metric != recipe->best_metric()) st.best = BestRecord{};

  std::vector<std::string> cmd = {"tessera", "train", args.config_file};
  cmd.insert(cmd.end(), {"--run-dir", run_dir.string()});
  cmd.insert(cmd.end(), overrides.begin(), overrides.end());
  const std::string resume_hint = shell_command(cmd) + " --resume auto";

  YAML::Node history = have_run_cfg && run_cfg["_meta"]["history"] ? yaml_clone(run_cfg["_meta"]["history"]) : YAML::Node(YAML::NodeType::Sequence);
  YAML::Node entry;
  entry["started"] = utc_timestamp();
  std::vector<std::string> line = {"tessera", "train", args.config_file};
  line.insert(line.end(), args.overrides.begin(), args.overrides.end());
  if (resuming) line.insert(line.end(), {"--resume", args.resume});
  if (!args.run_dir.empty()) line.insert(line.end(), {"--run-dir", args.run_dir});
  entry["command"] = shell_command(line);
  if (resumed) {
    entry["resumed_from"] = resumed_from.string();
    entry["step"] = st.step;
  }
  for (const auto& c : changes) entry["changes"].push_back(c.key + ": " + c.before + " -> " + c.after);
  if (dist::active()) entry["world_size"] = dist::world_size();
  history.push_back(entry);
  resolved["_meta"] = YAML::Node(YAML::NodeType::Map);
  resolved["_meta"]["git_sha"] = TESSERA_GIT_SHA;
  resolved["_meta"]["tessera"] = TESSERA_VERSION;
  resolved["_meta"]["libtorch"] = TESSERA_TORCH_VERSION;
  resolved["_meta"]["opencv"] = TESSERA_OPENCV_VERSION;
  resolved["_meta"]["device"] = device.str();
  resolved["_meta"]["threads"] = torch::get_num_threads();
  resolved["_meta"]["world_size"] = dist::world_size();
  resolved["_meta"]["overrides"] = YAML::Node(YAML::NodeType::Sequence);
  for (const auto& o : overrides) resolved["_meta"]["overrides"].push_back(o);
  resolved["_meta"]["history"] = history;
  if (main_rank) {
    fs::create_directories(run_dir / "samples");
    io::write_file_atomic(run_dir / "config.yaml", yaml_dump(resolved));
    created.keep = true;
  }

  spdlog::info("run {}: {}", run_dir.string(), recipe->summary());
  spdlog::info("train data: {}", train_ds->describe());
  if (val_ds) spdlog::info("val data: {}", val_ds->describe());
  spdlog::info("device {}, {} threads, {} steps", device.str(), torch::get_num_threads(), to.total_steps);
  if (dist::active()) {
    spdlog::info("distributed: {} ranks over {} (this is rank 0); global batch {} x {} = {}", dist::world_size(), dist::backend_name(),
                 t.loader.batch_size, dist::world_size(), t.loader.batch_size * dist::world_size());
    if (main_rank)
      for (auto& [name, file] : recipe->weight_files())
        if (std::any_of(file.tensors.begin(), file.tensors.end(), [](const auto& kv) { return kv.first.ends_with("running_mean"); })) {
          spdlog::warn("{} has batch norm: its batch statistics are per rank ({} samples, not the global {}), and its running "
                       "statistics are rank 0's", name, t.loader.batch_size, t.loader.batch_size * dist::world_size());
          break;
        }
  }

  bool step_validated = false;  // metrics.jsonl already has the resumed step's validation
  if (!branch && main_rank) {
    // Rows logged after the checkpoint (by the run that was killed, or by one that never saved) are
    // replayed by this one: drop them so metrics.jsonl holds one row per step.
    const fs::path mpath = run_dir / "metrics.jsonl";
    if (fs::exists(mpath)) {
      std::istringstream in(io::read_file(mpath));
      std::string kept;
      for (std::string l; std::getline(in, l);) {
        // A line torn by the kill is dropped, as are rows past the checkpoint.
        const auto p = l.find("\"step\": ");
        long long row_step = 0;
        const auto r = p == std::string::npos ? std::from_chars_result{nullptr, std::errc::invalid_argument}
                                              : std::from_chars(l.data() + p + 8, l.data() + l.size(), row_step);
        if (r.ec == std::errc() && row_step <= st.step && l.back() == '}') {
          kept += l + "\n";
          step_validated |= row_step == st.step && l.find("\"val/") != std::string::npos;
        }
      }
      io::write_file_atomic(mpath, kept);
    }
  }
  std::unique_ptr<io::EventWriter> tb;
  std::unique_ptr<io::MetricsJsonl> jsonl;
  if (main_rank) {
    tb = std::make_unique<io::EventWriter>(run_dir.string());
    jsonl = std::make_unique<io::MetricsJsonl>((run_dir / "metrics.jsonl").string());
  }
  data::Loader loader(train_ds, t.loader);
  SignalGuard signals;

  const bool tty = main_rank && ::isatty(STDERR_FILENO);
  auto t_start = std::chrono::steady_clock::now();
  auto t_log = t_start;
  const int64_t first_step = st.step;
  // Per-key sums and counts: a recipe may report a value only on some steps (a GAN's g_loss).
  std::map<std::string, std::pair<double, int64_t>> acc;
  int64_t acc_n = 0;
  int64_t last_saved = resumed && !branch ? st.step : -1;

  auto run_validation = [&]() -> bool {
    ValResult vr = recipe->validate(val_ds.get(), st.step);
    if (vr.metrics.empty() && vr.images.empty()) return false;
    std::string vline;
    std::map<std::string, double> logged;
    for (const auto& [k, v] : vr.metrics) {
      tb->add_scalar("val/" + k, v, st.step);
      logged["val/" + k] = v;
      vline += fmt::format(" {} {:.4f}", k, v);
    }
    if (!logged.empty()) jsonl->write(st.step, logged);
    for (const auto& [name, img] : vr.images) {
      tb->add_image("val/" + name, img.clamp(0, 1), st.step);
      io::write_image((run_dir / "samples" / (step_dir_name(st.step) + "_" + name + ".png")).string(), img);
    }
    tb->flush();
    spdlog::info("validation at step {}:{}", st.step, vline);
    const std::string bm = recipe->best_metric();
    if (bm.empty() || !vr.metrics.count(bm)) return false;
    const double v = vr.metrics.at(bm);
    if (!std::isfinite(v)) return false;
    const bool better = std::isnan(st.best.value) || (recipe->higher_is_better() ? v > st.best.value : v < st.best.value);
    if (better) st.best = {bm, v, st.step};
    return better;
  };
  auto checkpoint = [&]() {
    last_saved = st.step;
    if (!main_rank) return;
    try {
      save_checkpoint(run_dir, *recipe, st, device);
    } catch (const Error& e) {
      // A full disk (or any write failure): the run stops; nothing on disk was touched.
      throw Error(std::string(e.what()) + "\nthe run stops here; make room, then continue with: " + resume_hint);
    }
    auto all = list_checkpoints(run_dir);
    for (size_t i = static_cast<size_t>(to.keep_last); i < all.size(); ++i) fs::remove_all(all[i]);
    spdlog::info("saved checkpoint {}", (run_dir / "checkpoints" / step_dir_name(st.step)).string());
  };

  auto is_validation_step = [&](int64_t step) { return (to.val_every > 0 && step % to.val_every == 0) || step == to.total_steps; };
  auto validate_step = [&]() {
    bool is_best = false;
    try {
      is_best = run_validation();
    } catch (const StopRequested& e) {
      // The step is saved; the signal stops the run below, and a resumed run validates this step.
      if (last_saved != st.step) checkpoint();
      spdlog::warn("{} during the validation of step {}: validation stopped (a resumed run validates the step first)", e.what(), st.step);
      return;
    } catch (...) {
      if (last_saved != st.step) checkpoint();
      spdlog::error("validation at step {} failed; the step is saved, continue with: {}", st.step, resume_hint);
      throw;
    }
    if (is_best) {
      if (last_saved != st.step) checkpoint();
      save_best(run_dir, st);
      spdlog::info("new best {} {:.4f} at step {}: copied to {}", st.best.metric, st.best.value, st.step,
                   (run_dir / "checkpoints" / "best").string());
    }
  };
  // A run stopped between a step's checkpoint and its validation (killed, or the validation
  // failed) validates that step first.
  // (Rank 0 alone reads metrics.jsonl: it decides, and every rank follows.)
  bool revalidate = main_rank && resumed && !branch && !step_validated && st.step > 0 && is_validation_step(st.step);
  if (dist::active()) revalidate = dist::allreduce_max(revalidate ? 1.0 : 0.0) > 0;
  // After a step: the signal on any rank, or --stop-after, stops every rank at the same step, with
  // that step saved.
  auto stop_here = [&]() {
    const int sig = dist::active() ? static_cast<int>(dist::allreduce_max(g_signal.load())) : g_signal.load();
    if (sig == 0 && !(args.stop_after >= 0 && st.step >= args.stop_after)) return false;
    if (tty) std::fprintf(stderr, "\r\033[K");
    if (last_saved != st.step) checkpoint();
    dist::barrier();
    spdlog::info("{} at step {}; continue with: {}", sig ? (sig == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)") : "stopped",
                 st.step, resume_hint);
    return true;
  };
  if (revalidate) {
    spdlog::info("step {} was saved but not validated: validating it now", st.step);
    if (main_rank) validate_step();
    dist::barrier();
    if (stop_here()) return 0;
  }

  while (st.step < to.total_steps) {
    data::Batch batch = loader.batch(st.step);
    Scalars s = run_train_step(*recipe, batch, st.step);
    ++st.step;
    for (const auto& [k, v] : s) {
      auto& e = acc[k];
      if (std::isfinite(v)) e.first += v, ++e.second;
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
    const bool log_step = st.step % to.log_every == 0 || st.step == to.total_steps;
    if (log_step && dist::active()) {
      // Logged values are means over every rank's steps.
      std::vector<double> v;
      for (const auto& [k, sum_n] : acc) v.push_back(sum_n.first), v.push_back(static_cast<double>(sum_n.second));
      v = dist::allreduce_sum(v);
      size_t i = 0;
      for (auto& [k, sum_n] : acc) sum_n.first = v[i], sum_n.second = static_cast<int64_t>(v[i + 1]), i += 2;
    }
    if (log_step && main_rank) {
      std::map<std::string, double> logged;
      std::string lline;
      for (auto& [k, sum_n] : acc) {
        if (sum_n.second == 0) continue;  // only non-finite values (skipped fp16 steps) in this window
        const double mean = sum_n.first / static_cast<double>(sum_n.second);
        logged["train/" + k] = mean;
        tb->add_scalar("train/" + k, mean, st.step);
        lline += fmt::format(" {} {:.6g}", k, mean);
      }
      const double interval = std::chrono::duration<double>(now - t_log).count();
      logged["train/it_per_s"] = acc_n / std::max(interval, 1e-9);
      tb->add_scalar("train/it_per_s", logged["train/it_per_s"], st.step);
      jsonl->write(st.step, logged);
      tb->flush();
      if (tty) std::fprintf(stderr, "\r\033[K");
      spdlog::info("step {}/{}{} | {:.2f} it/s | ETA {}", st.step, to.total_steps, lline, logged["train/it_per_s"],
                   format_duration((to.total_steps - st.step) / rate));
    }
    if (log_step) {
      acc.clear();
      acc_n = 0;
      t_log = now;
    }
    const bool last = st.step == to.total_steps;
    // The step's checkpoint is written before it is validated: a failing validation loses nothing.
    const bool save = (to.save_every > 0 && st.step % to.save_every == 0) || last;
    if (save) checkpoint();
    if (is_validation_step(st.step) && main_rank) validate_step();
    // Checkpoints are taken at a barrier: no rank runs ahead of rank 0's files.
    if (save || is_validation_step(st.step)) dist::barrier();
    if (stop_here()) return 0;
  }
  if (tty) std::fprintf(stderr, "\n");
  spdlog::info("done: {} steps in {}", to.total_steps - first_step,
               format_duration(std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count()));
  return 0;
}

void check_stop() {
  if (const int sig = g_signal.load())
    throw StopRequested(sig == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)");
}

}  // namespace tessera::recipes
