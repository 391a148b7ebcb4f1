// Shared helpers for the Catch2 tests: paths, temp folders, running the CLI.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace tessera::test {

std::filesystem::path source_dir();      // the repository root
std::filesystem::path binary_dir();      // the build folder (holds the tessera binary)
std::filesystem::path tessera_binary();
std::filesystem::path data_dir();        // datasets/skimage (scripts/fetch_datasets.sh)
// A fresh, empty folder under the build folder, unique to the calling test.
std::filesystem::path temp_dir(const std::string& name);

struct CliResult {
  int exit_code;
  std::string output;  // stdout and stderr together
};
// Runs build/tessera with `args` (shell-quoted here) from `cwd`.
CliResult run_cli(const std::vector<std::string>& args, const std::filesystem::path& cwd = {});
// Runs a bash script (stdout and stderr together).
CliResult run_bash(const std::string& script);
std::string shell_quote(const std::string& s);
// `tessera train configs/sr/sr_smoke.yaml --run-dir RUN` with absolute data paths, then `extra`.
std::vector<std::string> sr_smoke_args(const std::filesystem::path& run_dir, std::vector<std::string> extra = {});

}  // namespace tessera::test
