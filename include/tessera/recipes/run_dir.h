// What a run directory holds beyond its checkpoints: the lock that keeps one training per run,
// the run's config with the history of its sessions, and the record of its best checkpoint.
#pragma once
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace tessera::recipes {

// An advisory lock on <run>/.lock (flock), naming its holder (pid, host, start time) in the file.
// A second training of the same run is refused with the holder's name; the lock of a process
// that died is released by the kernel and taken over (the old holder is logged).
class RunLock {
 public:
  explicit RunLock(const std::filesystem::path& run_dir);  // throws Error naming the holder
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  const std::string& previous_holder() const { return previous_; }  // non-empty: a stale lock was taken over

 private:
  int fd_ = -1;
  std::string previous_;
};

// A config as dotted key paths -> canonical scalar text ("_meta" left out); numbers compare by value.
std::map<std::string, std::string> flatten_config(const YAML::Node& n);

struct ConfigChange {
  std::string key, before, after;  // "(absent)" where one side lacks the key
  bool safe = false;
};
// The keys that differ between a run's config and the config of the session resuming it.
std::vector<ConfigChange> config_changes(const YAML::Node& run_config, const YAML::Node& new_config);
// Keys a resumed run may change (schedule, learning rates, cadence, logging, devices, data
// locations); everything else (architecture, data shapes, recipe, validation, seed) is refused.
bool resume_safe(const std::string& key);

// The best checkpoint's score, kept in checkpoints/best/best.yaml: only a better value of the same
// metric replaces best/. Returns NaN when the run has no best/ yet.
struct BestRecord {
  std::string metric;
  double value = std::numeric_limits<double>::quiet_NaN();
  int64_t step = -1;
};
BestRecord read_best(const std::filesystem::path& run_dir);
std::string best_yaml(const BestRecord& b);

// "key.path=value" overrides with later ones replacing earlier ones for the same key, in order.
std::vector<std::string> merge_overrides(const std::vector<std::string>& earlier, const std::vector<std::string>& later);

// "2026-12-01T18:10:51Z": the time in config histories and lock files.
std::string utc_timestamp();

// A shell command line that reruns `args` (quoted where needed).
std::string shell_command(const std::vector<std::string>& args);

// The weights file `arg` names: the file itself; in a checkpoint directory the first of
// `file_names` it holds; in a run directory, that file in checkpoints/best (or the newest
// step_NNNNNNNN when the run has no best yet). Errors (ConfigError) say what the directory holds.
std::string resolve_weights(const std::string& arg, const std::vector<std::string>& file_names);

}  // namespace tessera::recipes
