// libFuzzer harness: the config loader. The input is a YAML document, optionally followed by a NUL
// byte and "key.path=value" overrides, one per line. Loading, overriding and reading every key
// through Cfg's typed getters either works or throws tessera::Error (ConfigError); a resolved tree
// dumps to YAML that loads again. Anything else is a finding.
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "tessera/core/config.h"
#include "tessera/core/error.h"

namespace {

// Reads every key of `c` the ways a recipe would, each read allowed to fail only with ConfigError.
void read_all(tessera::Cfg c, int depth) {
  if (depth > 8) return;
  std::vector<std::string> keys;
  for (const auto& kv : c.node())
    if (kv.first.IsScalar()) keys.push_back(kv.first.Scalar());
  for (const auto& k : keys) {
    const YAML::Node n = c.node()[k];
    if (n.IsMap()) {
      try {
        read_all(c.child(k), depth + 1);
      } catch (const tessera::Error&) {
      }
      continue;
    }
    auto attempt = [&](auto f) {
      try {
        f();
      } catch (const tessera::Error&) {
      }
    };
    attempt([&] { c.req<std::string>(k); });
    attempt([&] { c.req<double>(k); });
    attempt([&] { c.get<double>(k, 0.0, -1e6, 1e6); });
    attempt([&] { c.req<int64_t>(k); });
    attempt([&] { c.get<int64_t>(k, 0, -1000, 1000); });
    attempt([&] { c.req<bool>(k); });
    attempt([&] { c.req<std::vector<double>>(k); });
    attempt([&] { c.req<std::vector<int64_t>>(k); });
    attempt([&] { c.req<std::vector<std::string>>(k); });
    attempt([&] { c.get_choice(k, "a", {"a", "b"}); });
  }
  try {
    c.finish();
  } catch (const tessera::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string text = input.substr(0, nul);
  std::vector<std::string> overrides;
  if (nul != std::string::npos) {
    std::string rest = input.substr(nul + 1);
    for (size_t start = 0; start <= rest.size();) {
      size_t end = rest.find('\n', start);
      if (end == std::string::npos) end = rest.size();
      overrides.push_back(rest.substr(start, end - start));
      start = end + 1;
    }
  }
  YAML::Node root;
  try {
    root = tessera::load_yaml_text(text, "fuzz.yaml");
    tessera::apply_overrides(root, overrides);
  } catch (const tessera::Error&) {
    return 0;
  }
  tessera::Cfg cfg(root, "", "fuzz.yaml");
  read_all(cfg, 0);
  // What tessera writes as a run's config.yaml loads back.
  const std::string dumped = tessera::yaml_dump(cfg.resolved());
  try {
    tessera::load_yaml_text(dumped.empty() ? "{}" : dumped, "dumped.yaml");
  } catch (const tessera::Error& e) {
    std::fprintf(stderr, "the dump of a loaded config does not load: %s\n%s\n", e.what(), dumped.c_str());
    std::abort();
  }
  return 0;
}
