// Typed access to YAML configs. Every options struct reads its keys through a Cfg (core/options.h), then calls
// finish(), which rejects any key that was not read (naming its full path and the nearest valid key).
// Every value read (given or defaulted) is also recorded, so resolved() is the whole config as it
// was used: what a run saves as config.yaml, defaults included.
#pragma once
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tessera/core/error.h"

namespace tessera {

// Levenshtein distance, for "did you mean" suggestions.
size_t edit_distance(const std::string& a, const std::string& b);
// The candidate nearest to `word`, or "" when none is reasonably close.
std::string nearest(const std::string& word, const std::vector<std::string>& candidates);

class Cfg {
 public:
  Cfg() = default;
  // `path` is the dotted key path of `node` inside `file` ("" for the root).
  Cfg(YAML::Node node, std::string path, std::string file);

  bool has(const std::string& key) const;
  // Required key of type T.
  template <class T>
  T req(const std::string& key);
  // Optional key with a default.
  template <class T>
  T get(const std::string& key, const T& def);
  // Optional numeric key with an inclusive range check.
  template <class T>
  T get(const std::string& key, const T& def, T lo, T hi);
  // Optional key that must be one of `choices`.
  std::string get_choice(const std::string& key, const std::string& def,
                         const std::vector<std::string>& choices);
  // A nested mapping (empty mapping when absent and `optional`).
  Cfg child(const std::string& key, bool optional = false);
  // Marks `key` as known without reading it (its reader lives elsewhere).
  void allow(const std::string& key) { seen_.insert(key); }

  // Throws ConfigError for every key that was not read.
  void finish() const;
  // A Cfg at the same path and file, recording into the same resolved config, over other contents
  // (a family's defaults merged with the user's keys, a section rebuilt elsewhere).
  Cfg with_node(YAML::Node node) const;
  // The values read so far through this Cfg and every Cfg derived from it, as a YAML tree.
  YAML::Node resolved() const { return record_ ? *record_ : YAML::Node(YAML::NodeType::Map); }

  std::string where(const std::string& key) const;  // "file: a.b.key"
  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }
  const std::string& file() const { return file_; }
  [[noreturn]] void fail(const std::string& key, const std::string& msg) const;

 private:
  YAML::Node at(const std::string& key) const;
  template <class T>
  T convert(const std::string& key, const YAML::Node& n) const;
  void record(const std::string& key, const YAML::Node& value) const;

  YAML::Node node_;
  std::string path_;
  std::string file_;
  std::set<std::string> seen_;
  std::shared_ptr<YAML::Node> record_;  // shared by a root Cfg and all its children
};

// Loads a YAML file; a syntax error names the file, line and column.
YAML::Node load_yaml_file(const std::string& file);
// The same for the text of a config; `file` names it in errors.
YAML::Node load_yaml_text(const std::string& text, const std::string& file);
// Applies "a.b.c=value" overrides (value parsed as YAML) to `root`.
void apply_overrides(YAML::Node& root, const std::vector<std::string>& overrides);
// Deep copy (yaml-cpp nodes alias by default).
YAML::Node yaml_clone(const YAML::Node& n);
// Lays `over` onto `base`: mappings merge key by key, anything else is replaced (deep copies).
void yaml_merge(YAML::Node& base, const YAML::Node& over);
std::string yaml_dump(const YAML::Node& n);

// ---- template implementation ----
namespace detail {
template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};
std::string shortest_double(double v);  // the shortest text that reads back as v ("0.1", not 0.10000000000000001)
template <class T>
YAML::Node value_node(const T& v) {
  if constexpr (std::is_floating_point_v<T>) {
    return YAML::Node(shortest_double(static_cast<double>(v)));
  } else if constexpr (std::is_same_v<T, std::vector<double>> || std::is_same_v<T, std::vector<float>>) {
    YAML::Node n(YAML::NodeType::Sequence);
    for (auto x : v) n.push_back(shortest_double(static_cast<double>(x)));
    n.SetStyle(YAML::EmitterStyle::Flow);
    return n;
  } else {
    return YAML::Node(v);
  }
}
}  // namespace detail

template <class T>
T Cfg::convert(const std::string& key, const YAML::Node& n) const {
  try {
    if constexpr (std::is_same_v<T, bool>) {
      return n.as<bool>();
    } else if constexpr (std::is_integral_v<T>) {
      // yaml-cpp accepts "3.5" as int by truncation on some versions; be strict.
      const std::string s = n.Scalar();
      if (!n.IsScalar() || s.find_first_of(".eE") != std::string::npos) throw YAML::BadConversion(n.Mark());
      if (std::is_unsigned_v<T> && s.find('-') != std::string::npos) throw YAML::BadConversion(n.Mark());
      return n.as<T>();
    } else if constexpr (std::is_floating_point_v<T>) {
      const T v = n.as<T>();
      if (!std::isfinite(v)) {
        fail(key, "expected a finite number, got '" + n.Scalar() + "'");
      }
      return v;
    } else if constexpr (detail::is_vector<T>::value && !std::is_same_v<T, std::string>) {
      // Element by element, with the checks above (finite numbers, strict integers).
      if (!n.IsSequence()) throw YAML::BadConversion(n.Mark());
      T out;
      for (size_t i = 0; i < n.size(); ++i) out.push_back(convert<typename T::value_type>(key, n[i]));
      return out;
    } else {
      return n.as<T>();
    }
  } catch (const YAML::BadConversion&) {
    std::string shown = n.IsScalar() ? "'" + n.Scalar() + "'" : (n.IsSequence() ? "a list" : "a mapping");
    std::string want;
    if constexpr (std::is_same_v<T, bool>) want = "true or false";
    else if constexpr (std::is_unsigned_v<T>) want = "a non-negative integer";
    else if constexpr (std::is_integral_v<T>) want = "an integer";
    else if constexpr (std::is_floating_point_v<T>) want = "a number";
    else if constexpr (std::is_same_v<T, std::string>) want = "a string";
    else want = "a list of the right type";
    fail(key, "expected " + want + ", got " + shown);
  }
}

template <class T>
T Cfg::req(const std::string& key) {
  seen_.insert(key);
  YAML::Node n = at(key);
  if (!n) fail(key, "required key is missing");
  if (n.IsNull()) fail(key, "required key has no value");
  T v = convert<T>(key, n);
  record(key, detail::value_node(v));
  return v;
}

template <class T>
T Cfg::get(const std::string& key, const T& def) {
  seen_.insert(key);
  YAML::Node n = at(key);
  T v = !n || n.IsNull() ? def : convert<T>(key, n);
  record(key, detail::value_node(v));
  return v;
}

template <class T>
T Cfg::get(const std::string& key, const T& def, T lo, T hi) {
  T v = get<T>(key, def);
  if (!(v >= lo && v <= hi)) {
    std::ostringstream os;
    os << "value " << v << " is out of range [" << lo << ", " << hi << "]";
    fail(key, os.str());
  }
  return v;
}

}  // namespace tessera
