#include "tessera/archs/vgg.h"

#include <filesystem>

#include "tessera/archs/checkpoint.h"
#include "tessera/nn/onnx_emit.h"

namespace tessera::archs {

void VggOptions::check(Cfg& c) const {
  if (depth != 16 && depth != 19) c.fail("depth", "must be 16 or 19");
}

VggImpl::VggImpl(VggOptions o) : opt(std::move(o)) {
  // torchvision's cfgs "D" (VGG16) and "E" (VGG19): convs per stage, then a 2x2 pool.
  const std::vector<int64_t> convs = opt.depth == 16 ? std::vector<int64_t>{2, 2, 3, 3, 3} : std::vector<int64_t>{2, 2, 4, 4, 4};
  const int64_t widths[] = {64, 128, 256, 512, 512};
  features_seq = torch::nn::Sequential();
  int64_t in = 3;
  for (int stage = 0; stage < 5; ++stage) {
    for (int64_t k = 0; k < convs[stage]; ++k) {
      const std::string id = std::to_string(stage + 1) + "_" + std::to_string(k + 1);
      features_seq->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, widths[stage], 3).padding(1)));
      names_.push_back("conv" + id);
      features_seq->push_back(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));  // as torchvision
      names_.push_back("relu" + id);
      in = widths[stage];
    }
    if (opt.pooling == "max") features_seq->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2).stride(2)));
    else features_seq->push_back(torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions(2).stride(2)));
    names_.push_back("pool" + std::to_string(stage + 1));
  }
  register_module("features", features_seq);
  mean_ = torch::tensor({0.485, 0.456, 0.406}, torch::kFloat32).view({1, 3, 1, 1});
  std_ = torch::tensor({0.229, 0.224, 0.225}, torch::kFloat32).view({1, 3, 1, 1});
}

std::map<std::string, torch::Tensor> VggImpl::features(const torch::Tensor& input, const std::set<std::string>& taps) {
  int64_t last = -1;
  for (const auto& t : taps) {
    auto it = std::find(names_.begin(), names_.end(), t);
    if (it == names_.end()) {
      std::string known;
      for (const auto& n : names_) known += (known.empty() ? "" : ", ") + n;
      const std::string near = nearest(t, names_);
      throw ConfigError("VGG" + std::to_string(opt.depth) + " has no layer '" + t + "'" + (near.empty() ? "" : "; did you mean '" + near + "'?") +
                        " (layers: " + known + ")");
    }
    last = std::max<int64_t>(last, it - names_.begin());
  }
  torch::Tensor x = input;
  if (opt.range_norm) x = (x + 1) / 2;
  if (opt.use_input_norm) x = (x - mean_.to(x.device(), x.scalar_type())) / std_.to(x.device(), x.scalar_type());
  std::map<std::string, torch::Tensor> out;
  for (int64_t i = 0; i <= last; ++i) {
    x = (features_seq->begin() + i)->forward(x);
    // A pre-activation tap would be overwritten by the in-place ReLU that follows: keep a copy.
    if (taps.count(names_[i])) out[names_[i]] = i < last && names_[i].rfind("conv", 0) == 0 ? x.clone() : x;
  }
  return out;
}

torch::Tensor VggImpl::forward(torch::Tensor x) { return features(x, {names_.back()}).at(names_.back()); }

void VggImpl::randomise(uint64_t seed) {
  torch::NoGradGuard ng;
  torch::Generator g = at::detail::createCPUGenerator(seed);
  for (auto& p : named_parameters()) {
    torch::Tensor& t = p.value();
    if (t.dim() == 4) {
      const double fan_out = static_cast<double>(t.size(0) * t.size(2) * t.size(3));
      t.copy_(torch::randn(t.sizes(), g, t.options().device(torch::kCPU)) * std::sqrt(2.0 / fan_out));
    } else {
      t.zero_();
    }
  }
}

Vgg build_feature_vgg(Cfg c) {
  const std::string weights = c.req<std::string>("weights");
  const uint64_t seed = c.get<uint64_t>("seed", 0);
  Vgg net(read_options<VggOptions>(c));
  if (weights == "random") {
    net->randomise(seed);
  } else {
    if (!std::filesystem::exists(weights))
      c.fail("weights", "'" + weights + "' does not exist. tessera cannot download weights: get torchvision's vgg19-dcbb9e9d.pth "
                        "(or vgg16-397923af.pth) and convert it with `scripts/convert_weights.py vgg19-dcbb9e9d.pth vgg19.safetensors "
                        "--arch vgg`, or choose `weights: random` (a seeded random VGG, see docs/style_transfer.md)");
    io::TensorFile f = io::load_safetensors(weights);
    io::TensorFile features;
    features.metadata = f.metadata;
    for (auto& [name, t] : f.tensors)
      if (name.rfind("features.", 0) == 0) features.tensors.emplace_back(name, t);
    load_net_weights(*net, features, weights);
  }
  net->eval();
  for (auto& p : net->parameters()) p.set_requires_grad(false);
  return net;
}

YAML::Node read_feature_section(Cfg& parent, const std::string& key, int64_t default_depth, const std::string& default_weights) {
  Cfg f = parent.child(key, true);
  YAML::Node n = yaml_clone(f.node());
  if (!n["weights"]) {
    if (default_weights.empty())
      parent.fail(key, "needs `weights`: a VGG converted with scripts/convert_weights.py --arch vgg, or `random` (see docs/style_transfer.md)");
    n["weights"] = default_weights;
  }
  if (!n["depth"]) n["depth"] = default_depth;
  for (const char* k : {"weights", "depth", "seed", "use_input_norm", "range_norm", "pooling"}) f.allow(k);
  f.finish();
  return n;
}

// ONNX: the input normalisation, then the features Sequential (builtin Conv/ReLU/pool emitters).
namespace {
void register_vgg_emitter() {
  exporter::add_emitter<VggImpl>([](exporter::OnnxGraph& g, VggImpl& n, const std::string& x, const std::string&) {
    std::string y = x;
    if (n.opt.range_norm) y = g.add_node("Mul", {g.add_node("Add", {y, g.add_scalar("one", 1.0f)}, "shifted"), g.add_scalar("half", 0.5f)}, "unit_range");
    if (n.opt.use_input_norm)
      y = g.add_node("Div", {g.add_node("Sub", {y, exporter::tensor_init(g, "imagenet_mean", n.input_mean())}, "centered"),
                             exporter::tensor_init(g, "imagenet_std", n.input_std())}, "normalized");
    return exporter::emit(g, *n.features_seq, y, "features");
  });
}
}  // namespace

void register_vgg_arch(ArchRegistry& r) {
  register_vgg_emitter();
  r.add("vgg", [](Cfg& c) -> NetPtr {
    auto v = std::make_shared<VggImpl>(read_options<VggOptions>(c));
    v->randomise(0);
    return v;
  }, [] { return document_options<VggOptions>(); });
}

}  // namespace tessera::archs
