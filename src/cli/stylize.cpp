// tessera stylize: optimisation-based style transfer (Gatys et al.) from a config (default
// configs/style/gatys.yaml's values built in), with a run directory of its own.
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

#include "args.h"
#include "commands.h"
#include "tessera/build_info.h"
#include "tessera/core/runtime.h"
#include "tessera/io/event_log.h"
#include "tessera/io/files.h"
#include "tessera/io/image_io.h"
#include "tessera/recipes/gatys.h"
#include "tessera/recipes/run_dir.h"

namespace tessera::cli {

namespace fs = std::filesystem;

Run add_stylize(CLI::App& app) {
  struct Args {
    std::string content, output, config, run_dir, device;
    std::vector<std::string> styles, overrides;
    std::vector<double> style_weights;
  };
  auto a = std::make_shared<Args>();
  app.add_option("--content", a->content, "content image")->required();
  app.add_option("--style", a->styles, "style image; repeat for several (blended by --style-weight)")->required();
  app.add_option("--style-weight", a->style_weights, "one weight per --style (default: equal)");
  app.add_option("--output", a->output, "the stylised image (.png, .jpg, ...)")->required();
  app.add_option("--config", a->config, "YAML config (default: the built-in defaults of configs/style/gatys.yaml)");
  app.add_option("overrides", a->overrides, "key.path=value overrides of the config");
  app.add_option("--run-dir", a->run_dir, "run directory (default runs/<name>, or runs/<name>_N when that exists)");
  app.add_option("--device", a->device, "auto, cpu or cuda (overrides the config's device)");
  return [a] {
    YAML::Node root_node = a->config.empty() ? YAML::Node(YAML::NodeType::Map) : load_yaml_file(a->config);
    apply_overrides(root_node, a->overrides);
    const std::string file = a->config.empty() ? "<defaults>" : a->config;
    Cfg root(root_node, "", file);
    recipes::GatysOptions opt = recipes::GatysOptions::from_yaml(root);
    if (!a->device.empty()) opt.device = a->device;
    if (!a->style_weights.empty() && a->style_weights.size() != a->styles.size())
      throw ConfigError("--style-weight: " + std::to_string(a->style_weights.size()) + " weights for " + std::to_string(a->styles.size()) + " styles");
    for (double w : a->style_weights)
      if (!(w > 0) || !std::isfinite(w)) throw ConfigError("--style-weight: every weight must be a positive number");
    if (!io::is_image_file(a->output)) throw ConfigError("--output '" + a->output + "' needs an image extension (.png, .jpg, ...)");
    std::vector<std::string> inputs = a->styles;
    inputs.push_back(a->content);
    for (const auto& in : inputs)
      if (io::same_file(in, a->output))
        throw ConfigError("--output '" + a->output + "' is an input image: it would be replaced");

    torch::Tensor content = io::read_image(a->content).rgb;
    std::vector<recipes::StyleImage> styles;
    for (size_t i = 0; i < a->styles.size(); ++i)
      styles.push_back({io::read_image(a->styles[i]).rgb, a->style_weights.empty() ? 1.0 : a->style_weights[i]});

    // A run directory per stylisation: a new runs/<name>_N rather than over an earlier one.
    fs::path run_dir = a->run_dir;
    if (run_dir.empty()) {
      run_dir = fs::path("runs") / opt.name;
      for (int n = 2; fs::exists(run_dir / "config.yaml"); ++n) run_dir = fs::path("runs") / (opt.name + "_" + std::to_string(n));
    } else if (fs::exists(fs::path(run_dir) / "config.yaml")) {
      throw ConfigError("run directory '" + run_dir.string() + "' already holds a run; choose another --run-dir");
    }
    fs::create_directories(run_dir / "snapshots");
    recipes::RunLock lock(run_dir);
    setup_logging((run_dir / "stylize.log").string());
    const torch::Device device = resolve_device(opt.device);
    seed_everything(opt.seed);

    YAML::Node resolved = opt.to_yaml();
    resolved["_meta"]["git_sha"] = TESSERA_GIT_SHA;
    resolved["_meta"]["tessera"] = TESSERA_VERSION;
    resolved["_meta"]["libtorch"] = TESSERA_TORCH_VERSION;
    resolved["_meta"]["device"] = device.str();
    resolved["_meta"]["content"] = a->content;
    for (size_t i = 0; i < styles.size(); ++i) {
      resolved["_meta"]["styles"][i]["path"] = a->styles[i];
      resolved["_meta"]["styles"][i]["weight"] = styles[i].weight;
    }
    resolved["_meta"]["output"] = a->output;
    io::write_file_atomic(run_dir / "config.yaml", yaml_dump(resolved));

    recipes::Gatys gatys(opt, device);
    spdlog::info("stylize {} with {} style image(s): VGG{} ({} weights{}), {} x {} iterations per scale, {} px{}", a->content,
                 styles.size(), gatys.vgg().opt.depth, opt.features["weights"].as<std::string>(),
                 gatys.normalized() ? ", per-layer normalised losses" : "", opt.optimizer, opt.iterations, opt.image_size,
                 opt.preserve_color ? ", colour preserved" : "");
    io::EventWriter tb(run_dir.string());
    io::MetricsJsonl jsonl((run_dir / "metrics.jsonl").string());
    const auto t0 = std::chrono::steady_clock::now();
    auto on_log = [&](const recipes::GatysProgress& p) {
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::map<std::string, double> row;
      for (const auto& [k, v] : p.terms) {
        row["style/" + k] = v;
        tb.add_scalar("style/" + k, v, p.iteration);
      }
      row["style/evaluations"] = static_cast<double>(p.evaluations);
      jsonl.write(p.iteration, row);
      tb.flush();
      const double rate = p.iteration / std::max(el, 1e-9);
      spdlog::info("iter {}/{} (scale {:g}) | loss {:.5g} (content {:.4g}, style {:.4g}, tv {:.3g}) | {} evaluations | {:.2f} it/s", p.iteration,
                   p.total, p.scale, p.terms.at("loss"), p.terms.at("content"), p.terms.at("style"), p.terms.at("tv"), p.evaluations, rate);
    };
    auto on_snapshot = [&](const torch::Tensor& img, const recipes::GatysProgress& p) {
      char name[48];
      std::snprintf(name, sizeof(name), "iter_%07lld.png", static_cast<long long>(p.iteration));
      io::write_image((run_dir / "snapshots" / name).string(), img);
      tb.add_image("style/image", img, p.iteration);
    };
    recipes::GatysResult r = gatys.run(content, styles, on_log, on_snapshot);
    io::write_image(a->output, r.image);
    tb.add_image("style/output", r.image, r.log.back().iteration);
    tb.flush();
    const auto& first = r.log.front().terms;
    const auto& last = r.log.back().terms;
    spdlog::info("wrote {} ({}x{}): style loss {:.4g} -> {:.4g} ({:.0f}x lower), content {:.4g} -> {:.4g}; run {}", a->output,
                 r.image.size(2), r.image.size(1), first.at("style"), last.at("style"), first.at("style") / std::max(last.at("style"), 1e-30),
                 first.at("content"), last.at("content"), run_dir.string());
    return 0;
  };
}

}  // namespace tessera::cli
