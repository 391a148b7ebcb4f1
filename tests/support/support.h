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

}  // namespace tessera::test
