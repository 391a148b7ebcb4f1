// `tessera profile`: where a recipe's training step spends its time, measured with LibTorch's
// profiler over a few steps of a config (after warm-up steps), as a table of operators by self
// time. No run directory is written.
#pragma once
#include <string>
#include <vector>

namespace tessera::recipes {

struct ProfileArgs {
  std::string config_file;
  std::vector<std::string> overrides;
  int64_t warmup = 3, steps = 10;
  int64_t top = 25;       // rows of the table
  std::string output;     // also write the table here (markdown), when set
};

// Returns the process exit code.
int profile(const ProfileArgs& args);

}  // namespace tessera::recipes
