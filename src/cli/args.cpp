#include "args.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "tessera/archs/checkpoint.h"
#include "tessera/core/error.h"
#include "tessera/recipes/trainer.h"

namespace tessera::cli {

namespace fs = std::filesystem;

archs::NetPtr load_for_command(const std::string& arg, const std::vector<std::string>& file_names,
                               const std::vector<std::string>& tasks, const std::string& command) {
  return archs::load_net_checkpoint(recipes::resolve_weights(arg, file_names), tasks, command);
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
