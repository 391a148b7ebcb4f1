#include "tessera/archs/checkpoint.h"

#include "tessera/build_info.h"
#include "tessera/core/config.h"

namespace tessera::archs {

io::TensorFile net_weights(NetImpl& net, const std::map<std::string, std::string>& extra_meta) {
  io::TensorFile f;
  for (const auto& p : net.named_parameters()) f.tensors.emplace_back(p.key(), p.value().detach());
  for (const auto& b : net.named_buffers()) f.tensors.emplace_back(b.key(), b.value().detach());
  f.metadata = extra_meta;
  f.metadata["format"] = "pt";  // what safetensors.torch expects
  f.metadata["tessera.arch"] = yaml_dump(net.options_yaml());
  f.metadata["tessera.type"] = net.type();
  f.metadata["tessera.task"] = net.task();
  f.metadata["tessera.scale"] = std::to_string(net.scale());
  f.metadata["tessera.version"] = TESSERA_VERSION;
  return f;
}

void load_net_weights(torch::nn::Module& net, const io::TensorFile& file, const std::string& source) {
  torch::NoGradGuard ng;
  std::map<std::string, torch::Tensor> dst;
  for (const auto& p : net.named_parameters()) dst[p.key()] = p.value();
  for (const auto& b : net.named_buffers()) dst[b.key()] = b.value();
  std::vector<std::string> missing, unexpected;
  for (const auto& [name, t] : file.tensors) {
    auto it = dst.find(name);
    if (it == dst.end()) {
      unexpected.push_back(name);
      continue;
    }
    if (it->second.sizes() != t.sizes())
      throw Error(source + ": tensor '" + name + "' has shape " + c10::str(t.sizes()) + " but the network expects " +
                  c10::str(it->second.sizes()));
    it->second.copy_(t);
    dst.erase(it);
  }
  for (const auto& kv : dst) {
    // BatchNorm's step counter is not needed for inference; older PyTorch files lack it.
    const std::string suffix = "num_batches_tracked";
    const bool counter = kv.first.size() >= suffix.size() && kv.first.compare(kv.first.size() - suffix.size(), suffix.size(), suffix) == 0;
    if (!counter) missing.push_back(kv.first);
  }
  if (!missing.empty() || !unexpected.empty()) {
    auto join = [](const std::vector<std::string>& v) {
      std::string s;
      for (size_t i = 0; i < v.size() && i < 5; ++i) s += (i ? ", " : "") + v[i];
      if (v.size() > 5) s += ", ... (" + std::to_string(v.size()) + " in all)";
      return s;
    };
    throw Error(source + ": weights do not match the network" +
                (missing.empty() ? "" : "; missing: " + join(missing)) +
                (unexpected.empty() ? "" : "; unexpected: " + join(unexpected)));
  }
}

std::string describe_task(const std::string& task) {
  if (task == "image_to_image") return "an image-to-image network (upscaler)";
  if (task == "generator") return "a generator";
  if (task == "autoencoder") return "an autoencoder";
  if (task == "critic") return "a GAN critic (discriminator)";
  if (task == "classifier") return "a classifier (feature network)";
  return "a '" + task + "' network";
}

NetPtr load_net_checkpoint(const std::string& path, const std::vector<std::string>& tasks, const std::string& command) {
  io::TensorFile f = io::load_safetensors(path);
  auto it = f.metadata.find("tessera.arch");
  if (it == f.metadata.end())
    throw Error("'" + path + "' has no 'tessera.arch' metadata: it is not a tessera weights file "
                "(convert foreign weights with scripts/convert_weights.py)");
  auto check_task = [&](const std::string& task, const std::string& type) {
    if (tasks.empty() || std::find(tasks.begin(), tasks.end(), task) != tasks.end()) return;
    std::string wanted;
    for (size_t i = 0; i < tasks.size(); ++i) wanted += (i ? (i + 1 == tasks.size() ? " or " : ", ") : "") + describe_task(tasks[i]);
    throw ConfigError("'" + path + "' holds " + describe_task(task) + " (" + type + "); " +
                      (command.empty() ? std::string("this needs ") : "`tessera " + command + "` runs ") + wanted);
  };
  // Files written before tessera.task existed are checked once the network is built.
  auto task_meta = f.metadata.find("tessera.task");
  auto type_meta = f.metadata.find("tessera.type");
  if (task_meta != f.metadata.end()) check_task(task_meta->second, type_meta != f.metadata.end() ? type_meta->second : "?");
  NetPtr net = build_arch_from_yaml_text(it->second, path);
  check_task(net->task(), net->type());
  for (const auto& [name, t] : f.tensors) {
    if (!t.is_floating_point()) continue;
    const int64_t bad = (~torch::isfinite(t)).sum().item<int64_t>();
    if (bad > 0)
      throw Error("'" + path + "': tensor '" + name + "' has " + std::to_string(bad) + " non-finite values (NaN or Inf) of " +
                  std::to_string(t.numel()) + ": the weights are damaged (a diverged training?); use an earlier checkpoint");
  }
  load_net_weights(*net, f, path);
  net->eval();
  return net;
}

io::TensorFile interpolate_weights(const io::TensorFile& a, const io::TensorFile& b, double alpha, const std::string& a_source,
                                   const std::string& b_source) {
  if (!(alpha >= 0 && alpha <= 1)) throw ConfigError("--alpha must be in [0, 1], got " + std::to_string(alpha));
  auto arch_of = [](const io::TensorFile& f, const std::string& src) {
    auto it = f.metadata.find("tessera.arch");
    if (it == f.metadata.end()) throw Error("'" + src + "' has no 'tessera.arch' metadata: it is not a tessera weights file");
    return yaml_dump(build_arch_from_yaml_text(it->second, src)->options_yaml());  // every default filled in
  };
  const std::string arch_a = arch_of(a, a_source), arch_b = arch_of(b, b_source);
  if (arch_a != arch_b)
    throw ConfigError("cannot interpolate '" + a_source + "' and '" + b_source + "': their architectures differ (" + arch_a + " vs " +
                      arch_b + ")");
  if (a.tensors.size() != b.tensors.size())
    throw Error("cannot interpolate '" + a_source + "' and '" + b_source + "': they hold " + std::to_string(a.tensors.size()) + " and " +
                std::to_string(b.tensors.size()) + " tensors");
  io::TensorFile out;
  out.metadata = a.metadata;
  for (const auto& [name, ta] : a.tensors) {
    const torch::Tensor* tb = b.find(name);
    if (!tb) throw Error("cannot interpolate: '" + b_source + "' has no tensor '" + name + "' (in '" + a_source + "')");
    if (tb->sizes() != ta.sizes() || tb->scalar_type() != ta.scalar_type())
      throw Error("cannot interpolate: tensor '" + name + "' differs in shape or dtype between '" + a_source + "' and '" + b_source + "'");
    if (!ta.is_floating_point()) {
      out.tensors.emplace_back(name, ta);
      continue;
    }
    torch::Tensor blended = ta.to(torch::kFloat64) * (1 - alpha) + tb->to(torch::kFloat64) * alpha;
    out.tensors.emplace_back(name, blended.to(ta.scalar_type()));
  }
  out.metadata["tessera.interpolation"] = "(1 - " + std::to_string(alpha) + ") * " + a_source + " + " + std::to_string(alpha) + " * " + b_source;
  return out;
}

}  // namespace tessera::archs
