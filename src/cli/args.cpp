#include "args.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "tessera/archs/checkpoint.h"
#include "tessera/core/error.h"
#include "tessera/recipes/trainer.h"

namespace tessera::cli {

namespace fs = std::filesystem;

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

archs::NetPtr load_for_command(const std::string& arg, const std::vector<std::string>& file_names,
                               const std::vector<std::string>& tasks, const std::string& command) {
  return archs::load_net_checkpoint(resolve_weights(arg, file_names), tasks, command);
}

CLI::Validator integer_in(int64_t lo, int64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& s) -> std::string {
        size_t pos = 0;
        long long v = 0;
        try {
          v = std::stoll(s, &pos);
        } catch (const std::exception&) {
          pos = 0;
        }
        if (pos == 0 || pos != s.size()) return "'" + s + "' is not an integer";
        if (v < lo) return s + " is below " + std::to_string(lo);
        if (v > hi) return s + " is above " + std::to_string(hi);
        return "";
      },
      "INT in [" + std::to_string(lo) + " - " + std::to_string(hi) + "]");
}

}  // namespace tessera::cli
