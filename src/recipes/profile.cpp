#include "tessera/recipes/profile.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <chrono>
#include <map>

#include "tessera/core/config.h"
#include "tessera/io/files.h"
#include "tessera/recipes/trainer.h"

namespace tessera::recipes {

namespace {

namespace prof = torch::autograd::profiler;

struct OpTime {
  double self_us = 0, total_us = 0;
  int64_t calls = 0;
};

// Pairs each thread's push/pop events into operator calls; self time is a call's time less its
// children's (so the table's self times add up to the profiled time).
std::map<std::string, OpTime> aggregate(const prof::thread_event_lists& lists) {
  std::map<std::string, OpTime> ops;
  for (const auto& events : lists) {
    struct Open {
      const prof::LegacyEvent* push;
      double children_us = 0;
    };
    std::vector<Open> stack;
    for (const auto& e : events) {
      if (e.kindStr() == "push") {
        stack.push_back({&e});
      } else if (e.kindStr() == "pop" && !stack.empty()) {
        Open o = stack.back();
        stack.pop_back();
        const double total = o.push->cpuElapsedUs(e);
        OpTime& t = ops[o.push->name()];
        t.total_us += total;
        t.self_us += total - o.children_us;
        ++t.calls;
        if (!stack.empty()) stack.back().children_us += total;
      }
    }
  }
  return ops;
}

}  // namespace

int profile(const ProfileArgs& args) {
  if (args.steps < 1 || args.warmup < 0) throw ConfigError("--steps must be >= 1 and --warmup >= 0");
  YAML::Node root = load_yaml_file(args.config_file);
  apply_overrides(root, args.overrides);
  Training t = build_training(root, args.config_file);
  if (t.options.threads > 0) torch::set_num_threads(t.options.threads);
  data::Loader loader(t.train, t.loader);
  spdlog::info("profiling {}: {} warm-up steps, then {} profiled steps; {}", args.config_file, args.warmup, args.steps, t.recipe->summary());
  auto sync = [&] {
    if (t.device.is_cuda()) torch::cuda::synchronize();
  };
  int64_t step = 0;
  for (; step < args.warmup; ++step) run_train_step(*t.recipe, loader.batch(step), step);
  sync();
  prof::enableProfilerLegacy(prof::ProfilerConfig(t.device.is_cuda() ? prof::ProfilerState::CUDA : prof::ProfilerState::CPU));
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < args.steps; ++i, ++step) run_train_step(*t.recipe, loader.batch(step), step);
  sync();
  const double wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  auto ops = aggregate(prof::disableProfilerLegacy());

  std::vector<std::pair<std::string, OpTime>> rows(ops.begin(), ops.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.self_us > b.second.self_us; });
  double self_sum = 0;
  for (const auto& [n, o] : rows) self_sum += o.self_us;
  std::string table = fmt::format("{}: {} steps after {} warm-up, {:.1f} ms per step (wall, profiler on), {} threads\n\n",
                                  args.config_file, args.steps, args.warmup, wall_ms / args.steps, torch::get_num_threads());
  table += "| operator | calls/step | self ms/step | self % | total ms/step |\n| --- | ---: | ---: | ---: | ---: |\n";
  for (size_t i = 0; i < rows.size() && static_cast<int64_t>(i) < args.top; ++i) {
    const auto& [name, o] = rows[i];
    table += fmt::format("| `{}` | {:.1f} | {:.2f} | {:.1f} | {:.2f} |\n", name, static_cast<double>(o.calls) / args.steps,
                         o.self_us / 1e3 / args.steps, 100 * o.self_us / std::max(1.0, self_sum), o.total_us / 1e3 / args.steps);
  }
  std::printf("%s", table.c_str());
  if (!args.output.empty()) io::write_file_atomic(args.output, table);
  return 0;
}

}  // namespace tessera::recipes
