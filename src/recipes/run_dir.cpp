#include "tessera/recipes/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/serialize.h>

#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>
#include <ctime>

#include "tessera/core/config.h"
#include "tessera/core/error.h"
#include "tessera/io/files.h"
#include "tessera/recipes/trainer.h"

namespace tessera::recipes {

namespace fs = std::filesystem;

namespace {

std::string read_fd(int fd) {
  std::string s;
  char buf[512];
  ::lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;) s.append(buf, static_cast<size_t>(n));
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string host_name() {
  char h[256] = {0};
  ::gethostname(h, sizeof(h) - 1);
  return h;
}

}  // namespace

RunLock::RunLock(const fs::path& run_dir) {
  const fs::path path = run_dir / ".lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error("cannot open the run lock '" + path.string() + "': " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    std::string holder = read_fd(fd_);
    ::close(fd_);
    fd_ = -1;
    if (e == EWOULDBLOCK)
      throw Error("run directory '" + run_dir.string() + "' is in use by another training (" +
                  (holder.empty() ? std::string("holder unknown") : holder) +
                  "); wait for it to finish or stop it, or train into another --run-dir");
    throw Error("cannot lock '" + path.string() + "': " + std::strerror(e));
  }
  previous_ = read_fd(fd_);  // left by a process that died holding the lock
  const std::string me = fmt::format("pid {} on host {}, started {}", ::getpid(), host_name(), utc_timestamp());
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size()))
    spdlog::warn("cannot record the holder in '{}': {}", path.string(), std::strerror(errno));
}

RunLock::~RunLock() {
  if (fd_ < 0) return;
  // An empty lock file means "released cleanly"; the kernel drops the lock with the descriptor.
  // (If truncating fails, the next holder only logs a takeover it did not need.)
  (void)!::ftruncate(fd_, 0);
  ::close(fd_);
}

namespace {

std::string canonical_scalar(const YAML::Node& n) {
  if (n.IsNull()) return "null";
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    // Numbers compare by value: "1.0e-3" and "0.001" are the same learning rate.
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end && *end == '\0' && s.find_first_of("0123456789") != std::string::npos && std::isfinite(d))
      return fmt::format("{}", d);
    return s;
  }
  // Lists and mappings by their elements, whatever style (block or flow) the file used.
  std::string out = n.IsSequence() ? "[" : "{";
  for (auto it = n.begin(); it != n.end(); ++it) {
    out += out.size() > 1 ? ", " : "";
    out += n.IsSequence() ? canonical_scalar(*it) : it->first.Scalar() + ": " + canonical_scalar(it->second);
  }
  return out + (n.IsSequence() ? "]" : "}");
}

void flatten_into(const YAML::Node& n, const std::string& path, std::map<std::string, std::string>& out) {
  if (n.IsMap()) {
    if (n.size() == 0 && !path.empty()) out[path] = "{}";
    for (const auto& kv : n) {
      const std::string k = kv.first.Scalar();
      if (path.empty() && k == "_meta") continue;
      flatten_into(kv.second, path.empty() ? k : path + "." + k, out);
    }
  } else if (n.IsDefined()) {
    out[path] = canonical_scalar(n);
  }
}

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t dot; (dot = key.find('.', start)) != std::string::npos; start = dot + 1) parts.push_back(key.substr(start, dot - start));
  parts.push_back(key.substr(start));
  return parts;
}

}  // namespace

std::map<std::string, std::string> flatten_config(const YAML::Node& n) {
  std::map<std::string, std::string> out;
  flatten_into(n, "", out);
  return out;
}

bool resume_safe(const std::string& key) {
  const std::vector<std::string> p = split_key(key);
  const std::string& last = p.back();
  if (p[0] == "trainer") return true;  // total_steps, cadence of logs, validation and checkpoints
  if (p.size() == 1) return key == "device" || key == "threads" || key == "name";
  if (p[0] == "data") {
    if (p.size() == 2) return last == "num_workers" || last == "prefetch";
    // Where the data lives (a moved dataset), not what it is.
    return p.size() == 3 && p[1] == "train" &&
           ((last.size() > 4 && last.compare(last.size() - 4, 4, "_dir") == 0) || last == "path" || last == "skip_bad" || last == "cache");
  }
  if (p[0] == "recipe") {
    if (last == "lr") return true;  // recipe.optimizer.lr, recipe.optimizer_g.lr, ...
    if (starts_with(p[1], "scheduler")) return true;  // the schedule is a pure function of the step
    // What a non-finite step does: a run stopped by a NaN may resume skipping such steps.
    if (p.size() == 2) return last == "grad_clip" || last == "nonfinite" || last == "max_skipped_steps";
    if (p.size() == 3 && p[1] == "val") return last == "save_images" || last == "tile" || last == "grid";
  }
  return false;
}

std::vector<ConfigChange> config_changes(const YAML::Node& run_config, const YAML::Node& new_config) {
  const auto a = flatten_config(run_config), b = flatten_config(new_config);
  std::vector<ConfigChange> out;
  const std::string absent = "(absent)";
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end()) out.push_back({k, v, absent});
    else if (it->second != v) out.push_back({k, v, it->second});
  }
  for (const auto& [k, v] : b)
    if (!a.count(k)) out.push_back({k, absent, v});
  std::sort(out.begin(), out.end(), [](const ConfigChange& x, const ConfigChange& y) { return x.key < y.key; });
  for (auto& c : out) c.safe = resume_safe(c.key);
  return out;
}

BestRecord read_best(const fs::path& run_dir) {
  BestRecord b;
  const fs::path dir = run_dir / "checkpoints" / "best";
  if (!fs::is_directory(dir)) return b;
  const fs::path rec = dir / "best.yaml";
  try {
    if (fs::exists(rec)) {
      YAML::Node n = YAML::Load(io::read_file(rec));
      b.metric = n["metric"].as<std::string>();
      b.value = n["value"].as<double>();
      b.step = n["step"].as<int64_t>();
      return b;
    }
    // Runs from before best.yaml: best/ is a copy of the checkpoint that set the record.
    torch::serialize::InputArchive ar;
    ar.load_from((dir / "state.pt").string());
    torch::Tensor v, s;
    ar.read("best", v, true);
    ar.read("step", s, true);
    b.value = v.item<double>();
    b.step = s.item<int64_t>();
  } catch (const std::exception& e) {
    spdlog::warn("cannot read the best score of '{}' ({}); the next validation sets a new best", dir.string(), e.what());
    b = BestRecord{};
  }
  return b;
}

std::string best_yaml(const BestRecord& b) {
  YAML::Node n;
  n["metric"] = b.metric;
  n["value"] = fmt::format("{:.17g}", b.value);
  n["step"] = b.step;
  return yaml_dump(n);
}

std::vector<std::string> merge_overrides(const std::vector<std::string>& earlier, const std::vector<std::string>& later) {
  std::vector<std::string> all(earlier);
  all.insert(all.end(), later.begin(), later.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < all.size(); ++i) {
    const std::string key = all[i].substr(0, all[i].find('='));
    bool replaced = false;
    for (size_t j = i + 1; j < all.size() && !replaced; ++j) replaced = all[j].substr(0, all[j].find('=')) == key;
    if (!replaced) out.push_back(all[i]);
  }
  return out;
}

std::string utc_timestamp() {
  char buf[64];
  const std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string shell_command(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) {
    const bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%") == std::string::npos;
    std::string q = a;
    if (!plain) {
      q = "'";
      for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
      q += "'";
    }
    out += (out.empty() ? "" : " ") + q;
  }
  return out;
}

std::string resolve_weights(const std::string& arg, const std::vector<std::string>& file_names) {
  if (!fs::is_directory(arg)) return arg;  // a file (or a missing path, reported by the loader)
  fs::path dir(arg);
  if (fs::is_directory(dir / "checkpoints")) {
    const auto steps = recipes::list_checkpoints(dir);
    if (fs::is_directory(dir / "checkpoints" / "best")) dir = dir / "checkpoints" / "best";
    else if (!steps.empty()) dir = steps.front();
    else throw ConfigError("run directory '" + arg + "' has no checkpoints yet");
  }
  for (const auto& n : file_names)
    if (fs::is_regular_file(dir / n)) {
      spdlog::info("using {}", (dir / n).string());
      return (dir / n).string();
    }
  std::string held;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") held += (held.empty() ? "" : ", ") + e.path().filename().string();
  std::string wanted;
  for (const auto& n : file_names) wanted += (wanted.empty() ? "" : " or ") + n;
  throw ConfigError("'" + arg + "' is a directory without " + wanted + (held.empty() ? " (it holds no weights file)" : " (it holds " + held + ")") +
                    "; pass a weights file, a checkpoint directory or a run directory");
}

}  // namespace tessera::recipes
