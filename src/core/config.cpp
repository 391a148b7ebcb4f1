#include "tessera/core/config.h"

#include <fmt/format.h>

#include <fstream>
#include <map>
#include <sstream>

namespace tessera {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string nearest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& c : candidates) {
    size_t d = edit_distance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  // Accept a suggestion only when it is plausibly a typo.
  if (best.empty() || best_d > std::max<size_t>(2, word.size() / 2)) return "";
  return best;
}

Cfg::Cfg(YAML::Node node, std::string path, std::string file)
    : node_(std::move(node)), path_(std::move(path)), file_(std::move(file)), record_(std::make_shared<YAML::Node>(YAML::NodeType::Map)) {
  if (node_ && !node_.IsNull() && !node_.IsMap())
    throw ConfigError(file_ + ": " + (path_.empty() ? "<root>" : path_) + ": expected a mapping of keys");
}

namespace detail {
std::string shortest_double(double v) { return fmt::format("{}", v); }
}  // namespace detail

Cfg Cfg::with_node(YAML::Node node) const {
  Cfg c(std::move(node), path_, file_);
  c.record_ = record_;
  return c;
}

void Cfg::record(const std::string& key, const YAML::Node& value) const {
  if (!record_) return;
  // Walk (creating) the maps of this Cfg's path inside the record, then set the key.
  std::vector<YAML::Node> chain{*record_};
  size_t start = 0;
  while (!path_.empty() && start <= path_.size()) {
    const size_t dot = path_.find('.', start);
    const std::string part = path_.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    YAML::Node next = chain.back()[part];
    if (!next.IsMap()) chain.back()[part] = YAML::Node(YAML::NodeType::Map);
    chain.push_back(chain.back()[part]);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  chain.back()[key] = YAML::Clone(value);
}

std::string Cfg::where(const std::string& key) const {
  std::string p = path_.empty() ? key : path_ + "." + key;
  return (file_.empty() ? std::string("<config>") : file_) + ": " + p;
}

void Cfg::fail(const std::string& key, const std::string& msg) const {
  throw ConfigError(where(key) + ": " + msg);
}

YAML::Node Cfg::at(const std::string& key) const {
  if (!node_ || node_.IsNull()) return YAML::Node(YAML::NodeType::Undefined);
  // const access does not insert keys into the node.
  const YAML::Node& cn = node_;
  return cn[key];
}

bool Cfg::has(const std::string& key) const {
  YAML::Node n = at(key);
  return n && !n.IsNull();
}

std::string Cfg::get_choice(const std::string& key, const std::string& def,
                            const std::vector<std::string>& choices) {
  std::string v = get<std::string>(key, def);
  if (std::find(choices.begin(), choices.end(), v) == choices.end()) {
    std::string list;
    for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
    std::string near = nearest(v, choices);
    fail(key, "unknown value '" + v + "'" + (near.empty() ? "" : " (did you mean '" + near + "'?)") +
                  "; valid: " + list);
  }
  return v;
}

Cfg Cfg::child(const std::string& key, bool optional) {
  seen_.insert(key);
  YAML::Node n = at(key);
  std::string p = path_.empty() ? key : path_ + "." + key;
  const bool absent = !n || n.IsNull();
  if (absent && !optional) fail(key, "required section is missing");
  if (!absent && !n.IsMap()) fail(key, "expected a mapping of keys");
  // Constructed, never assigned: assigning a YAML::Node writes through to the node it refers to.
  Cfg c(absent ? YAML::Node(YAML::NodeType::Map) : n, p, file_);
  c.record_ = record_;
  return c;
}

void Cfg::finish() const {
  if (!node_ || !node_.IsMap()) return;
  std::vector<std::string> known(seen_.begin(), seen_.end());
  for (const auto& kv : node_) {
    std::string k = kv.first.as<std::string>();
    if (seen_.count(k)) continue;
    std::string near = nearest(k, known);
    std::string msg = "unknown key";
    if (!near.empty()) msg += "; did you mean '" + near + "'?";
    else {
      std::string list;
      for (const auto& c : known) list += (list.empty() ? "" : ", ") + c;
      msg += "; valid keys here: " + list;
    }
    fail(k, msg);
  }
}

namespace {

// A copy that shares no node: YAML aliases (*a) would make an override or a recorded default of
// one section write into another. Refuses a self-referencing anchor (and absurd nesting).
YAML::Node unaliased(const YAML::Node& n, const std::string& file, int depth = 0) {
  if (depth > 64) throw ConfigError(file + ": nesting deeper than 64 levels (an anchor that refers to itself?)");
  if (n.IsMap()) {
    YAML::Node out(YAML::NodeType::Map);
    for (const auto& kv : n) out[kv.first.Scalar()] = unaliased(kv.second, file, depth + 1);
    return out;
  }
  if (n.IsSequence()) {
    YAML::Node out(YAML::NodeType::Sequence);
    for (const auto& x : n) out.push_back(unaliased(x, file, depth + 1));
    out.SetStyle(n.Style());
    return out;
  }
  return YAML::Clone(n);
}

// yaml-cpp keeps both entries of a repeated key and reads the first: refuse them instead.
void check_duplicate_keys(const YAML::Node& n, const std::string& file, const std::string& path, int depth = 0) {
  if (depth > 64) throw ConfigError(file + ": nesting deeper than 64 levels (an anchor that refers to itself?)");
  if (n.IsSequence()) {
    for (size_t i = 0; i < n.size(); ++i) check_duplicate_keys(n[i], file, path + "[" + std::to_string(i) + "]", depth + 1);
  } else if (n.IsMap()) {
    std::map<std::string, int> first_line;
    for (const auto& kv : n) {
      const std::string k = kv.first.Scalar();
      const std::string p = path.empty() ? k : path + "." + k;
      const int line = kv.first.Mark().line + 1;
      auto [it, inserted] = first_line.emplace(k, line);
      if (!inserted)
        throw ConfigError(file + ":" + std::to_string(line) + ": " + p + ": duplicate key (first given on line " +
                          std::to_string(it->second) + ")");
      check_duplicate_keys(kv.second, file, p, depth + 1);
    }
  }
}

}  // namespace

YAML::Node load_yaml_file(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw ConfigError("cannot open config file '" + file + "'");
  std::stringstream text;
  text << in.rdbuf();
  return load_yaml_text(text.str(), file);
}

YAML::Node load_yaml_text(const std::string& text, const std::string& file) {
  try {
    YAML::Node n = YAML::Load(text);
    if (!n.IsMap()) throw ConfigError(file + ": the top level of a config must be a mapping of keys");
    check_duplicate_keys(n, file, "");  // before unaliasing, which would keep one of two equal keys
    return unaliased(n, file);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(file + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                      ": YAML syntax error: " + e.msg);
  }
}

void apply_overrides(YAML::Node& root, const std::vector<std::string>& overrides) {
  for (const auto& ov : overrides) {
    auto eq = ov.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ConfigError("override '" + ov + "' must have the form key.path=value");
    std::string path = ov.substr(0, eq), value = ov.substr(eq + 1);
    std::vector<std::string> parts;
    for (size_t start = 0;;) {
      const size_t dot = path.find('.', start);
      parts.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
      if (parts.back().empty()) throw ConfigError("override '" + ov + "': empty key in path '" + path + "'");
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    if (value.find_first_not_of(" \t") == std::string::npos)
      throw ConfigError("override '" + ov + "': no value after '='; write " + path + "=null to unset the key, or " + path +
                        "=\"\" for an empty string");
    YAML::Node parsed;
    try {
      parsed = YAML::Load(value);
    } catch (const YAML::Exception& e) {
      throw ConfigError("override '" + ov + "': cannot parse value '" + value + "': " + e.msg);
    }
    check_duplicate_keys(parsed, "override '" + ov + "'", path);
    // Walk with node identity (operator[] on a non-const node creates missing maps).
    std::vector<YAML::Node> chain{root};
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      YAML::Node next = chain.back()[parts[i]];
      if (next.IsDefined() && !next.IsNull() && !next.IsMap())
        throw ConfigError("override '" + ov + "': '" + parts[i] + "' is not a section");
      if (!next.IsDefined() || next.IsNull()) chain.back()[parts[i]] = YAML::Node(YAML::NodeType::Map);
      chain.push_back(chain.back()[parts[i]]);
    }
    chain.back()[parts.back()] = parsed;
  }
}

YAML::Node yaml_clone(const YAML::Node& n) { return YAML::Clone(n); }

void yaml_merge(YAML::Node& base, const YAML::Node& over) {
  if (!over.IsMap() || !base.IsMap()) {
    base = YAML::Clone(over);
    return;
  }
  for (const auto& kv : over) {
    const std::string k = kv.first.Scalar();
    YAML::Node child = base[k];
    if (child.IsMap() && kv.second.IsMap()) yaml_merge(child, kv.second);
    else base[k] = YAML::Clone(kv.second);
  }
}

std::string yaml_dump(const YAML::Node& n) {
  YAML::Emitter e;
  e << n;
  return std::string(e.c_str()) + "\n";
}

}  // namespace tessera
