// Name -> factory maps, one per kind (arch, loss, dataset, metric, optimizer, scheduler, recipe).
// Filled explicitly by register_builtin_*() functions: static initialisers in static libraries
// get dropped by the linker.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tessera/core/options.h"

namespace tessera {

template <class Product, class... Extra>
class Registry {
 public:
  using Factory = std::function<Product(Cfg&, Extra...)>;

  explicit Registry(std::string kind) : kind_(std::move(kind)) {}

  using Docs = std::function<std::vector<OptionDoc>()>;
  // `docs` lists the options the factory reads (document_options<SomeOptions>), when it has any.
  void add(const std::string& name, Factory f, Docs docs = {}) {
    factories_[name] = std::move(f);
    if (docs) docs_[name] = std::move(docs);
  }
  // The documented options of `name` (empty when undocumented or unknown).
  std::vector<OptionDoc> options(const std::string& name) const {
    auto it = docs_.find(name);
    return it == docs_.end() ? std::vector<OptionDoc>{} : it->second();
  }
  bool contains(const std::string& name) const { return factories_.count(name) > 0; }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& kv : factories_) out.push_back(kv.first);
    return out;
  }

  // Builds `name`; `where` is the config location used in the error message (e.g. "cfg.yaml: network.type").
  Product build(const std::string& name, Cfg& cfg, const std::string& where, Extra... extra) const {
    auto it = factories_.find(name);
    if (it == factories_.end()) throw ConfigError(unknown_message(name, where));
    return it->second(cfg, extra...);
  }

  std::string unknown_message(const std::string& name, const std::string& where) const {
    std::string list;
    for (const auto& n : names()) list += (list.empty() ? "" : ", ") + n;
    std::string near = nearest(name, names());
    return where + ": unknown " + kind_ + " '" + name + "'" +
           (near.empty() ? "" : " (did you mean '" + near + "'?)") + "; known: " + list;
  }

 private:
  std::string kind_;
  std::map<std::string, Factory> factories_;
  std::map<std::string, Docs> docs_;
};

}  // namespace tessera
