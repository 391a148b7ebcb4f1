// Options declared once. An options struct lists its keys in one member template,
//
//   template <class V> void visit(V& v) {
//     v("scale", scale, "upscale factor", 2, 8);          // number, inclusive range
//     v.choice("activation", activation, "output activation", {"tanh", "relu"});
//     v("hflip", hflip, "random horizontal flips");        // any other type
//     v.required("hr_dir", hr_dir, "folder of HR images");  // no default
//   }
//
// with the struct's member initialisers as the defaults, and optionally `void check(Cfg&) const`
// for rules across keys. From that one list come parsing with checks (read_options: every key typed
// and ranged, unknown keys refused with a suggestion, each value recorded in the resolved config),
// dumping (write_options: the YAML that rebuilds the struct, stored in checkpoints) and the
// documentation table (document_options, printed by `tessera info --options`).
#pragma once
#include <array>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "tessera/core/config.h"

namespace tessera {

struct OptionDoc {
  std::string key, type, default_value, allowed, doc;
};

namespace detail {

template <class T>
struct is_std_array : std::false_type {};
template <class T, size_t N>
struct is_std_array<std::array<T, N>> : std::true_type {};

template <class T>
std::string type_name() {
  if constexpr (std::is_same_v<T, bool>) return "bool";
  else if constexpr (std::is_integral_v<T>) return "int";
  else if constexpr (std::is_floating_point_v<T>) return "float";
  else if constexpr (std::is_same_v<T, std::string>) return "string";
  else if constexpr (is_std_array<T>::value) return "list of " + std::to_string(std::tuple_size_v<T>) + " " + type_name<typename T::value_type>();
  else return "list of " + type_name<typename T::value_type>();
}

template <class T>
YAML::Node option_node(const T& v) {
  if constexpr (is_std_array<T>::value) return value_node(std::vector<double>(v.begin(), v.end()));
  else return value_node(v);
}

template <class T>
std::string option_text(const T& v) {
  if constexpr (std::is_same_v<T, bool>) return v ? "true" : "false";
  else if constexpr (std::is_same_v<T, std::string>) return v.empty() ? "\"\"" : v;
  else if constexpr (std::is_floating_point_v<T>) return shortest_double(v);
  else if constexpr (std::is_integral_v<T>) return std::to_string(v);
  else {
    std::string s = "[";
    for (const auto& x : v) s += (s.size() > 1 ? ", " : "") + option_text(x);
    return s + "]";
  }
}

}  // namespace detail

// Reads each key through a Cfg (defaults: the field's current value).
class OptionReader {
 public:
  explicit OptionReader(Cfg& c) : c_(c) {}
  template <class T>
  void operator()(const char* key, T& field, const char* /*doc*/) {
    if constexpr (detail::is_std_array<T>::value) {
      auto v = c_.get<std::vector<double>>(key, std::vector<double>(field.begin(), field.end()));
      if (v.size() != field.size()) c_.fail(key, "expected " + std::to_string(field.size()) + " numbers, got " + std::to_string(v.size()));
      for (size_t i = 0; i < field.size(); ++i) field[i] = v[i];
    } else {
      field = c_.get<T>(key, field);
    }
  }
  template <class T>
  void operator()(const char* key, T& field, const char*, std::type_identity_t<T> lo, std::type_identity_t<T> hi) {
    field = c_.get<T>(key, field, lo, hi);
  }
  void choice(const char* key, std::string& field, const char*, const std::vector<std::string>& choices) {
    field = c_.get_choice(key, field, choices);
  }
  template <class T>
  void required(const char* key, T& field, const char*) {
    field = c_.req<T>(key);
  }
  // Whether the user gave `key` (for defaults that depend on an earlier key).
  bool given(const char* key) const { return c_.has(key); }
  Cfg& cfg() { return c_; }

 private:
  Cfg& c_;
};

// Writes each key's value into a YAML mapping.
class OptionWriter {
 public:
  explicit OptionWriter(YAML::Node& n) : n_(n) {}
  template <class T, class... Rest>
  void operator()(const char* key, const T& field, const char*, Rest&&...) {
    n_[key] = detail::option_node(field);
  }
  void choice(const char* key, const std::string& field, const char*, const std::vector<std::string>&) { n_[key] = field; }
  template <class T>
  void required(const char* key, const T& field, const char*) {
    n_[key] = detail::option_node(field);
  }
  bool given(const char*) const { return true; }

 private:
  YAML::Node& n_;
};

// Collects one documentation row per key.
class OptionDocumenter {
 public:
  template <class T>
  void operator()(const char* key, const T& field, const char* doc) {
    rows.push_back({key, detail::type_name<T>(), detail::option_text(field), "", doc});
  }
  template <class T>
  void operator()(const char* key, const T& field, const char* doc, std::type_identity_t<T> lo, std::type_identity_t<T> hi) {
    rows.push_back({key, detail::type_name<T>(), detail::option_text(field), detail::option_text(lo) + " .. " + detail::option_text(hi), doc});
  }
  void choice(const char* key, const std::string& field, const char* doc, const std::vector<std::string>& choices) {
    std::string allowed;
    for (const auto& c : choices) allowed += (allowed.empty() ? "" : ", ") + c;  // (a "|" would end a markdown table cell)
    rows.push_back({key, "string", field, allowed, doc});
  }
  template <class T>
  void required(const char* key, const T&, const char* doc) {
    rows.push_back({key, detail::type_name<T>(), "(required)", "", doc});
  }
  bool given(const char*) const { return true; }
  std::vector<OptionDoc> rows;
};

// Parses the struct from `c` (then runs its check() and refuses unknown keys). `extra` is passed
// on to visit() (e.g. whether a DCGAN options struct is read for a critic).
template <class O, class... A>
O read_options(Cfg& c, const A&... extra) {
  O o;
  OptionReader r(c);
  o.visit(r, extra...);
  if constexpr (requires { o.check(c); }) o.check(c);
  c.finish();
  return o;
}

// The YAML mapping that rebuilds `o`, with `type` first when given.
template <class O, class... A>
YAML::Node write_options(const O& o, const std::string& type, const A&... extra) {
  YAML::Node n(YAML::NodeType::Map);
  if (!type.empty()) n["type"] = type;
  OptionWriter w(n);
  O copy = o;
  copy.visit(w, extra...);
  return n;
}

// One row per key: name, type, default, allowed values and what it does.
template <class O, class... A>
std::vector<OptionDoc> document_options(const A&... extra) {
  O o;
  OptionDocumenter d;
  o.visit(d, extra...);
  return d.rows;
}

}  // namespace tessera
