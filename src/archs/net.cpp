#include "tessera/archs/net.h"

#include "tessera/archs/generative.h"
#include "tessera/archs/image_gan.h"
#include "tessera/archs/inception.h"
#include "tessera/archs/sr.h"
#include "tessera/archs/style.h"
#include "tessera/archs/temporal.h"
#include "tessera/archs/vgg.h"

namespace tessera::archs {

ArchRegistry& arch_registry() {
  static ArchRegistry r("arch");
  return r;
}

void register_builtin_archs() {
  auto& r = arch_registry();
  if (r.contains("edsr")) return;
  register_sr_archs(r);
  register_generative_archs(r);
  register_inception_arch(r);
  register_vgg_arch(r);
  register_style_archs(r);
  register_image_gan_archs(r);
  register_temporal_archs(r);
}

NetPtr build_arch(Cfg cfg) {
  register_builtin_archs();
  std::string type = cfg.req<std::string>("type");
  return arch_registry().build(type, cfg, cfg.where("type"));
}

NetPtr build_arch_from_yaml_text(const std::string& yaml_text, const std::string& source) {
  YAML::Node n;
  try {
    n = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw Error(source + ": the stored arch options are not valid YAML: " + e.msg);
  }
  try {
    return build_arch(Cfg(n, "network", source));
  } catch (const ConfigError& e) {
    throw Error(std::string("cannot rebuild the network stored in ") + e.what());
  }
}

int64_t count_parameters(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace tessera::archs
