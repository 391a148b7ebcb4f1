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

NetPtr load_net_checkpoint(const std::string& path) {
  io::TensorFile f = io::load_safetensors(path);
  auto it = f.metadata.find("tessera.arch");
  if (it == f.metadata.end())
    throw Error("'" + path + "' has no 'tessera.arch' metadata: it is not a tessera weights file "
                "(convert foreign weights with scripts/convert_weights.py)");
  NetPtr net = build_arch_from_yaml_text(it->second, path);
  load_net_weights(*net, f, path);
  net->eval();
  return net;
}

}  // namespace tessera::archs
